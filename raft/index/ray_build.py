"""`raft index --ray [ADDRESS]`: read, chunk and embed the corpus with Ray Data.

The corpus files go into a Ray dataset in path order; `map_batches` hands groups of files to a pool of
embedder actors (one per CPU of the cluster, or one per GPU with a cuda --device), each of which reads
its files with the project's own loaders, chunks them with its embedder's tokenizer and embeds the new
chunks. The driver takes the results back in file order (Ray Data's preserve_order) and writes the
same index directory as a single-process build. Every node must see the corpus at the same path (a
shared filesystem) and have raft-builder installed.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from raft.errors import RaftError
from raft.index.chunking import Chunk, Chunker, embedding_text, unchanged
from raft.index.corpus import Corpus, Document, Skipped

log = logging.getLogger(__name__)

LOCAL = "local"  # `--ray` without an address: start (or join, with RAY_ADDRESS) a Ray on this machine
FILES_PER_CALL = 8


@dataclass(frozen=True)
class RayJob:
    """What every embedder actor needs to read, chunk and embed files exactly as a local build does."""

    root: str
    embedder: str
    backend: str
    device: str | None
    chunk_size: int
    overlap: int
    batch_size: int
    strict: bool


def require_ray() -> None:
    """One-line error naming the install extra when Ray Data is missing."""
    try:
        import ray.data  # noqa: F401
    except ImportError:
        raise RaftError(
            "--ray needs Ray Data; install it with `pip install 'raft-builder[ray]'` (ray[data]) "
            "or index without --ray"
        ) from None


class ChunkEmbedder:
    """A Ray actor: loads the embedder once, then turns batches of file paths into chunks and vectors."""

    def __init__(self, job: RayJob, previous: dict[str, dict]) -> None:
        from raft.index.embedders import load_embedder

        self.job = RayJob(**job) if isinstance(job, dict) else job
        self.previous = previous
        self.embedder = load_embedder(self.job.embedder, self.job.device, backend=self.job.backend, threads=1)
        self.chunker = Chunker(self.embedder.token_spans, self.job.chunk_size, self.job.overlap)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        out: dict[str, list] = {"pos": [], "docs": [], "vectors": [], "skipped": [], "error": []}
        texts: list[str] = []
        per_file = []
        for pos, path in zip(batch["pos"], batch["path"], strict=True):
            docs, error, corpus = [], "", None
            try:
                corpus = Corpus(Path(self.job.root), strict=self.job.strict)
                for doc in corpus.load_file(Path(path)):
                    chunks = self.chunker.split(doc)
                    fresh = not unchanged(self.previous.get(doc.doc_id), doc, chunks)
                    if fresh:
                        texts += [embedding_text(c) for c in chunks]
                    docs.append({"doc": asdict(doc), "chunks": [c.to_dict() for c in chunks], "fresh": fresh})
            except RaftError as exc:
                error = str(exc)
            per_file.append((int(pos), docs, corpus.skipped if corpus else [], error))
        vectors = self.embedder.encode(texts, self.job.batch_size) if texts else None
        row = 0
        for pos, docs, skipped, error in per_file:
            n = sum(len(d["chunks"]) for d in docs if d["fresh"])
            block = vectors[row : row + n] if n else np.zeros((0, 0), dtype=np.float32)
            row += n
            out["pos"].append(pos)
            out["docs"].append(json.dumps(docs, ensure_ascii=False))
            out["vectors"].append(np.ascontiguousarray(block, dtype=np.float32).tobytes())
            out["skipped"].append(json.dumps([asdict(s) for s in skipped]))
            out["error"].append(error)
        return out


def ray_documents(
    corpus: Corpus, job: RayJob, previous: dict[str, dict], dim: int, address: str = LOCAL
) -> Iterator[tuple[Document, list[Chunk], np.ndarray | None]]:
    """Each document of `corpus` in order with its chunks and vectors (None: unchanged since `previous`).

    Skipped files and duplicate ids are recorded in `corpus.skipped` as a local build records them.
    """
    import ray

    require_ray()
    started = _connect(address)
    try:
        yield from _run(ray, corpus, job, previous, dim)
    finally:
        if started:
            ray.shutdown()


def _connect(address: str) -> bool:
    """Join the Ray at `address` (or start a local one); True when this call started it."""
    import ray

    if ray.is_initialized():
        return False
    try:
        ray.init(
            address=None if address == LOCAL else address,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
    except (ConnectionError, ValueError, RuntimeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RaftError(f"cannot connect to Ray at {address} ({first}); check --ray ADDRESS") from None
    return True


def _run(
    ray: Any, corpus: Corpus, job: RayJob, previous: dict[str, dict], dim: int
) -> Iterator[tuple[Document, list[Chunk], np.ndarray | None]]:
    from tqdm.auto import tqdm

    files = corpus.files()
    corpus.skipped = []
    if not files:
        return
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    resources = ray.cluster_resources()
    on_gpu = bool(job.device) and str(job.device).startswith("cuda")
    workers = int(resources.get("GPU" if on_gpu else "CPU", 1)) or 1
    calls = -(-len(files) // FILES_PER_CALL)
    items = [{"pos": i, "path": os.path.abspath(p)} for i, p in enumerate(files)]
    ds = ray.data.from_items(items, override_num_blocks=calls).map_batches(
        ChunkEmbedder,
        fn_constructor_kwargs={"job": asdict(job), "previous": previous},
        batch_size=FILES_PER_CALL,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=max(1, min(workers, calls))),
        num_cpus=0 if on_gpu else 1,
        num_gpus=1 if on_gpu else 0,
    )
    log.info("indexing %d files on Ray with %d embedder actor(s)", len(files), max(1, min(workers, calls)))
    seen: dict[str, str] = {}
    with tqdm(total=len(files), unit="file", desc="indexing (ray)", disable=None) as bar:
        for row in _rows(ds):
            if row["error"]:
                raise RaftError(str(row["error"]))
            corpus.skipped += [Skipped(**s) for s in json.loads(row["skipped"])]
            vectors = np.frombuffer(row["vectors"], dtype=np.float32).reshape(-1, dim)
            start = 0
            for item in json.loads(row["docs"]):
                doc = Document(**item["doc"])
                chunks = [Chunk(**c) for c in item["chunks"]]
                block = None
                if item["fresh"]:
                    block, start = vectors[start : start + len(chunks)], start + len(chunks)
                if corpus.first_seen(doc, seen):
                    yield doc, chunks, block
            bar.update(1)


def _rows(ds: Any) -> Iterator[dict[str, Any]]:
    """The dataset's rows; an error raised inside an actor comes back as the RaftError it was."""
    try:
        yield from ds.iter_rows()
    except RaftError:
        raise
    except Exception as exc:  # Ray wraps actor errors in its own exception types
        cause = getattr(exc, "cause", None) or exc.__cause__
        if isinstance(cause, RaftError):
            raise RaftError(str(cause)) from None
        raise
