"""Fast CPU embedding backends: a sentence-transformers model exported once to ONNX, run with onnxruntime or
OpenVINO, optionally int8-quantized (onnxruntime's dynamic quantization).

`--backend` names a runtime and a precision: torch, onnx, onnx-int8, openvino, openvino-int8. The export
(BERT-style encoder + mean pooling + L2 normalisation, torch's ONNX exporter with dynamo=False) and the
quantized copy are cached under $RAFT_CACHE_DIR (default ~/.cache/raft)/embedders/, one directory per
model weights, written to a staging directory and renamed into place. Tokenization uses the model's own
tokenizer.json through `tokenizers`, so the query path never imports torch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raft.errors import RaftError

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

RUNTIMES = ("torch", "onnx", "openvino")
BACKENDS = ("auto", "torch", "onnx", "onnx-int8", "openvino", "openvino-int8")
QUERY_BACKENDS = tuple(b for b in BACKENDS if b != "auto")  # a query embedder names its backend or takes the index's
# The default of `auto` for the bundled MiniLM on a CPU: fp32 ONNX gives torch's vectors (recall unchanged)
# faster (tests/benchmarks/RESULTS.md, "Embedding backends"). onnx-int8 is faster still, but dynamic
# quantization scales activations per batch, so a text's vector depends on its batch neighbours.
DEFAULT_BACKEND = "onnx"
CACHE_ENV = "RAFT_CACHE_DIR"
EXPORT_VERSION = 1
# The Python modules each runtime needs (the export and int8 quantization use onnx and onnxruntime).
RUNTIME_MODULES = {"onnx": ("onnxruntime", "onnx"), "openvino": ("openvino", "onnxruntime", "onnx")}
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


@dataclass(frozen=True)
class Backend:
    """A runtime (torch, onnx, openvino) and a weight precision (none or int8)."""

    runtime: str = "torch"
    quantization: str = "none"

    @property
    def name(self) -> str:
        return self.runtime if self.quantization == "none" else f"{self.runtime}-{self.quantization}"

    def manifest_fields(self) -> dict[str, str]:
        return {"backend": self.runtime, "quantization": self.quantization}


def parse_backend(name: str | None, bundled: bool = True) -> Backend:
    """`--backend` as a Backend; auto (or None) is the measured default for the bundled MiniLM, else torch."""
    name = name or "auto"
    if name not in BACKENDS:
        raise RaftError(f"--backend {name!r} is not one of {', '.join(BACKENDS)}")
    if name == "auto":
        return parse_backend(DEFAULT_BACKEND if bundled else "torch")
    runtime, _, quant = name.partition("-")
    if quant and runtime == "torch":
        raise RaftError("--backend torch has no int8 variant; use onnx-int8 or openvino-int8")
    return Backend(runtime, quant or "none")


def manifest_backend(manifest: dict[str, Any]) -> Backend:
    """The backend an index was built with (indexes from before backends existed: torch)."""
    return Backend(manifest.get("backend", "torch"), manifest.get("quantization", "none"))


def backend_of(embedder: Any) -> Backend:
    """The backend of a loaded embedder (objects without one, such as test fakes, count as torch)."""
    return getattr(embedder, "backend", None) or Backend()


def require_runtime(runtime: str) -> None:
    """One-line error naming the install extra when a backend's packages are missing."""
    for module in RUNTIME_MODULES.get(runtime, ()):
        try:
            __import__(module)
        except ImportError:
            raise RaftError(
                f"--backend {runtime} needs {', '.join(RUNTIME_MODULES[runtime])} ({module} is missing); "
                f"install them with `pip install 'raft-builder[{runtime}]'` or pass --backend torch"
            ) from None


def cache_root() -> Path:
    """Where exported models are kept: $RAFT_CACHE_DIR/embedders, default ~/.cache/raft/embedders."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "raft").expanduser() / "embedders"


def model_fingerprint(model_dir: Path) -> str:
    """A hash of the files that determine the embeddings (config, tokenizer, weights, pooling)."""
    digest = hashlib.sha256(f"export-v{EXPORT_VERSION}".encode())
    names = ["config.json", "tokenizer.json", "sentence_bert_config.json", "modules.json", *_WEIGHT_FILES]
    for name in names:
        path = model_dir / name
        if path.is_file():
            digest.update(name.encode())
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 22), b""):
                    digest.update(block)
    return digest.hexdigest()[:16]


def check_exportable(model_dir: Path) -> int:
    """The model's max_seq_length, after checking it is a Transformer + mean Pooling [+ Normalize] model."""
    modules_file = model_dir / "modules.json"
    if not (model_dir / "tokenizer.json").is_file() or not modules_file.is_file():
        raise RaftError(
            f"{model_dir} is not a sentence-transformers directory with a tokenizer.json; use --backend torch"
        )
    modules = json.loads(modules_file.read_text(encoding="utf-8"))
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    pooling = next((m for m in modules if m["type"].endswith("Pooling")), None)
    mean = False
    if pooling:
        cfg = json.loads((model_dir / pooling["path"] / "config.json").read_text(encoding="utf-8"))
        mean = bool(cfg.get("pooling_mode_mean_tokens")) and not any(
            v for k, v in cfg.items() if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens"
        )
    if kinds[:2] != ["Transformer", "Pooling"] or set(kinds[2:]) - {"Normalize"} or not mean:
        raise RaftError(
            f"--backend onnx/openvino supports Transformer + mean-pooling models; {model_dir} has "
            f"{' + '.join(kinds)}; use --backend torch"
        )
    st_cfg = model_dir / "sentence_bert_config.json"
    settings = json.loads(st_cfg.read_text(encoding="utf-8")) if st_cfg.is_file() else {}
    return int(settings.get("max_seq_length") or 512)


