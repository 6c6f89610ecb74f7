"""Settings of `raft train` (`TrainConfig`): defaults, YAML `--config` files, and their checks."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raft.errors import RaftError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
METHODS = ("sft", "dpo", "kto")


@dataclass(frozen=True)
class TrainConfig:
    """Every knob of a training run; YAML keys and CLI flags use these names (flags win)."""

    dataset: Path
    out: Path
    base_model: str
    full: bool = False
    qlora: bool = False
    lora_r: int = 16
    lora_layers: int | None = None  # LoRA on the last N decoder layers only (the backward pass stops there); None: all
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: str = "all-linear"  # or a comma-separated list of module names
    lr: float | None = None  # None: 2e-4 for (Q)LoRA, 2e-5 for full fine-tuning
    batch_size: int = 4
    grad_accum: int = 4
    epochs: float = 3.0
    max_steps: int = -1  # > 0 overrides epochs; <= 0 means train for `epochs` (transformers' convention)
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    lr_scheduler: str = "cosine"
    eval_steps: int = 50
    eval_rows: int | None = None  # the eval loss reads a seeded subset of this many validation rows; None: all
    save_steps: int | None = None  # None: same as eval_steps (required for keeping the best checkpoint)
    logging_steps: int = 10
    early_stopping_patience: int = 3  # evaluations without improvement; 0 disables
    max_length: int = 2048
    packing: bool | None = None  # None: on with CUDA (padding-free), off on CPU
    activation_checkpointing: bool | None = None  # None: on with CUDA, off on CPU
    precision: str = "auto"  # auto | fp32 | bf16 | fp16; auto: bf16 (fp16) on CUDA, bf16 on CPUs with bf16 instructions
    attn_implementation: str | None = None  # e.g. "flash_attention_2"; None: transformers' default
    seed: int = 0
    merge: bool = False
    overwrite: bool = False
    keep_checkpoints: bool = False
    trust_remote_code: bool = False  # run the base model's own modelling code from the hub (opt-in)
    sft_args: dict[str, Any] = field(default_factory=dict)  # passed through to trl.SFTConfig (or DPO/KTOConfig)
    method: str = "sft"  # sft | dpo (pairs built from the RAFT dataset) | kto (👍/👎 rows); see raft/train/preference.py
    beta: float = 0.1  # DPO/KTO: how far the tuned policy may move from the starting model

    def resolved_lr(self) -> float:
        if self.lr is not None:
            return self.lr
        if self.method != "sft":
            return 1e-6 if self.full else 5e-5
        return 2e-5 if self.full else 2e-4


def target_module_names(target_modules: str) -> list[str]:
    """The layer names of a comma-separated `--target-modules` (call only when it is not "all-linear")."""
    return [m.strip() for m in str(target_modules).split(",") if m.strip()]


def read_yaml_knobs(yaml_path: Path, allowed: set[str]) -> dict[str, Any]:
    """The knobs of a YAML config file (dashes or underscores), each checked against `allowed`."""
    import yaml

    path = Path(yaml_path)
    if not path.is_file():
        raise RaftError(f"config file {path} does not exist; pass --config FILE.yaml")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise RaftError(f"config file {path} is not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise RaftError(f"config file {path} must be a mapping of knob: value")
    data = {str(k).replace("-", "_"): v for k, v in data.items()}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise RaftError(f"unknown keys in {path}: {', '.join(unknown)}; valid keys: {', '.join(sorted(allowed))}")
    return data


def load_config(yaml_path: Path | None, **overrides: Any) -> TrainConfig:
    """TrainConfig from an optional YAML file plus overrides (None values are ignored; overrides win)."""
    values: dict[str, Any] = {}
    if yaml_path is not None:
        values.update(read_yaml_knobs(yaml_path, {f.name for f in dataclasses.fields(TrainConfig)}))
    values.update({k: v for k, v in overrides.items() if v is not None})
    missing = [k for k in ("dataset", "out", "base_model") if values.get(k) in (None, "")]
    if missing:
        raise RaftError(f"missing {', '.join(missing)}; give them as arguments/flags or in the --config file")
    values["dataset"], values["out"] = Path(values["dataset"]), Path(values["out"])
    cfg = TrainConfig(**values)
    _validate(cfg)
    return cfg


def _validate(cfg: TrainConfig) -> None:
    problems = []
    if cfg.full and cfg.qlora:
        problems.append("--full and --qlora exclude each other")
    if cfg.lora_layers is not None and cfg.lora_layers < 1:
        problems.append("--lora-layers must be >= 1 (leave it out to adapt every layer)")
    if cfg.precision not in PRECISIONS:
        problems.append(f"--precision must be one of {', '.join(PRECISIONS)}")
    for name in ("batch_size", "grad_accum", "eval_steps", "logging_steps", "max_length", "lora_r"):
        if getattr(cfg, name) < 1:
            problems.append(f"{name} must be >= 1")
    if cfg.epochs <= 0 and cfg.max_steps <= 0:
        problems.append("set epochs > 0 or max_steps > 0")
    if not 0 <= cfg.warmup_ratio < 1 or not 0 <= cfg.lora_dropout < 1:
        problems.append("warmup_ratio and lora_dropout must be in [0, 1)")
    if cfg.method not in METHODS:
        problems.append(f"--method must be one of {', '.join(METHODS)}")
    if cfg.method == "kto" and cfg.batch_size < 2:
        problems.append("--method kto needs --batch-size >= 2 (its KL estimate pairs rows within a batch)")
    if cfg.beta <= 0:
        problems.append("--beta must be > 0")
    if cfg.lr is not None and not 0 < cfg.lr < 1:
        problems.append(f"--lr {cfg.lr} must be above 0 and below 1 (e.g. 2e-4)")
    if cfg.lora_alpha < 1 or cfg.weight_decay < 0:
        problems.append("--lora-alpha must be >= 1 and --weight-decay >= 0")
    if cfg.eval_rows is not None and cfg.eval_rows < 1:
        problems.append("--eval-rows must be >= 1 (leave it out to evaluate on every validation row)")
    if cfg.early_stopping_patience < 0:
        problems.append("--early-stopping-patience must be >= 0 (0: off)")
    if problems:
        raise RaftError("; ".join(problems))
