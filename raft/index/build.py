"""`raft index`: stream documents, chunk, embed in batches, and write a FAISS index directory.

Layout of an index directory (the manifest is written last; the whole directory is built in a
staging directory beside the target and renamed into place, so a killed build leaves any previous
index untouched):

    chunks.jsonl      one Chunk per line, in FAISS row order
    documents.jsonl   one line per document: doc_id, content hash, first row, chunk ids
    index.faiss       normalised vectors, inner product (Flat, HNSW or IVF)
    bm25/             optional bm25s index over the same chunks (`--hybrid`)
    manifest.json     embedder, dimension, chunking, index type, counts, corpus fingerprint, versions

Memory stays bounded: documents stream in, chunks are embedded in groups, vectors spill to a
scratch file in the staging directory and are added to FAISS in batches.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from raft import artifacts
from raft.devices import device_problem
from raft.errors import RaftError
from raft.index.backends import BACKENDS, backend_of, manifest_backend
from raft.index.chunking import Chunk, Chunker, embedding_text, unchanged
from raft.index.corpus import Corpus, Document
from raft.index.embedders import (
    DEFAULT_EMBEDDER,
    Embedder,
    configured_max_tokens,
    load_embedder,
    probe_vector,
)

log = logging.getLogger(__name__)

KIND = "index"
BUILD_HINT = "raft index CORPUS -o INDEX_DIR"
CHUNKS_FILE, DOCS_FILE, FAISS_FILE, BM25_DIR = "chunks.jsonl", "documents.jsonl", "index.faiss", "bm25"
VECTORS_SCRATCH = "vectors.f32.tmp"
INDEX_TYPES = ("auto", "flat", "hnsw", "ivf")
# Exact search (IndexFlatIP) up to 100k chunks: about 30 ms per query on 2 CPU cores and no build
# cost. HNSW up to 1M chunks: millisecond queries, but a build of minutes. IVF above that: fast to
# build, queries probe a fraction of the lists.
FLAT_MAX_CHUNKS = 100_000
HNSW_MAX_CHUNKS = 1_000_000
ADD_BATCH = 16_384
CHUNKER_VERSION = 1
PREFIX_TOKENS = 24  # room for the title/heading prefix and special tokens an embedded chunk carries
UPLOADS_DIR = "uploads"  # documents uploaded into an index live in INDEX_DIR/uploads, never in the corpus


@dataclass(frozen=True)
class IndexConfig:
    """Settings of `raft index`. chunk_size 200 / overlap 40 suit MiniLM (max_seq_length 256): a chunk
    plus its title/heading prefix and special tokens fits without truncation."""

    corpus: Path
    out: Path
    embedder: str = DEFAULT_EMBEDDER
    backend: str = "auto"
    chunk_size: int = 200
    overlap: int = 40
    index_type: str = "auto"
    batch_size: int = 64
    device: str | None = None
    processes: int = 1
    hybrid: bool = False
    strict: bool = False
    update: bool = False
    overwrite: bool = False
    ray: str | None = None  # Ray address, or "local"; None indexes in this process


def validate(cfg: IndexConfig) -> None:
    """Check every setting before any model is loaded; report all problems in one RaftError."""
    problems = []
    if not Path(cfg.corpus).exists():
        problems.append(f"corpus {cfg.corpus} does not exist (pass a directory or a file)")
    if cfg.backend not in BACKENDS:
        problems.append(f"--backend {cfg.backend!r} is not one of {', '.join(BACKENDS)}")
    if cfg.index_type not in INDEX_TYPES:
        problems.append(f"--index-type {cfg.index_type!r} is not one of {', '.join(INDEX_TYPES)}")
    if cfg.batch_size < 1:
        problems.append(f"--batch-size {cfg.batch_size} must be at least 1")
    if cfg.processes < 1:
        problems.append(f"--processes {cfg.processes} must be at least 1")
    if cfg.chunk_size < 16:
        problems.append(f"--chunk-size {cfg.chunk_size} is too small; use at least 16 tokens")
    elif problem := chunk_size_problem(cfg.chunk_size, configured_max_tokens(cfg.embedder)):
        problems.append(problem)
    if problem := device_problem(cfg.device, several=True):
        problems.append(problem)
    if not 0 <= cfg.overlap < cfg.chunk_size // 2:
        problems.append(f"--overlap {cfg.overlap} must be >= 0 and less than half of --chunk-size")
    if cfg.ray and cfg.processes > 1:
        problems.append("--ray and --processes exclude each other; Ray runs one embedder per CPU or GPU")
    if cfg.update and cfg.overwrite:
        problems.append("--update and --overwrite exclude each other; pass one")
    if problems:
        raise RaftError("; ".join(problems))
    artifacts.check_output_dir(Path(cfg.out), cfg.overwrite or cfg.update, "index")


def chunk_size_problem(chunk_size: int, max_tokens: int | None) -> str | None:
    """A chunk longer than the embedder reads would be cut silently: an error; a tight fit: a warning."""
    if not max_tokens:
        return None
    if chunk_size > max_tokens:
        return (f"--chunk-size {chunk_size} is more than the embedder reads ({max_tokens} tokens); "
                f"use at most {max_tokens - PREFIX_TOKENS}")
    if chunk_size > max_tokens - PREFIX_TOKENS:
        log.warning("--chunk-size %d leaves under %d of the embedder's %d tokens for the title and heading; "
                    "the ends of long chunks get cut", chunk_size, PREFIX_TOKENS, max_tokens)
    return None


def choose_index_type(n_chunks: int, requested: str = "auto") -> str:
    """The FAISS index kind for a corpus size (see FLAT_MAX_CHUNKS / HNSW_MAX_CHUNKS)."""
    if requested != "auto":
        return requested
    if n_chunks <= FLAT_MAX_CHUNKS:
        return "flat"
    return "hnsw" if n_chunks <= HNSW_MAX_CHUNKS else "ivf"


def build_index(cfg: IndexConfig, embedder: Embedder | None = None) -> dict[str, Any]:
    """Build (or with `cfg.update`, refresh) the index directory `cfg.out`; returns its manifest."""
    validate(cfg)
    artifacts.recover_swap(cfg.out)  # a build killed mid-swap or mid-way: restore / clean up first
    if cfg.ray:
        from raft.index.ray_build import require_ray

        require_ray()
    previous = _previous_index(cfg)
    corpus = Corpus(cfg.corpus, strict=cfg.strict)
    embedder = embedder or load_embedder(cfg.embedder, cfg.device, cfg.processes, cfg.backend)
    if configured_max_tokens(cfg.embedder) is None and (  # a hub embedder: its limit is known only now
        problem := chunk_size_problem(cfg.chunk_size, getattr(embedder, "max_seq_length", None))
    ):
        raise RaftError(problem)
    chunking = {"chunk_size": cfg.chunk_size, "overlap": cfg.overlap, "version": CHUNKER_VERSION}
    if previous and (
        previous.manifest.get("embedder") != embedder.name
        or previous.manifest.get("chunking") != chunking
        or manifest_backend(previous.manifest) != backend_of(embedder)
    ):
        log.info("embedder, backend or chunking changed since the last build: re-embedding everything")
        previous = None
    chunker = Chunker(embedder.token_spans, cfg.chunk_size, cfg.overlap)
    pool = getattr(embedder, "pool", contextlib.nullcontext)
    with artifacts.staging_dir(cfg.out, overwrite=cfg.overwrite or cfg.update) as tmp, pool():
        uploads = _keep_uploads(Path(cfg.out), tmp)
        with _Writer(tmp, embedder, cfg.batch_size) as writer:
            if cfg.ray:
                _index_documents_ray(cfg, corpus, writer, previous)
            else:
                _index_documents(corpus, chunker, writer, previous)
            for doc in uploads:
                chunks = chunker.split(doc)
                writer.add(doc, chunks, previous.vectors_for(doc, chunks) if previous else None)
        if writer.rows == 0:
            raise RaftError(_empty_message(cfg.corpus, corpus))
        index_info = _write_faiss(
            tmp, writer.rows, embedder.dim, choose_index_type(writer.rows, cfg.index_type)
        )
        if cfg.hybrid:
            _write_bm25(tmp)
        manifest = artifacts.write_manifest(
            tmp,
            KIND,
            {
                "embedder": embedder.name,
                **backend_of(embedder).manifest_fields(),
                "engine": "ray" if cfg.ray else "local",
                "embedding_dim": embedder.dim,
                "normalized": True,
                "metric": "inner_product",
                "embedder_probe": probe_vector(embedder),
                "chunking": chunking,
                **index_info,
                "hybrid": cfg.hybrid,
                "corpus": str(Path(cfg.corpus).resolve()),
                "corpus_fingerprint": writer.fingerprint.hexdigest()[:16],
                "counts": {
                    "documents": writer.documents,
                    "chunks": writer.rows,
                    "skipped": len(corpus.skipped),
                    "embedded": writer.embedded,
                    "reused": writer.reused,
                },
                "skipped": [{"path": s.path, "reason": s.reason} for s in corpus.skipped[:200]],
                "versions": _versions(),
            },
        )
    _log_summary(manifest, corpus)
    return manifest


def _keep_uploads(out: Path, tmp: Path) -> list[Document]:
    """Carry INDEX_DIR/uploads into the new build; its documents get ids and sources under `uploads/`."""
    import dataclasses
    import shutil

    src = out / UPLOADS_DIR
    if not src.is_dir():
        return []
    shutil.copytree(src, tmp / UPLOADS_DIR)
    docs = [
        dataclasses.replace(d, doc_id=f"{UPLOADS_DIR}/{d.doc_id}", source=f"{UPLOADS_DIR}/{d.source}")
        for d in Corpus(tmp / UPLOADS_DIR).documents()
    ]
    log.info("keeping %d uploaded document(s) from %s", len(docs), src)
    return docs


def _index_documents(corpus: Corpus, chunker: Chunker, writer: _Writer, previous: _Previous | None) -> None:
    from tqdm.auto import tqdm

    files = corpus.files()
    with tqdm(total=len(files), unit="file", desc="indexing", disable=None) as bar:
        for doc in corpus.documents(progress=bar.update):
            chunks = chunker.split(doc)
            vectors = previous.vectors_for(doc, chunks) if previous else None
            writer.add(doc, chunks, vectors)
            bar.set_postfix(chunks=writer.rows + writer.pending_rows, refresh=False)


def _index_documents_ray(cfg: IndexConfig, corpus: Corpus, writer: _Writer, previous: _Previous | None) -> None:
    from raft.index.ray_build import RayJob, ray_documents

    job = RayJob(
        os.path.abspath(cfg.corpus), cfg.embedder, backend_of(writer.embedder).name, cfg.device,
        cfg.chunk_size, cfg.overlap, cfg.batch_size, cfg.strict,
    )
    docs = ray_documents(corpus, job, previous.docs if previous else {}, writer.embedder.dim, cfg.ray or "")
    for doc, chunks, vectors in docs:
        if vectors is None and previous:
            writer.add(doc, chunks, previous.vectors_for(doc, chunks))
        else:
            writer.add(doc, chunks, vectors, fresh=True)


@dataclass
class _Writer:
    """Appends chunks, document records and vectors in row order; embeds new chunks in groups."""

    tmp: Path
    embedder: Embedder
    batch_size: int
    rows: int = 0
    documents: int = 0
    embedded: int = 0
    reused: int = 0
    fingerprint: Any = field(default_factory=hashlib.sha256)
    _pending: list[tuple[Chunk, np.ndarray | None]] = field(default_factory=list)
    _todo: int = 0
    _fresh: int = 0
    _files: list[IO] = field(default_factory=list)

    def __enter__(self) -> _Writer:
        self._chunks = (self.tmp / CHUNKS_FILE).open("w", encoding="utf-8")
        self._docs = (self.tmp / DOCS_FILE).open("w", encoding="utf-8")
        self._vectors = (self.tmp / VECTORS_SCRATCH).open("wb")
        self._files = [self._chunks, self._docs, self._vectors]
        return self

    def __exit__(self, exc_type, *_: object) -> None:
        if exc_type is None:
            self.flush()
        for fh in self._files:
            fh.close()

    @property
    def pending_rows(self) -> int:
        return len(self._pending)

    def add(self, doc: Document, chunks: list[Chunk], vectors: np.ndarray | None, fresh: bool = False) -> None:
        """Queue a document's chunks; `vectors` None: embed them here; `fresh`: they were just embedded elsewhere."""
        record = {
            "doc_id": doc.doc_id,
            "hash": doc.content_hash,
            "source": doc.source,
            "first_row": self.rows + len(self._pending),
            "chunk_ids": [c.chunk_id for c in chunks],
        }
        self._docs.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.fingerprint.update(f"{doc.doc_id}\x00{doc.content_hash}\n".encode())
        self.documents += 1
        for i, chunk in enumerate(chunks):
            self._pending.append((chunk, None if vectors is None else vectors[i]))
        self._todo += len(chunks) if vectors is None else 0
        self._fresh += len(chunks) if vectors is not None and fresh else 0
        if self._todo >= self.batch_size * 16 or len(self._pending) >= 65_536:
            self.flush()

    def flush(self) -> None:
        """Embed the pending new chunks in one call, then write everything pending in order."""
        todo = [i for i, (_, v) in enumerate(self._pending) if v is None]
        if todo:
            fresh = self.embedder.encode([embedding_text(self._pending[i][0]) for i in todo], self.batch_size)
            for i, vec in zip(todo, fresh, strict=True):
                self._pending[i] = (self._pending[i][0], vec)
        self.embedded += len(todo) + self._fresh
        self.reused += len(self._pending) - len(todo) - self._fresh
        for chunk, vec in self._pending:
            self._chunks.write(json.dumps(chunk.to_dict(), ensure_ascii=False) + "\n")
            self._vectors.write(np.asarray(vec, dtype=np.float32).tobytes())
        self.rows += len(self._pending)
        self._pending, self._todo, self._fresh = [], 0, 0


