"""What a training run leaves behind for people: progress lines, `train_log.jsonl`, `loss.png`,
the model card, and a side-by-side comparison of runs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from raft.errors import RaftError

LOG_FILE = "train_log.jsonl"
PLOT_FILE = "loss.png"
_KEEP = ("loss", "eval_loss", "learning_rate", "grad_norm", "num_input_tokens_seen", "train_runtime")


def make_log_callback(path: Path) -> Any:
    """A TrainerCallback that appends every log event (rank 0) to the JSONL file at `path`."""
    from transformers import TrainerCallback

    class JsonlLog(TrainerCallback):
        def __init__(self) -> None:
            self.start = time.perf_counter()

        def on_train_begin(self, args, state, control, **kwargs):
            self.start = time.perf_counter()

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs:
                return
            row = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4)}
            row["elapsed_s"] = round(time.perf_counter() - self.start, 2)
            row.update({k: v for k, v in logs.items() if k in _KEEP or k.startswith("eval_")})
            row["world_size"] = args.world_size
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")

    return JsonlLog()


def make_progress_callback() -> Any:
    """transformers' progress bar (with ETA), printing one short line per log event instead of a dict."""
    from transformers.trainer_callback import ProgressCallback

    class Progress(ProgressCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            super().on_train_begin(args, state, control, **kwargs)
            self.start, self.first_step = time.perf_counter(), state.global_step

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or self.training_bar is None or not logs:
                return
            self.training_bar.write(
                progress_line(state, logs, time.perf_counter() - self.start, self.first_step)
            )

    return Progress()


def progress_line(state: Any, logs: dict[str, Any], elapsed: float, first_step: int) -> str:
    """`step 40/200  loss 1.2345  eval_loss 1.3000  lr 1.9e-04  elapsed 31s  ETA 124s`."""
    done = max(state.global_step - first_step, 1)
    eta = elapsed / done * max(state.max_steps - state.global_step, 0)
    parts = [f"step {state.global_step}/{state.max_steps}"]
    parts += [f"{k} {logs[k]:.4f}" for k in ("loss", "eval_loss") if k in logs]
    if "learning_rate" in logs:
        parts.append(f"lr {logs['learning_rate']:.1e}")
    parts.append(f"elapsed {elapsed:.0f}s  ETA {eta:.0f}s")
    return "  ".join(parts)


def read_log(model_dir: Path) -> list[dict[str, Any]]:
    """The rows of a run's `train_log.jsonl` (empty when there is none)."""
    path = Path(model_dir) / LOG_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_losses(rows: list[dict[str, Any]], out: Path, title: str) -> Path | None:
    """Train and eval loss against step, as a PNG (None when nothing was logged)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(r["step"], r["loss"]) for r in rows if "loss" in r]
    evals = [(r["step"], r["eval_loss"]) for r in rows if "eval_loss" in r]
    if not train and not evals:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    for points, label, style in ((train, "train loss", "-"), (evals, "eval loss", "o-")):
        if points:
            ax.plot(*zip(*points, strict=True), style, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def model_card(manifest: dict[str, Any], config: dict[str, Any], dataset_manifest: dict[str, Any]) -> str:
    """The README.md of a model directory: what it was trained from, how, and how well."""
    method = "full fine-tuning" if config.get("full") else ("QLoRA" if config.get("qlora") else "LoRA")
    if config.get("method") in ("dpo", "kto"):
        method = f"{config['method'].upper()} preference tuning, {method}"
        if manifest.get("init_model"):
            method += f", starting from `{manifest['init_model']}`"
    settings = dataset_manifest.get("settings") or {}
    raft_keys = [k for k in sorted(settings) if not isinstance(settings[k], dict | list)]
    lines = [
        f"# RAFT model: {Path(str(config['out'])).name}",
        "",
        f"Fine-tuned with `raft train` ({method}) on a RAFT dataset.",
        "",
        "| | |",
        "|---|---|",
        f"| base model | `{manifest['base_model']}` |",
        f"| base weights | {manifest.get('base_weights', 'original')} |",
        f"| dataset | `{manifest['dataset']}` (mode {dataset_manifest.get('mode', 'raft')}) |",
        f"| prompt contract | `{manifest['prompt'].get('version')}` |",
        f"| train / validation rows | {manifest.get('train_rows')} / {manifest.get('validation_rows')} |",
        f"| steps / epochs | {manifest.get('global_step')} / {manifest.get('epochs_done')} |",
        f"| final train loss | {_fmt(manifest.get('final_train_loss'))} |",
        f"| final eval loss | {_fmt(manifest.get('final_eval_loss'))} |",
        f"| precision / devices | {manifest.get('precision')} / {manifest.get('world_size')} |",
        "",
        "## Training settings",
        "",
        "| knob | value |",
        "|---|---|",
    ]
    lines += [
        f"| {k} | `{v}` |" for k, v in sorted(config.items()) if k not in ("dataset", "out", "sft_args")
    ]
    if raft_keys:
        lines += ["", "## RAFT dataset settings", "", "| setting | value |", "|---|---|"]
        lines += [f"| {k} | `{settings[k]}` |" for k in raft_keys]
    lines += [
        "",
        "## Use",
        "",
        "```bash",
        f"raft chat INDEX --model {config['out']}",
        f"raft merge {config['out']} -o MERGED   # a plain AutoModelForCausalLM directory",
        "```",
        "",
        "![loss curve](loss.png)",
        "",
    ]
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def compare_runs(model_dirs: list[Path]) -> str:
    """A Markdown table of eval loss by step for several runs, plus each run's differing settings."""
    runs = []
    for d in model_dirs:
        rows = read_log(d)
        if not rows:
            raise RaftError(f"{d} has no {LOG_FILE}; pass model directories written by `raft train`")
        config_path = Path(d) / "train_config.json"
        config = json.loads(config_path.read_text()) if config_path.is_file() else {}
        runs.append((Path(d).name, rows, config))
    ignore = {"out", "overwrite", "merge"}
    keys = sorted({k for _, _, c in runs for k in c} - ignore)
    differing = [k for k in keys if len({json.dumps(c.get(k), sort_keys=True) for _, _, c in runs}) > 1]
    header = "| step | " + " | ".join(name for name, _, _ in runs) + " |"
    lines = ["| setting | " + " | ".join(name for name, _, _ in runs) + " |", _rule(len(runs))]
    lines += [f"| {k} | " + " | ".join(f"`{c.get(k)}`" for _, _, c in runs) + " |" for k in differing]
    lines += ["", header, _rule(len(runs))]
    evals = [{r["step"]: r["eval_loss"] for r in rows if "eval_loss" in r} for _, rows, _ in runs]
    for step in sorted({s for e in evals for s in e}):
        lines.append(f"| {step} | " + " | ".join(_fmt(e.get(step, "")) for e in evals) + " |")
    best = [min(e.values()) if e else None for e in evals]
    lines.append("| **best** | " + " | ".join(f"**{_fmt(b)}**" for b in best) + " |")
    return "\n".join(lines)


def _rule(n: int) -> str:
    return "|---|" + "---:|" * n
