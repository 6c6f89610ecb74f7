"""Data stage: reads an index and a QA source (file, dataset or LLM teacher), writes a RAFT dataset.

Each row: question, oracle + distractor documents, a chain-of-thought answer quoting the oracle,
split by document into train / validation (test stays out). Run by `raft generate`.
"""
