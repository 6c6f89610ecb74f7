"""Query an index directory built by `raft index`: dense (FAISS) or hybrid (dense + BM25, fused by RRF).

retriever = Retriever.load("indexes/helpdesk")
hits = retriever.search("How do I pair the remote?", k=5)
batches = retriever.search_batch(questions, k=5)      # one encode call for all questions
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from raft import artifacts
from raft.errors import RaftError
from raft.index.backends import Backend, manifest_backend, parse_backend
from raft.index.build import BM25_DIR, BUILD_HINT, CHUNKS_FILE, FAISS_FILE, KIND
from raft.index.chunking import Chunk
from raft.index.embedders import BUNDLED_ALIASES, Embedder, load_embedder, probe_vector

__all__ = ["Chunk", "Hit", "Retriever", "rrf_fuse"]

log = logging.getLogger(__name__)

RRF_K = 60
PROBE_TOLERANCE = 0.02


@dataclass(frozen=True)
class Hit:
    """A search result: a chunk with its score (cosine, or RRF score in hybrid mode) and 1-based rank."""

    chunk_id: str
    doc_id: str
    title: str
    heading: str
    source: str
    text: str
    score: float
    rank: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "score": round(self.score, 6),
            "chunk_id": self.chunk_id,
            "doc_id": self.doc_id,
            "title": self.title,
            "heading": self.heading,
            "source": self.source,
            "text": self.text,
        }


def _read_index_files(directory: Path) -> tuple[list[Chunk], Any]:
    """The chunks and the FAISS index of a finished index directory; a one-line error when one is
    missing, damaged or out of step with the other."""
    import faiss

    rebuild = f"rebuild it with `raft index CORPUS -o {directory} --overwrite`"
    try:
        with (directory / CHUNKS_FILE).open(encoding="utf-8") as fh:
            chunks = [Chunk(**json.loads(line)) for line in fh]
    except (OSError, ValueError, TypeError) as exc:
        reason = "is missing" if isinstance(exc, FileNotFoundError) else "is damaged"
        raise RaftError(f"{directory / CHUNKS_FILE} {reason}; {rebuild}") from None
    path = directory / FAISS_FILE
    if not path.is_file():
        raise RaftError(f"{path} is missing; {rebuild}")
    try:
        index = faiss.read_index(str(path))
    except RuntimeError:
        raise RaftError(f"{path} is damaged (faiss cannot read it); {rebuild}") from None
    if index.ntotal != len(chunks):
        raise RaftError(f"{directory} is inconsistent ({index.ntotal} vectors, {len(chunks)} chunks); {rebuild}")
    return chunks, index


def rrf_fuse(rankings: Sequence[Sequence[int]], k: int, rrf_k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: score(row) = sum over rankings of 1 / (rrf_k + rank); top k rows."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, row in enumerate(ranking, start=1):
            scores[row] = scores.get(row, 0.0) + 1.0 / (rrf_k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k]


class Retriever:
    """An index loaded for search, with its embedder loaded once."""

    def __init__(
        self,
        directory: Path,
        manifest: dict[str, Any],
        chunks: list[Chunk],
        index: Any,
        embedder: Embedder,
        bm25: Any = None,
    ) -> None:
        self.directory = directory
        self.manifest = manifest
        self.chunks = chunks
        self.index = index
        self.embedder = embedder
        self.bm25 = bm25
        self._by_id = {c.chunk_id: i for i, c in enumerate(chunks)}
        self._by_doc: dict[str, list[int]] = {}
        for i, c in enumerate(chunks):
            self._by_doc.setdefault(c.doc_id, []).append(i)

    @classmethod
    def load(
        cls,
        index_dir: str | Path,
        device: str | None = None,
        embedder: str | Embedder | None = None,
        backend: str | None = None,
    ) -> Retriever:
        """Open an index; refuses one built with another embedder or backend than `embedder` / `backend`
        (or than it records). Queries are embedded with the backend the index records by default."""
        directory = Path(index_dir)
        manifest = artifacts.read_manifest(directory, KIND, BUILD_HINT)
        built_with = manifest["embedder"]
        if isinstance(embedder, str) and not _same_embedder(embedder, built_with):
            raise RaftError(
                f"{directory} was built with embedder {built_with!r}, not {embedder!r}; "
                f"rebuild it with `raft index CORPUS -o {directory} --embedder {embedder} --overwrite`"
            )
        chunks, index = _read_index_files(directory)  # before the embedder loads: a damaged index fails fast
        recorded = manifest_backend(manifest)
        if backend not in (None, "auto"):
            _check_backend(directory, recorded, parse_backend(backend), backend)
        if recorded.runtime != "torch" and device and not device.startswith("cpu"):
            log.info("%s was built with backend %s: queries are embedded on the CPU", directory, recorded.name)
            device = None
        model = (
            embedder
            if embedder is not None and not isinstance(embedder, str)
            else load_embedder(built_with, device, backend=recorded)
        )
        _check_embedder(directory, manifest, model)
        params = manifest.get("index_params", {})
        if "efSearch" in params:
            index.hnsw.efSearch = params["efSearch"]
        if "nprobe" in params:
            index.nprobe = params["nprobe"]
        bm25 = None
        if manifest.get("hybrid"):
            import bm25s

            bm25 = bm25s.BM25.load(str(directory / BM25_DIR), show_progress=False)
        return cls(directory, manifest, chunks, index, model, bm25)

    def get(self, chunk_id: str) -> Chunk:
        """The chunk with this id (KeyError if the index has none)."""
        return self.chunks[self._by_id[chunk_id]]

    def doc_chunks(self, doc_id: str) -> list[Chunk]:
        """All chunks of one document in document order (empty if unknown)."""
        return [self.chunks[i] for i in self._by_doc.get(doc_id, [])]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised float32 vectors of `texts` with the index's embedder."""
        return self.embedder.encode(list(texts))

    def hit(self, chunk: Chunk, score: float, rank: int) -> Hit:
        return Hit(
            chunk.chunk_id,
            chunk.doc_id,
            chunk.title,
            chunk.heading,
            chunk.source,
            chunk.text,
            float(score),
            rank,
        )

    def search(self, query: str, k: int = 5, hybrid: bool | None = None) -> list[Hit]:
        """Top-k chunks for one query."""
        return self.search_batch([query], k=k, hybrid=hybrid)[0]

    def search_batch(self, queries: Sequence[str], k: int = 5, hybrid: bool | None = None) -> list[list[Hit]]:
        """Top-k chunks for each query; all queries are embedded in one call."""
        if k < 1:
            raise RaftError(f"-k {k} must be at least 1")
        use_bm25 = self._use_hybrid(hybrid)
        if not queries:
            return []
        k = min(k, len(self.chunks))
        depth = min(len(self.chunks), max(50, 5 * k)) if use_bm25 else k
        scores, rows = self.index.search(self.embed(queries), depth)
        if not use_bm25:
            return [
                [
                    self.hit(self.chunks[r], s, n)
                    for n, (s, r) in enumerate(zip(sc, rw, strict=True), 1)
                    if r >= 0
                ]
                for sc, rw in zip(scores, rows, strict=True)
            ]
        lexical = self._bm25_rows(queries, depth)
        return [
            [
                self.hit(self.chunks[r], s, n)
                for n, (r, s) in enumerate(rrf_fuse([[x for x in d if x >= 0], b], k), 1)
            ]
            for d, b in zip(rows.tolist(), lexical, strict=True)
        ]

    def _use_hybrid(self, hybrid: bool | None) -> bool:
        if hybrid and self.bm25 is None:
            raise RaftError(
                f"{self.directory} has no BM25 index; rebuild it with `raft index ... --hybrid` "
                "or search without --hybrid"
            )
        return self.bm25 is not None if hybrid is None else hybrid

    def _bm25_rows(self, queries: Sequence[str], depth: int) -> list[list[int]]:
        import bm25s

        tokens = bm25s.tokenize(list(queries), stopwords="en", return_ids=False, show_progress=False)
        out = []
        for toks in tokens:
            known = [t for t in toks if t in self.bm25.vocab_dict]
            if not known:
                out.append([])
                continue
            docs, scores = self.bm25.retrieve([known], k=depth, show_progress=False, n_threads=1)
            out.append([int(d) for d, s in zip(docs[0], scores[0], strict=True) if s > 0])
        return out