class _Previous:
    """The index being updated: which documents it holds, and their vectors."""

    def __init__(self, directory: Path, manifest: dict[str, Any]) -> None:
        import faiss

        self.manifest = manifest
        self.docs: dict[str, dict] = {}
        with (directory / DOCS_FILE).open(encoding="utf-8") as fh:
            for line in fh:
                rec = json.loads(line)
                self.docs[rec["doc_id"]] = rec
        self.index = faiss.read_index(str(directory / FAISS_FILE))
        if manifest.get("index_type") == "ivf":
            faiss.extract_index_ivf(self.index).make_direct_map()

    def vectors_for(self, doc: Document, chunks: list[Chunk]) -> np.ndarray | None:
        """The stored vectors of an unchanged document (same hash, same chunk ids), else None."""
        rec = self.docs.get(doc.doc_id)
        if not unchanged(rec, doc, chunks):
            return None
        if not chunks:
            return np.zeros((0, self.index.d), dtype=np.float32)
        return self.index.reconstruct_n(rec["first_row"], len(chunks))


def _previous_index(cfg: IndexConfig) -> _Previous | None:
    if not cfg.update:
        return None
    out = Path(cfg.out)
    if not out.exists():
        log.info("%s does not exist yet: building it from scratch", out)
        return None
    manifest = artifacts.read_manifest(out, KIND, BUILD_HINT)
    return _Previous(out, manifest)


