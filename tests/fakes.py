"""Test doubles shared by the test modules (a fake stands in only inside unit tests).

- `FakeRetriever`: the `Retriever` interface over an explicit chunk list, hashed bag-of-words vectors,
  exact search; `toy_corpus` builds one over device guides with gold questions.
- `OverlapRetriever` and `FakeGenerator`: the chat engine's collaborators (word-overlap search over
  `ENGINE_DOCS`; a generator streaming a scripted answer in 3-character pieces).
- `FixedOrderRetriever`, `EchoGenerator`, `echo_loader`, `write_code_questions`: an evaluation whose
  every figure is known in advance (ten one-chunk documents, doc d1 never retrieved).
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from raft import prompts
from raft.index.chunking import Chunk
from raft.index.retriever import Hit
from raft.serve.decoding import Completion

# ---- a retriever over explicit chunks --------------------------------------------------------------

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


# ---- the chat engine's collaborators ---------------------------------------------------------


ENGINE_DOCS = [
    (
        "vpn/reset",
        "Reset the VPN",
        "To reset the VPN client, open Settings and choose Reset network.\nIt takes a minute.",
    ),
    ("mail/quota", "Mailbox quota", "Each mailbox holds 50 GB. Archive old mail to free space."),
    ("print/setup", "Printer setup", "Printers are added from the Devices page."),
]


class OverlapRetriever:
    """Ranks ENGINE_DOCS by words shared with the query; records every query it was asked."""

    def __init__(self):
        self.queries = []

    def search(self, query, k=5, hybrid=None):
        self.queries.append(query)
        words = set(query.lower().split())
        ranked = sorted(ENGINE_DOCS, key=lambda d: -len(words & set(d[2].lower().split())))
        return [
            Hit(f"{d}#0", d, t, "", f"{d}.md", text, 1.0 / (i + 1), i + 1)
            for i, (d, t, text) in enumerate(ranked[:k])
        ]


class FakeGenerator:
    """Streams a scripted answer in 3-character pieces, so markers arrive split across deltas."""

    def __init__(self, script):
        self.script = script
        self.name = "fake"
        self.seen = []

    def stream(self, messages, cfg):
        self.seen.append(messages)
        text = self.script(messages)
        for i in range(0, len(text), 3):
            yield text[i : i + 3]

    def count_tokens(self, text):
        return len(text.split())


# ---- an evaluation with known figures --------------------------------------------------------


@dataclass(frozen=True)
class FakeChunk:
    chunk_id: str
    doc_id: str
    title: str
    text: str
    score: float = 1.0


class FixedOrderRetriever:
    """Ten documents of one chunk each; search returns a fixed order that misses doc d1."""

    manifest = {"corpus_fingerprint": "fake"}
    search_chunks: list | None = None

    def __init__(self) -> None:
        self.chunks = [
            FakeChunk(f"d{i}#0", f"d{i}", f"Doc {i}", f"Fact {i}: the code is c{i}.") for i in range(10)
        ]

    def doc_chunks(self, doc_id):
        return [c for c in self.chunks if c.doc_id == doc_id]

    def search_batch(self, queries, k=5, hybrid=None):
        out = []
        for q in queries:
            i = int(q.split()[-1].rstrip("?"))
            first = [] if i == 1 else [self.chunks[i]]
            rest = [c for c in self.chunks if c.chunk_id != f"d{i}#0" and c.doc_id != "d1"]
            out.append((first + rest)[:k])
        return out


class EchoGenerator:
    """Answers with the code when its document is in the prompt, else abstains (deterministic)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def _answer(self, messages):
        user = messages[-1]["content"]
        i = user.split()[-1].rstrip("?")
        fact = f"Fact {i}: the code is c{i}."
        if fact in user:
            return f"{prompts.format_quote(fact)} <ANSWER>: c{i}"
        return f"<ANSWER>: {prompts.ABSTAIN_ANSWER}"

    def generate(self, conversations, cfg, batch_size=8):
        return [Completion(self._answer(m), 10, 3, 0.01) for m in conversations]

    def stream(self, messages, cfg):
        yield from self._answer(messages).split(" ")

    def count_tokens(self, text):
        return len(text.split())

    def close(self):
        pass


def echo_loader(spec, adapter=None, device=None, force_prompt=False, name=None):
    return EchoGenerator(name)


def write_code_questions(path: Path, n: int = 6) -> Path:
    rows = [
        {"id": f"q{i}", "question": f"What is the code of item {i}?", "answer": f"c{i}", "doc_id": f"d{i}",
         "split": "test" if i < n else "train"}
        for i in range(n + 2)
    ]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
