"""What a `raft tune` study leaves in TUNE_DIR: the trials table (terminal, trials.md, trials.json),
`tune.png` (validation loss per trial and parameter importance), `best` (a link to the best trial's
model directory), and the manifest, written last."""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from raft import artifacts

log = logging.getLogger(__name__)

PLOT_FILE = "tune.png"
BEST = "best"


@dataclass(frozen=True)
class TrialRow:
    """One trial as reported: its state, parameters, best validation loss and model directory."""

    number: int
    state: str
    validation_loss: float | None
    params: dict[str, Any]
    steps: int | None
    evals: list[tuple[int, float]]
    model_dir: str | None
    retry_of: int | None


def trial_rows(study: Any) -> list[TrialRow]:
    rows = []
    for t in study.get_trials(deepcopy=False):
        value = t.value if t.state.name == "COMPLETE" else None
        rows.append(
            TrialRow(
                number=t.number,
                state=t.state.name.lower(),
                validation_loss=value,
                params=dict(t.params),
                steps=t.user_attrs.get("global_step") or (max(t.intermediate_values) if t.intermediate_values else None),
                evals=sorted(t.intermediate_values.items()),
                model_dir=t.user_attrs.get("model_dir"),
                retry_of=t.system_attrs.get("failed_trial"),
            )
        )
    return rows


def best_row(rows: list[TrialRow]) -> TrialRow | None:
    done = [r for r in rows if r.state == "complete" and r.validation_loss is not None]
    return min(done, key=lambda r: (r.validation_loss, r.number)) if done else None


def format_table(rows: list[TrialRow], best: TrialRow | None) -> str:
    """A Markdown table, best validation loss first, then pruned and failed trials."""
    names = sorted({k for r in rows for k in r.params})
    lines = ["| trial | state | validation loss | steps | " + " | ".join(names) + " | model dir |"]
    lines.append("|---:|---|---:|---:|" + "---:|" * len(names) + "---|")
    order = sorted(rows, key=lambda r: (r.validation_loss is None, r.validation_loss or 0.0, r.number))
    for r in order:
        mark = " **best**" if best is not None and r.number == best.number else ""
        loss = f"{r.validation_loss:.4f}" if r.validation_loss is not None else "—"
        if r.state == "pruned" and r.evals:
            loss = f"({r.evals[-1][1]:.4f} at step {r.evals[-1][0]})"
        state = r.state + (f" (rerun of {r.retry_of})" if r.retry_of is not None else "")
        params = " | ".join(_fmt(r.params.get(k)) for k in names)
        lines.append(f"| {r.number}{mark} | {state} | {loss} | {r.steps or '—'} | {params} | {r.model_dir or '—'} |")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return "—" if value is None else str(value)


def importances(study: Any) -> dict[str, float]:
    """optuna.importance over the finished trials ({} while there are too few to say)."""
    import optuna

    try:
        return dict(optuna.importance.get_param_importances(study))
    except (RuntimeError, ValueError, ZeroDivisionError) as exc:
        log.info("no parameter importance yet (%s)", exc)
        return {}


def plot(rows: list[TrialRow], importance: dict[str, float], out: Path) -> Path:
    """Left: validation loss by step for every trial (pruned ones dashed, best thick); right: importance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    best = best_row(rows)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for r in rows:
        if not r.evals:
            continue
        steps, losses = zip(*r.evals, strict=True)
        is_best = best is not None and r.number == best.number
        left.plot(steps, losses, "--" if r.state == "pruned" else "-", marker="o", markersize=3,
                  linewidth=2.5 if is_best else 1, label=f"{r.number}" + (" (best)" if is_best else ""))  # fmt: skip
    left.set_xlabel("step")
    left.set_ylabel("validation loss")
    left.set_title("validation loss per trial (dashed: pruned)")
    left.grid(alpha=0.3)
    if any(r.evals for r in rows):
        left.legend(fontsize=7, ncol=2)
    if importance:
        names = list(importance)[::-1]
        right.barh(names, [importance[n] for n in names])
        right.set_xlabel("importance (share of validation-loss variation)")
    else:
        right.text(0.5, 0.5, "too few finished trials\nfor parameter importance", ha="center", va="center")
        right.set_axis_off()
    right.set_title("parameter importance")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def link_best(out: Path, model_dir: Path) -> str:
    """TUNE_DIR/best -> trials/NNN as a relative symlink (replaced atomically), or a copy without symlinks."""
    link = out / BEST
    tmp = out / f".{BEST}.tmp-{os.getpid()}"
    target = os.path.relpath(model_dir.resolve(), out.resolve())
    try:
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(target, tmp, target_is_directory=True)
        if link.exists() and not link.is_symlink():
            shutil.rmtree(link)
        os.replace(tmp, link)
        return "symlink"
    except (OSError, NotImplementedError):
        if tmp.is_symlink():
            tmp.unlink()
        with artifacts.staging_dir(link, overwrite=True) as staging:
            shutil.copytree(model_dir, staging, dirs_exist_ok=True)
        return "copy"


def write_report(study: Any, out: Path) -> dict[str, Any]:
    """trials.json, trials.md, tune.png, best, and the manifest (last); returns the manifest."""
    rows = trial_rows(study)
    best = best_row(rows)
    importance = importances(study)
    table = format_table(rows, best)
    artifacts.write_json_atomic(out / "trials.json", [asdict(r) for r in rows])
    (out / "trials.md").write_text(f"# raft tune: study {study.study_name}\n\n{table}\n\n![tune]({PLOT_FILE})\n")
    plot(rows, importance, out / PLOT_FILE)
    linked = None
    if best is not None and best.model_dir and Path(best.model_dir).is_dir():
        linked = link_best(out, Path(best.model_dir))
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.state] = counts.get(r.state, 0) + 1
    return artifacts.write_manifest(
        out,
        "tune",
        {
            "study_name": study.study_name,
            "settings": study.user_attrs.get("settings"),
            "trials": counts,
            "best_trial": best.number if best else None,
            "best_validation_loss": best.validation_loss if best else None,
            "best_params": best.params if best else None,
            "best_model_dir": best.model_dir if best else None,
            "best_link": linked,
            "importance": importance,
            "table": table,
        },
    )
