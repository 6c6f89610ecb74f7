"""`raft tune`: hyperparameter search over `raft train` runs with Optuna, selected by validation loss.

Each trial is an ordinary `raft train` model directory (`TUNE_DIR/trials/NNN`) trained by
`raft.train.sft.train`; a TrainerCallback reports the validation loss at every evaluation so Optuna's
MedianPruner can stop a hopeless trial early. The study lives in Optuna storage (SQLite in TUNE_DIR
by default, any SQLAlchemy URL with `--storage`), so a killed search resumes where it stopped and
several machines can run trials of one study at once. Trials whose process died are found by
Optuna's heartbeat and rerun with the same parameters, resuming from their own checkpoints.
Selection reads the dataset's validation split only; the test questions never take part.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raft import artifacts
from raft.errors import RaftError
from raft.splits import VALIDATION

log = logging.getLogger(__name__)

SAMPLERS = ("tpe", "grid")
TRIALS_DIR = "trials"
STUDY_DB = "study.db"
# Knobs the search varies; every other TrainConfig knob is fixed for the whole study.
SEARCH_KNOBS = ("lr", "lora_r", "lora_alpha", "epochs")
DEFAULT_SPACE = {"lr": "2e-5:1e-3", "lora_r": "8,16,32", "lora_alpha": "16,32,64", "epochs": "1,2,3"}
_INT_KNOBS = {"lora_r", "lora_alpha"}


@dataclass(frozen=True)
class Knob:
    """One searched knob: a list of choices, or a [low, high] range (log scale for the learning rate)."""

    name: str
    choices: tuple[float, ...] = ()
    low: float | None = None
    high: float | None = None

    def suggest(self, trial: Any) -> float:
        if self.choices:
            return trial.suggest_categorical(self.name, list(self.choices))
        return trial.suggest_float(self.name, self.low, self.high, log=self.name == "lr")

    def describe(self) -> str:
        if self.choices:
            return ",".join(str(c) for c in self.choices)
        return f"{self.low:g}:{self.high:g}" + (" (log)" if self.name == "lr" else "")


def parse_knob(name: str, text: str) -> Knob:
    """`a,b,c` (choices) or `low:high` (a range); a RaftError naming the flag on bad input."""
    flag = f"--{name.replace('_', '-')}"
    cast = int if name in _INT_KNOBS else float
    text = str(text).strip()
    try:
        if ":" in text:
            if name in _INT_KNOBS:
                raise ValueError("a range")
            low, high = (float(x) for x in text.split(":", 1))
            if not 0 < low < high:
                raise ValueError("range")
            return Knob(name, low=low, high=high)
        values = tuple(cast(v) for v in text.split(",") if v.strip())
    except ValueError:
        kind = "a comma list of integers, e.g. 8,16" if name in _INT_KNOBS else "a,b,c or low:high, e.g. 1e-4:1e-3"
        raise RaftError(f"{flag} {text!r} is not valid; write {kind}") from None
    if not values or any(v <= 0 for v in values):
        raise RaftError(f"{flag} needs positive values, got {text!r}")
    return Knob(name, choices=tuple(dict.fromkeys(values)))


@dataclass(frozen=True)
class TuneConfig:
    """A search: the dataset and base model, the searched knobs, and the fixed `raft train` settings."""

    dataset: Path
    out: Path
    base_model: str
    trials: int | None = None  # None: 10 with TPE, the grid size with --sampler grid
    sampler: str = "tpe"
    space: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SPACE))
    storage: str | None = None  # None: sqlite:///TUNE_DIR/study.db
    study_name: str = "raft-tune"
    prune: bool = True
    seed: int = 0
    heartbeat_s: int = 30  # a trial silent for 2x this long is taken as dead and rerun
    train: dict[str, Any] = field(default_factory=dict)  # fixed TrainConfig knobs (batch_size, eval_steps, ...)

    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{(Path(self.out) / STUDY_DB).resolve()}"

    def knobs(self) -> list[Knob]:
        return [parse_knob(name, self.space[name]) for name in SEARCH_KNOBS if self.space.get(name)]

    def n_trials(self) -> int:
        if self.trials is not None:
            return self.trials
        if self.sampler == "grid":
            size = 1
            for knob in self.knobs():
                size *= len(knob.choices)
            return size
        return 10


def validate(cfg: TuneConfig) -> Any:
    """Check everything before the first trial; returns the TrainConfig that trials vary."""
    from raft.train.config import load_config
    from raft.train.sft import plan

    problems = []
    if cfg.sampler not in SAMPLERS:
        problems.append(f"--sampler must be one of {', '.join(SAMPLERS)}")
    unknown = sorted(set(cfg.space) - set(SEARCH_KNOBS))
    if unknown:
        problems.append(f"cannot search {', '.join(unknown)}; searchable: {', '.join(SEARCH_KNOBS)}")
    clash = sorted(set(cfg.train) & {k for k in SEARCH_KNOBS if cfg.space.get(k)})
    if clash:
        problems.append(f"{', '.join(clash)} is both searched and fixed; drop one of them")
    knobs = cfg.knobs()
    if not knobs:
        problems.append("nothing to search; give at least one of --lr, --lora-r, --lora-alpha, --epochs")
    if cfg.sampler == "grid" and any(not k.choices for k in knobs):
        ranged = ", ".join(f"--{k.name.replace('_', '-')}" for k in knobs if not k.choices)
        problems.append(f"--sampler grid needs lists of values, not ranges ({ranged}); e.g. --lr 1e-4,3e-4")
    if cfg.trials is not None and cfg.trials < 1:
        problems.append("--trials must be >= 1")
    if problems:
        raise RaftError("; ".join(problems))
    base = load_config(None, dataset=cfg.dataset, out=Path(cfg.out) / TRIALS_DIR / "000",
                       base_model=cfg.base_model, **cfg.train)  # fmt: skip
    if base.max_steps > 0 and cfg.space.get("epochs"):
        raise RaftError("--max-steps fixes the run length, so --epochs cannot be searched; drop one of them")
    if base.full and cfg.space.get("lora_r"):
        raise RaftError("--full trains no LoRA; drop --full or search without --lora-r/--lora-alpha")
    report = plan(base)
    if VALIDATION not in report["lengths"]:
        raise RaftError(
            f"{cfg.dataset} has no '{VALIDATION}' rows; the search selects by validation loss, "
            "so regenerate the dataset with validation questions (raft generate --eval-fraction)"
        )
    from raft.train.inputs import check_lengths

    check_lengths(report["lengths"], base.max_length)
    return base


def open_study(cfg: TuneConfig) -> Any:
    """Create or reopen the study; refuse to mix trials of different fixed settings in one study."""
    import warnings

    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    try:
        with warnings.catch_warnings():  # the heartbeat is marked experimental; it is what makes resume work
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = RDBStorage(
                cfg.storage_url(),
                heartbeat_interval=cfg.heartbeat_s,
                grace_period=2 * cfg.heartbeat_s,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=3),
            )
    except Exception as exc:  # SQLAlchemy raises many kinds for a bad URL or an unreachable server
        raise RaftError(f"cannot open storage {cfg.storage_url()} ({str(exc).splitlines()[0][:160]})") from None
    study = optuna.create_study(
        storage=storage,
        study_name=cfg.study_name,
        direction="minimize",
        sampler=make_sampler(cfg),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2) if cfg.prune else optuna.pruners.NopPruner(),
        load_if_exists=True,
    )
    settings = study_settings(cfg)
    before = study.user_attrs.get("settings")
    if before is None:
        study.set_user_attr("settings", settings)
    elif before != settings:
        changed = sorted(k for k in set(before) | set(settings) if before.get(k) != settings.get(k))
        raise RaftError(
            f"study '{cfg.study_name}' in {cfg.storage_url()} was started with other settings "
            f"({', '.join(changed)}); rerun with the same ones, or pass another --study-name"
        )
    return study


def study_settings(cfg: TuneConfig) -> dict[str, Any]:
    """What must match between the processes of one study (paths are compared as given)."""
    return {
        "dataset": str(Path(cfg.dataset).resolve()),
        "base_model": cfg.base_model,
        "space": {k.name: k.describe() for k in cfg.knobs()},
        "sampler": cfg.sampler,
        "train": {k: str(v) for k, v in sorted(cfg.train.items())},
        "validation_split": VALIDATION,
    }


def make_sampler(cfg: TuneConfig) -> Any:
    import optuna

    if cfg.sampler == "grid":
        return optuna.samplers.GridSampler({k.name: list(k.choices) for k in cfg.knobs()}, seed=cfg.seed)
    startup = max(1, min(10, cfg.n_trials() // 2))
    return optuna.samplers.TPESampler(seed=cfg.seed, n_startup_trials=startup)


def pruning_callback(trial: Any) -> Any:
    """A TrainerCallback reporting each validation loss to Optuna and stopping the trial when told to."""
    import optuna
    from transformers import TrainerCallback

    class ReportValidationLoss(TrainerCallback):
        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            if not metrics or "eval_loss" not in metrics:
                return
            trial.report(float(metrics["eval_loss"]), step=state.global_step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"validation loss {metrics['eval_loss']:.4f} at step {state.global_step}")

    return ReportValidationLoss()


def trial_dir(cfg: TuneConfig, trial: Any) -> Path:
    """`trials/NNN` by trial number; a rerun of a dead trial inherits its user attributes, so it reuses
    (and resumes from the checkpoints in) the first attempt's directory."""
    inherited = trial.user_attrs.get("model_dir")
    return Path(inherited) if inherited else Path(cfg.out) / TRIALS_DIR / f"{trial.number:03d}"


