"""Settings of `raft generate` (`GenerateConfig`) and their checks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from raft import artifacts
from raft.data.contexts import ORDERS, STRATEGIES
from raft.devices import device_problem
from raft.errors import RaftError

NO_ORACLE_TARGETS = ("abstain", "memorize")


MODES = ("raft", "dsf")


@dataclass(frozen=True)
class GenerateConfig:
    """Settings of `raft generate`; every default lives here."""

    index: Path
    out: Path
    qa: Path | None = None
    teacher: str | None = None
    teacher_url: str | None = None
    teacher_key_env: str = "RAFT_API_KEY"
    questions_per_chunk: int = 3
    max_chunks: int | None = None
    distractors: int = 4
    p_oracle: float = 0.8
    strategy: str = "hard"
    order: str = "shuffle"
    no_oracle_target: str = "abstain"
    mode: str = "raft"
    seed: int = 0
    validation_fraction: float = 0.1
    test_fraction: float = 0.1  # used only when the QA file declares no test split
    train_on_test: bool = False  # put the file's test questions into training (never the default)
    max_tokens: int | None = None
    tokenizer: str | None = None
    export: str | None = None
    teacher_max_new_tokens: int = 512
    batch_size: int = 64
    concurrency: int = 8
    device: str | None = None
    backend: str | None = None  # query embedder backend (None: as the index records)
    overwrite: bool = False
    resume: bool = False
    dry_run: bool = False


def validate(cfg: GenerateConfig) -> None:
    """Every problem with the settings at once, as one RaftError."""
    problems = []
    if not (Path(cfg.index) / artifacts.MANIFEST).is_file():
        problems.append(
            f"index {cfg.index} not found (no manifest.json); build it with `raft index CORPUS -o INDEX`"
        )
    if cfg.qa is None and cfg.teacher is None:
        problems.append("no question source; pass --qa FILE and/or --teacher MODEL")
    if cfg.qa is not None and not Path(cfg.qa).exists():
        problems.append(f"--qa {cfg.qa} does not exist")
    if cfg.distractors < 0:
        problems.append("--distractors must be >= 0")
    if not 0.0 <= cfg.p_oracle <= 1.0:
        problems.append("--p-oracle must be between 0 and 1")
    if cfg.strategy not in STRATEGIES:
        problems.append(f"--strategy must be one of {', '.join(STRATEGIES)}")
    if cfg.order not in ORDERS:
        problems.append(f"--order must be one of {', '.join(ORDERS)}")
    elif cfg.order == "retrieval" and cfg.strategy != "hard" and cfg.mode == "raft":
        problems.append("--order retrieval needs --strategy hard (only mined distractors have a retrieval rank)")
    if cfg.no_oracle_target not in NO_ORACLE_TARGETS:
        problems.append(f"--no-oracle-target must be one of {', '.join(NO_ORACLE_TARGETS)}")
    if cfg.mode not in MODES:
        problems.append(f"--mode must be one of {', '.join(MODES)}")
    for name in ("validation_fraction", "test_fraction"):
        if not 0.0 <= getattr(cfg, name) < 1.0:
            problems.append(f"--{name.replace('_', '-')} must be in [0, 1)")
    if cfg.max_tokens is not None and cfg.tokenizer is None:
        problems.append("--max-tokens needs --tokenizer (the base model's id or path) to count tokens")
    if cfg.export not in (None, "gorilla"):
        problems.append("--export supports only 'gorilla'")
    if cfg.questions_per_chunk < 1:
        problems.append("--questions-per-chunk must be >= 1")
    if cfg.overwrite and cfg.resume:
        problems.append("--overwrite and --resume exclude each other; pick one")
    for name in ("batch_size", "concurrency", "teacher_max_new_tokens", "max_tokens"):
        if getattr(cfg, name) is not None and getattr(cfg, name) < 1:
            problems.append(f"--{name.replace('_', '-')} {getattr(cfg, name)} must be at least 1")
    if problem := device_problem(cfg.device):
        problems.append(problem)
    if problems:
        raise RaftError("; ".join(problems))
