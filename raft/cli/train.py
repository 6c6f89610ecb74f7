"""`raft train`, `raft train-compare` and `raft tune`: thin shells over raft/train/."""

from __future__ import annotations

import click

from raft.errors import RaftError
from raft.train.config import METHODS, PRECISIONS


@click.command("train")
@click.argument("dataset", type=click.Path(), required=False)
@click.option("-o", "--out", type=click.Path(), default=None, help="Model directory (checkpoints resume here).")
@click.option("--base-model", default=None, help="Hub id or local path of the model to tune.")
@click.option("--config", "config_file", type=click.Path(), default=None, help="YAML of knobs; flags win.")
@click.option("--lora-r", type=int, default=None, help="LoRA rank [16].")
@click.option("--lora-layers", type=int, default=None,
              help="LoRA on the last N decoder layers only: the backward pass stops there (faster) [all].")
@click.option("--lora-alpha", type=int, default=None, help="LoRA alpha [32].")
@click.option("--lora-dropout", type=float, default=None, help="LoRA dropout [0.05].")
@click.option("--target-modules", default=None, help="'all-linear' or comma-separated module names.")
@click.option("--full", is_flag=True, default=None, help="Full fine-tuning instead of LoRA.")
@click.option("--qlora", is_flag=True, default=None, help="4-bit QLoRA (CUDA + bitsandbytes).")
@click.option("--lr", type=float, default=None, help="Learning rate [2e-4 LoRA, 2e-5 full].")
@click.option("--batch-size", type=int, default=None, help="Per-device batch size [4].")
@click.option("--grad-accum", type=int, default=None, help="Gradient accumulation steps [4].")
@click.option("--epochs", type=float, default=None, help="Epochs [3].")
@click.option("--max-steps", type=int, default=None, help="Stop after this many optimizer steps (overrides --epochs); 0 or less: train for --epochs, "
                   "as in transformers [-1].")
@click.option("--warmup-ratio", type=float, default=None, help="Share of steps for LR warmup [0.03].")
@click.option("--weight-decay", type=float, default=None, help="AdamW weight decay [0].")
@click.option("--eval-steps", type=int, default=None, help="Evaluate (and checkpoint) every N steps [50].")
@click.option("--eval-rows", type=int, default=None,
              help="Validation rows the eval loss reads (a seeded subset; each eval is a forward pass over them) [all].")
@click.option("--early-stopping-patience", type=int, default=None, help="Evals without improvement [3]; 0: off.")
@click.option("--max-length", type=int, default=None, help="Max tokens per row [2048]; longer rows are an error.")
@click.option("--packing/--no-packing", default=None, help="Pack rows (padding-free) [on with CUDA, off on CPU].")
@click.option("--precision", type=click.Choice(PRECISIONS), default=None,
              help="auto: bf16 (fp16) on CUDA, bf16 autocast on CPUs with bf16 instructions, else fp32 [auto].")
@click.option("--seed", type=int, default=None, help="Seed [0].")
@click.option("--method", type=click.Choice(METHODS), default=None,
              help="sft: supervised on the RAFT dataset [default]; dpo: preference pairs built from the RAFT "
                   "dataset; kto: 👍/👎 rows from `raft feedback export --as preference` (DATASET is that file). "
                   "For dpo/kto, --base-model may be a `raft train` MODEL_DIR to keep tuning.")
@click.option("--beta", type=float, default=None, help="DPO/KTO strength of the pull towards the start model [0.1].")
@click.option("--dry-run", is_flag=True, help="Print the resolved config and token-length stats, then stop.")
@click.option("--overwrite", is_flag=True, default=None, help="Replace a finished model directory.")
@click.option("--merge", "merge_", is_flag=True, default=None, help="Also write MODEL_DIR/merged (full weights).")
@click.option("--trust-remote-code", is_flag=True, default=None,
              help="Run modelling code shipped with a hub model (only for models you trust) [off].")