def make_objective(cfg: TuneConfig, base: Any) -> Any:
    import optuna

    from raft.train.sft import train

    knobs = cfg.knobs()

    def objective(trial: Any) -> float:
        params = {k.name: k.suggest(trial) for k in knobs}
        for name in _INT_KNOBS & set(params):
            params[name] = int(params[name])
        out = trial_dir(cfg, trial)
        trial.set_user_attr("model_dir", str(out))
        run = dataclasses.replace(base, out=out, **params)
        log.info("trial %d: %s -> %s", trial.number, params, out)
        try:
            manifest = train(run, callbacks=[pruning_callback(trial)])
        except optuna.TrialPruned:
            shutil.rmtree(out / "checkpoints", ignore_errors=True)
            raise
        trial.set_user_attr("global_step", manifest["global_step"])
        trial.set_user_attr("final_train_loss", manifest["final_train_loss"])
        if manifest["final_eval_loss"] is None:
            raise RaftError(f"trial {trial.number} has no validation loss")
        return float(manifest["final_eval_loss"])

    return objective


def finished(study: Any) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def tune(cfg: TuneConfig) -> dict[str, Any]:
    """Run (or resume, or join) the search until the study holds `n_trials` finished trials; write the report."""
    import optuna
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    from raft.train import tune_report

    base = validate(cfg)
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise RaftError(f"{out} exists and is not a directory; choose another -o path")
    (out / TRIALS_DIR).mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(cfg)
    total = cfg.n_trials()
    todo = total - finished(study)
    if todo > 0:
        log.info("study '%s': %d of %d trials to run (%s)", cfg.study_name, todo, total, cfg.storage_url())
        study.optimize(
            make_objective(cfg, base),
            n_trials=todo,
            callbacks=[MaxTrialsCallback(total, states=(TrialState.COMPLETE, TrialState.PRUNED))],
            gc_after_trial=True,
        )
    return tune_report.write_report(study, out)


