"""Settings of one `raft eval` run and their checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from raft.devices import device_problem
from raft.errors import RaftError
from raft.serve.engine import EngineLimits
from raft.serve.engines import ONNX_PRECISION
from raft.serve.generators import DecodingConfig

CONDITIONS = ("retrieved", "closed_book", "oracle", "oracle_distractors")
PENALTY_TORCH_ONLY = (
    "--repetition-penalty works with the torch engines only; drop it for onnx engines and openai: systems"
)


@dataclass(frozen=True)
class EvalConfig:
    """Settings of one evaluation run (the CLI overrides these defaults)."""

    index: Path
    qa: Path
    out: Path
    systems: tuple[str, ...] = ()
    model: Path | None = None
    k: int = 4
    split: str | None = None  # None: test when the file has a split column, else all
    limit: int | None = None
    conditions: tuple[str, ...] = ("retrieved",)
    decoding: DecodingConfig = field(default_factory=DecodingConfig)
    batch_size: int = 8
    seed: int = 0
    bootstrap: int = 1000
    ttft_samples: int = 5
    hybrid: bool | None = None
    device: str | None = None
    backend: str | None = None  # query embedder backend (None: as the index records)
    overwrite: bool = False
    force_prompt: bool = False
    allow_overlap: bool = False
    trust_remote_code: bool = False  # run a hub model's own modelling code (--trust-remote-code)
    engine: str | None = None  # local engine (raft.serve.engines.ENGINES); None: the default


def check_config(cfg: EvalConfig) -> None:
    problems = []
    bad = [c for c in cfg.conditions if c not in CONDITIONS]
    if bad or not cfg.conditions:
        problems.append(
            f"unknown condition(s) {', '.join(bad) or '(none)'}; choose from {', '.join(CONDITIONS)}"
        )
    for name in ("k", "batch_size", "bootstrap"):
        if getattr(cfg, name) < 1:
            problems.append(f"--{name.replace('_', '-')} must be at least 1")
    if cfg.limit is not None and cfg.limit < 1:
        problems.append("--limit must be at least 1")
    if cfg.decoding.max_new_tokens < 1:
        problems.append("--max-new-tokens must be at least 1")
    max_temperature = EngineLimits.max_temperature  # the bound `raft serve` applies, so both agree
    if not 0.0 <= cfg.decoding.temperature <= max_temperature:
        problems.append(f"--temperature {cfg.decoding.temperature} must be between 0 and {max_temperature}")
    penalty = cfg.decoding.repetition_penalty
    if not 1.0 <= penalty <= 2.0:
        problems.append(f"--repetition-penalty {penalty} must be between 1 (off) and 2")
    elif penalty != 1.0 and cfg.engine in ONNX_PRECISION:
        problems.append(PENALTY_TORCH_ONLY)
    if problem := device_problem(cfg.device):
        problems.append(problem)
    if problems:
        raise RaftError("; ".join(problems))