def export_onnx(model_dir: Path, target: Path) -> None:
    """Export encoder + mean pooling + L2 normalisation to `target` (torch's exporter, dynamo=False)."""
    import torch
    from transformers import AutoModel

    class Pooled(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=-1)

    model = AutoModel.from_pretrained(str(model_dir)).eval()
    ids = torch.ones((2, 8), dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "seq"} for n in names} | {"embedding": {0: "batch"}}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about Python control flow in the model code
        torch.onnx.export(
            Pooled(model), (ids, ids, torch.zeros_like(ids)), str(target), input_names=names,
            output_names=["embedding"], dynamic_axes=axes, opset_version=17, dynamo=False,
        )


def exported_model(model_dir: Path, quantization: str) -> Path:
    """The cached ONNX file of `model_dir` (exported, and quantized for int8, on first use)."""
    cache = cache_root() / f"{model_dir.name}-{model_fingerprint(model_dir)}"
    onnx_file = cache / ("model-int8.onnx" if quantization == "int8" else "model.onnx")
    if onnx_file.is_file():
        return onnx_file
    require_runtime("onnx")
    cache.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{cache.name}.", dir=cache.parent))
    try:
        fp32 = cache / "model.onnx"
        if fp32.is_file():
            shutil.copy2(fp32, staging / "model.onnx")
        else:
            log.info("exporting %s to ONNX (once, cached in %s)", model_dir, cache)
            export_onnx(model_dir, staging / "model.onnx")
        if quantization == "int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            log.info("quantizing the ONNX export to int8 (once)")
            logging.disable(logging.WARNING)  # onnxruntime's advice to pre-process goes to the root logger
            try:
                quantize_dynamic(
                    staging / "model.onnx", staging / "model-int8.onnx", weight_type=QuantType.QInt8, per_channel=True
                )
            finally:
                logging.disable(logging.NOTSET)
        (staging / "source.json").write_text(json.dumps({"model": str(model_dir)}) + "\n", encoding="utf-8")
        _publish(staging, cache)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return onnx_file


def _publish(staging: Path, cache: Path) -> None:
    """Move staged files into `cache` with atomic renames (a concurrent export of the same files is harmless)."""
    cache.mkdir(exist_ok=True)
    for path in staging.iterdir():
        os.replace(path, cache / path.name)


class OnnxEmbedder:
    """An exported sentence-transformers model run with onnxruntime or OpenVINO; same interface as torch's."""

    def __init__(self, name: str, model_dir: Path, backend: Backend, threads: int | None = None) -> None:
        from tokenizers import Tokenizer

        require_runtime(backend.runtime)
        self.name = name
        self.backend = backend
        self.max_seq_length = check_exportable(model_dir)
        onnx_file = exported_model(model_dir, backend.quantization)
        self._spans = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._spans.no_truncation()
        self._spans.no_padding()
        self._tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tok.enable_truncation(self.max_seq_length)
        self._tok.no_padding()
        self._run = _onnxruntime(onnx_file, threads) if backend.runtime == "onnx" else _openvino(onnx_file, threads)
        self.dim = 0
        self.dim = int(self.encode(["probe"]).shape[1])

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Character spans of the tokens of `text` (no special tokens, no truncation)."""
        enc = self._spans.encode(text, add_special_tokens=False)
        return [(int(s), int(e)) for s, e in enc.offsets if e > s]

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Normalised float32 vectors; texts are batched by length (like sentence-transformers) to cut padding."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encodings = self._tok.encode_batch(list(texts))
        order = sorted(range(len(encodings)), key=lambda i: -len(encodings[i].ids))
        parts = []
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            feed = {n: np.zeros((len(rows), width), dtype=np.int64) for n in _INPUTS}
            for r, i in enumerate(rows):
                e = encodings[i]
                feed["input_ids"][r, : len(e.ids)] = e.ids
                feed["attention_mask"][r, : len(e.ids)] = e.attention_mask
                feed["token_type_ids"][r, : len(e.ids)] = e.type_ids
            parts.append(self._run(feed))
        out = np.empty((len(encodings), parts[0].shape[1]), dtype=np.float32)
        out[order] = np.concatenate(parts)
        return out


_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _onnxruntime(onnx_file: Path, threads: int | None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
    return lambda feed: session.run(None, feed)[0]


def _openvino(onnx_file: Path, threads: int | None) -> Any:
    import numpy as np
    import openvino as ov

    core = ov.Core()
    config = {"INFERENCE_NUM_THREADS": threads} if threads else {}
    compiled = core.compile_model(core.read_model(str(onnx_file)), "CPU", config)
    request = compiled.create_infer_request()
    return lambda feed: np.asarray(request.infer(feed)[0], dtype=np.float32).copy()