def _same_embedder(a: str, b: str) -> bool:
    return a == b or (a in BUNDLED_ALIASES and b in BUNDLED_ALIASES)


def _check_backend(directory: Path, recorded: Backend, asked: Backend, fix_name: str) -> None:
    if asked != recorded:
        raise RaftError(
            f"{directory} was built with backend {recorded.name}, not {fix_name}; pass --backend "
            f"{recorded.name} or rebuild it with `raft index CORPUS -o {directory} --backend {fix_name} --overwrite`"
        )


def _check_embedder(directory: Path, manifest: dict[str, Any], embedder: Embedder) -> None:
    """Refuse an embedder whose dimension or probe embedding differs from the one the index was built with."""
    fix = f"rebuild the index with `raft index CORPUS -o {directory} --embedder {embedder.name} --overwrite`"
    if embedder.dim != manifest.get("embedding_dim"):
        raise RaftError(
            f"{directory} holds {manifest.get('embedding_dim')}-d vectors from {manifest['embedder']!r} "
            f"but embedder {embedder.name!r} makes {embedder.dim}-d vectors; {fix}"
        )
    if not _same_embedder(embedder.name, manifest["embedder"]):
        raise RaftError(
            f"{directory} was built with embedder {manifest['embedder']!r}, not {embedder.name!r}; {fix}"
        )
    if getattr(embedder, "backend", None) is not None:  # an injected embedder without one (a fake) is not checked
        _check_backend(directory, manifest_backend(manifest), embedder.backend, embedder.backend.name)
    stored = manifest.get("embedder_probe")
    if stored and not np.allclose(probe_vector(embedder), stored, atol=PROBE_TOLERANCE):
        raise RaftError(
            f"embedder {embedder.name!r} no longer produces the vectors {directory} was built with "
            f"(its weights changed); {fix}"
        )
