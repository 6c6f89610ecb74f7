"""Index stage: reads a folder of documents (or a loader's dataset), writes an index directory.

Chunks, sentence-transformers embeddings, a FAISS index, BM25 and a manifest written last.
Run by `raft index` (build) and `raft search` (query); uploads from the chat app add documents to a live index.
"""