def load_tune_manifest(out: Path) -> dict[str, Any]:
    return artifacts.read_manifest(out, "tune", "raft tune DATASET -o TUNE_DIR --base-model BASE")


def tune_fixed_knobs(yaml_path: Path | None) -> dict[str, Any]:
    """The fixed `raft train` knobs of every trial, from an optional YAML file (same keys as `raft train`)."""
    from raft.train.config import TrainConfig, read_yaml_knobs

    if yaml_path is None:
        return {}
    allowed = {f.name for f in dataclasses.fields(TrainConfig)} - {"dataset", "out", "base_model", "overwrite"}
    return read_yaml_knobs(yaml_path, allowed)


def eval_top_trials(out: Path, top: int, index: Path, qa: Path) -> Path:
    """`raft eval` of the base model and the `top` best trials on the QA file's test split (paired CIs)."""
    import json

    from raft.eval.run import EvalConfig, run_eval

    manifest = load_tune_manifest(out)
    rows = json.loads((Path(out) / "trials.json").read_text())
    done = sorted((r for r in rows if r["state"] == "complete"), key=lambda r: r["validation_loss"])[:top]
    if not done:
        raise RaftError(f"{out} has no finished trial to evaluate; run more trials first")
    systems = [f"rag={manifest['settings']['base_model']}"]
    systems += [f"trial_{r['number']:03d}={r['model_dir']}" for r in done]
    report_dir = Path(out) / "eval-top"
    run_eval(EvalConfig(index=Path(index), qa=Path(qa), out=report_dir, systems=tuple(systems),
                        split="test", overwrite=True))  # fmt: skip
    return report_dir