def _write_faiss(tmp: Path, n: int, dim: int, kind: str) -> dict[str, Any]:
    """Build the FAISS index from the scratch vectors with batched adds; returns its manifest fields."""
    import faiss

    scratch = tmp / VECTORS_SCRATCH
    vectors = np.memmap(scratch, dtype=np.float32, mode="r", shape=(n, dim))
    params: dict[str, Any] = {}
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        params = {"M": 32, "efConstruction": 80, "efSearch": 64}
    else:
        nlist = max(1, min(int(4 * n**0.5), n // 39))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(0)
        sample = np.sort(rng.choice(n, size=min(n, nlist * 256), replace=False))
        index.train(np.ascontiguousarray(vectors[sample]))
        params = {"nlist": nlist, "nprobe": min(nlist, max(16, nlist // 64))}
    for start in range(0, n, ADD_BATCH):
        index.add(np.ascontiguousarray(vectors[start : start + ADD_BATCH]))
    del vectors
    faiss.write_index(index, str(tmp / FAISS_FILE))
    scratch.unlink()
    return {"index_type": kind, "index_params": params}


def _write_bm25(tmp: Path) -> None:
    """A bm25s index over the same text that was embedded (title, heading path, chunk text)."""
    import bm25s

    with (tmp / CHUNKS_FILE).open(encoding="utf-8") as fh:
        texts = [embedding_text(Chunk(**json.loads(line))) for line in fh]
    tokens = bm25s.tokenize(texts, stopwords="en", show_progress=False)
    bm25 = bm25s.BM25()
    bm25.index(tokens, show_progress=False)
    bm25.save(str(tmp / BM25_DIR), show_progress=False)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for pkg in ("sentence-transformers", "transformers", "torch", "faiss-cpu", "bm25s"):
        with contextlib.suppress(PackageNotFoundError):
            found[pkg] = version(pkg)
    return found


def _empty_message(path: Path, corpus: Corpus) -> str:
    reasons = "; ".join(f"{s.path}: {s.reason}" for s in corpus.skipped[:3])
    more = f" ({len(corpus.skipped)} skipped, e.g. {reasons})" if corpus.skipped else ""
    return (
        f"no documents with text found in {path}{more}; "
        "point raft index at .md, .txt, .html, .pdf, .jsonl or .csv files"
    )


def _log_summary(manifest: dict[str, Any], corpus: Corpus) -> None:
    counts = manifest["counts"]
    log.info(
        "indexed %d documents into %d chunks (%d embedded, %d reused), %s index",
        counts["documents"],
        counts["chunks"],
        counts["embedded"],
        counts["reused"],
        manifest["index_type"],
    )
    if corpus.skipped:
        log.warning("skipped %d file(s):", len(corpus.skipped))
        for s in corpus.skipped[:20]:
            log.warning("  %s: %s", s.path, s.reason)
        if len(corpus.skipped) > 20:
            log.warning("  ... and %d more (listed in manifest.json)", len(corpus.skipped) - 20)