def train_cmd(dataset: str | None, out: str | None, config_file: str | None, dry_run: bool, merge_: bool | None,
              **knobs) -> None:
    """Fine-tune BASE_MODEL on a RAFT DATASET with TRL + PEFT (LoRA by default); resumes automatically."""
    import json
    import os
    from pathlib import Path

    from raft.train.config import load_config
    from raft.train.inputs import check_lengths
    from raft.train.sft import plan, train

    cfg = load_config(Path(config_file) if config_file else None, dataset=dataset, out=out, merge=merge_, **knobs)
    if cfg.method != "sft":
        _train_preference(cfg, dry_run)
        return
    if dry_run:
        report = plan(cfg)
        click.echo(json.dumps(report["config"], indent=2, default=str))
        click.echo("| split | rows | tokens | mean | p50 | p95 | max | answer mean | over max_length |")
        click.echo("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name, s in report["lengths"].items():
            click.echo(f"| {name} | {s['rows']} | {s['tokens']} | {s['mean']} | {s['p50']} | {s['p95']} | "
                       f"{s['max']} | {s['answer_mean']} | {s['over_max_length']} |")
        check_lengths(report["lengths"], cfg.max_length)
        click.echo(f"ok: no row exceeds max_length {cfg.max_length}")
        return
    manifest = train(cfg)
    if os.environ.get("RANK", "0") == "0":  # under accelerate/torchrun, one line from the main process
        click.echo(f"model written to {cfg.out} (train loss {manifest['final_train_loss']:.4f}, "
                   f"eval loss {manifest['final_eval_loss']})")


def _train_preference(cfg, dry_run: bool) -> None:
    import json

    from raft.train.inputs import check_lengths
    from raft.train.preference import plan, train_preference

    if dry_run:
        report = plan(cfg)
        click.echo(json.dumps(report["config"], indent=2, default=str))
        click.echo(json.dumps({"rows": report["rows"], "lengths": report["lengths"]}, indent=2))
        check_lengths(report["lengths"], cfg.max_length)
        click.echo(f"ok: no row exceeds max_length {cfg.max_length}")
        return
    manifest = train_preference(cfg)
    click.echo(f"{cfg.method} model written to {cfg.out} (train loss {manifest['final_train_loss']:.4f}, "
               f"eval loss {manifest['final_eval_loss']})")



@click.command("train-compare")
@click.argument("model_dirs", type=click.Path(), nargs=-1, required=True)
def train_compare_cmd(model_dirs: tuple[str, ...]) -> None:
    """Side-by-side eval loss of runs (A/B one knob): the settings that differ, then loss by step."""
    from pathlib import Path

    from raft.train.log import compare_runs

    click.echo(compare_runs([Path(d) for d in model_dirs]))




@click.command("tune")
@click.argument("dataset", type=click.Path())
@click.option("-o", "--out", type=click.Path(), required=True, help="Study directory (trials/, study.db, best).")
@click.option("--base-model", required=True, help="Hub id or local path of the model to tune.")
@click.option("--trials", type=click.IntRange(min=1), default=None,
              help="Finished trials the study should hold [10; with --sampler grid: the grid size].")
@click.option("--sampler", type=click.Choice(["tpe", "grid"]), default=None, help="Optuna sampler [tpe].")
@click.option("--lr", default=None, help="Learning rates: low:high (log scale) or a,b,c [2e-5:1e-3].")
@click.option("--lora-r", default=None, help="LoRA ranks, a,b,c [8,16,32]; 'none' to keep --config's.")
@click.option("--lora-alpha", default=None, help="LoRA alphas, a,b,c [16,32,64]; 'none' to keep --config's.")
@click.option("--epochs", default=None, help="Epochs: a,b,c or low:high [1,2,3]; 'none' to keep --config's.")
@click.option("--config", "config_file", type=click.Path(), default=None,
              help="YAML of fixed `raft train` knobs for every trial (batch_size, eval_steps, max_steps, ...).")
@click.option("--storage", default=None,
              help="Optuna storage URL shared by several machines, e.g. postgresql://user:pw@host/db "
                   "[sqlite:///OUT/study.db].")
@click.option("--study-name", default=None, help="Study name inside the storage [raft-tune].")
@click.option("--no-prune", is_flag=True, help="Run every trial to the end (no median pruning).")
@click.option("--seed", type=int, default=None, help="Sampler seed [0].")
@click.option("--heartbeat", "heartbeat_s", type=click.IntRange(min=1), default=None,
              help="Seconds between a trial's heartbeats; a trial silent for twice this is rerun [30].")
@click.option("--eval-top", type=click.IntRange(min=1), default=None,
              help="Also `raft eval` the N best trials on the test questions (needs --index and --qa).")
@click.option("--index", "index_dir", type=click.Path(), default=None, help="Index for --eval-top.")
@click.option("--qa", type=click.Path(), default=None, help="QA file with the test split, for --eval-top.")
def tune_cmd(dataset: str, out: str, base_model: str, config_file: str | None, no_prune: bool,
             eval_top: int | None, index_dir: str | None, qa: str | None, **options) -> None:
    """Search learning rate, LoRA rank/alpha and epochs with Optuna; pick the best by validation loss.

    \b
    Examples:
      raft tune datasets/helpdesk -o tunes/helpdesk --base-model Qwen/Qwen2.5-0.5B-Instruct --trials 12
      raft tune DATASET -o DIR --base-model BASE --sampler grid --lr 1e-4,3e-4 --lora-r 8,16 --epochs 3
      raft tune DATASET -o DIR --base-model BASE --storage postgresql://u:pw@db/raft --trials 40  # each machine
    """
    from pathlib import Path

    from raft.train.tune import DEFAULT_SPACE, TuneConfig, tune, tune_fixed_knobs

    space = dict(DEFAULT_SPACE)
    for name in ("lr", "lora_r", "lora_alpha", "epochs"):
        if options.get(name) is not None:
            space[name] = "" if options[name].strip().lower() == "none" else options[name]
    fixed = tune_fixed_knobs(Path(config_file) if config_file else None)
    space = {k: v for k, v in space.items() if v and k not in fixed}
    if eval_top and not (index_dir and qa):
        raise RaftError("--eval-top needs --index INDEX_DIR and --qa FILE (the questions with a test split)")
    overrides = {k: options[k] for k in ("trials", "sampler", "storage", "study_name", "seed", "heartbeat_s")
                 if options.get(k) is not None}
    cfg = TuneConfig(dataset=Path(dataset), out=Path(out), base_model=base_model, space=space, train=fixed,
                     prune=not no_prune, **overrides)
    manifest = tune(cfg)
    click.echo(manifest["table"])
    if manifest["best_trial"] is None:
        click.echo("no trial finished yet")
        return
    click.echo(f"\nbest: trial {manifest['best_trial']} (validation loss {manifest['best_validation_loss']:.4f}, "
               f"{manifest['best_params']}) -> {Path(out) / 'best'}")
    if eval_top:
        from raft.train.tune import eval_top_trials

        report_dir = eval_top_trials(Path(out), eval_top, Path(index_dir), Path(qa))
        click.echo(f"test-split report of the top {eval_top} trials: {report_dir}")
    click.echo(f"table: {Path(out) / 'trials.md'}  plot: {Path(out) / 'tune.png'}")
