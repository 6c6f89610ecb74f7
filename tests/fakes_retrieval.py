"""A small in-memory stand-in for `raft.index.retriever.Retriever` (hashed bag-of-words vectors, exact search)."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np

from raft.index.chunking import Chunk
from raft.index.retriever import Hit

DIM = 256


def _vector(text: str) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    for word in re.findall(r"\w+", text.lower()):
        v[zlib.crc32(word.encode()) % DIM] += 1.0
    n = np.linalg.norm(v)
    return v / n if n else v


class FakeRetriever:
    """Same methods and attributes as Retriever, over an explicit chunk list."""

    def __init__(self, chunks: Sequence[Chunk]) -> None:
        self.chunks = list(chunks)
        self.manifest = {"kind": "index", "embedder": "fake-bow", "corpus_fingerprint": str(len(chunks))}
        self._vectors = np.stack([_vector(c.text) for c in self.chunks])
        self._by_id = {c.chunk_id: c for c in self.chunks}
        self.searches = 0

    def get(self, chunk_id: str) -> Chunk:
        return self._by_id[chunk_id]

    def doc_chunks(self, doc_id: str) -> list[Chunk]:
        return [c for c in self.chunks if c.doc_id == doc_id]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([_vector(t) for t in texts]) if texts else np.zeros((0, DIM), np.float32)

    def hit(self, chunk: Chunk, score: float, rank: int) -> Hit:
        return Hit(
            chunk.chunk_id, chunk.doc_id, chunk.title, chunk.heading, chunk.source, chunk.text, score, rank
        )

    def search(self, query: str, k: int = 5, hybrid: bool | None = None) -> list[Hit]:
        return self.search_batch([query], k)[0]

    def search_batch(self, queries: Sequence[str], k: int = 5, hybrid: bool | None = None) -> list[list[Hit]]:
        self.searches += 1
        scores = self.embed(queries) @ self._vectors.T
        out = []
        for row in scores:
            order = np.argsort(-row, kind="stable")[:k]
            out.append([self.hit(self.chunks[i], float(row[i]), r + 1) for r, i in enumerate(order)])
        return out


COLOURS = ["red", "blue", "green", "amber", "violet", "silver", "black", "white"]
DEVICES = ["router", "printer", "scanner", "camera", "speaker", "monitor"]


def toy_corpus(n_docs: int = 12, chunks_per_doc: int = 4) -> tuple[FakeRetriever, list[dict]]:
    """Docs about devices: each chunk states one code; one chunk of doc 0 repeats doc 1's first code.

    Returns the retriever and gold questions (question, answer, doc_id, passage, chunk_id).
    """
    chunks, gold = [], []
    for d in range(n_docs):
        device = DEVICES[d % len(DEVICES)]
        for c in range(chunks_per_doc):
            code = f"ZX-{d}-{c}"
            colour = COLOURS[(d + c) % len(COLOURS)]
            sentence = f"The reset code for the {colour} {device} model {d}{c} is {code}."
            text = (
                f"Setting up the {device}. Connect the {colour} cable to the {device} port. {sentence} "
                f"Keep the {device} away from water and restart it after an update."
            )
            if d == 0 and c == chunks_per_doc - 1:
                text += " For comparison, the code ZX-1-0 belongs to another model."
            chunks.append(
                Chunk(
                    f"doc{d}#{c}",
                    f"guide/doc{d}",
                    f"{device.title()} guide {d}",
                    "",
                    f"doc{d}.md",
                    0,
                    len(text),
                    text,
                )
            )
            gold.append(
                {
                    "id": f"q{d}-{c}",
                    "question": f"What is the reset code for the {colour} {device} model {d}{c}?",
                    "answer": code,
                    "doc_id": f"guide/doc{d}",
                    "passage": sentence,
                    "chunk_id": f"doc{d}#{c}",
                }
            )
    return FakeRetriever(chunks), gold
