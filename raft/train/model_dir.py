"""The model directory a training run writes: resume checks, the training log kept in step with the
checkpoint, and the finished model's prompt contract, card and (last) manifest; `raft merge`."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

from raft import artifacts, prompts
from raft.errors import RaftError
from raft.models import offline
from raft.splits import VALIDATION
from raft.train import log as trainlog
from raft.train.config import TrainConfig
from raft.train.inputs import check_lengths, load_tokenizer

CHECKPOINTS = "checkpoints"


LINEAGE = "lineage.json"  # copied from the dataset: which questions and documents trained and selected it


# Settings that may differ between an interrupted run and its resumption.
RESUME_FREE = {"out", "overwrite", "merge", "keep_checkpoints", "trust_remote_code"}


def config_record(cfg: TrainConfig) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(cfg).items()}



def prepare(cfg: TrainConfig, hw: dict[str, Any], stats: dict[str, Any]) -> tuple[Any, str | None]:
    """What every trainer (SFT, DPO, KTO) does before training: refuse answers that `max_length` would cut,
    join the process group, claim MODEL_DIR (rank 0 writes train_config.json and trims the log to the
    checkpoint); returns (accelerate state, checkpoint to resume from or None)."""
    from accelerate import PartialState

    check_lengths(stats, cfg.max_length)
    state = PartialState(cpu=not hw["cuda"])  # on CPU, several processes make a gloo group
    resume = prepare_out_dir(cfg, state.is_main_process)
    state.wait_for_everyone()
    if state.is_main_process:
        cfg.out.mkdir(parents=True, exist_ok=True)
        artifacts.write_json_atomic(cfg.out / "train_config.json", config_record(cfg))
        trim_log(cfg.out, resume)
    return state, resume

def prepare_out_dir(cfg: TrainConfig, is_main: bool) -> str | None:
    """Refuse a finished MODEL_DIR without --overwrite; return the checkpoint to resume from, if any."""
    out = cfg.out
    if out.exists() and not out.is_dir():
        raise RaftError(f"{out} exists and is not a directory; choose another -o path")
    finished = (out / artifacts.MANIFEST).is_file()
    ours = (out / "train_config.json").is_file()
    if out.exists() and any(out.iterdir()) and not cfg.overwrite:
        if finished:
            raise RaftError(
                f"{out} holds a finished model; pass --overwrite to train it again or choose another -o"
            )
        if not ours:
            raise RaftError(
                f"{out} exists and was not written by `raft train`; pass --overwrite or choose another -o"
            )
    if cfg.overwrite and out.exists():
        if is_main:
            shutil.rmtree(out)
        return None
    checkpoint = _last_checkpoint(out / CHECKPOINTS)
    if checkpoint is not None:
        before = json.loads((out / "train_config.json").read_text())
        now = config_record(cfg)
        changed = sorted(k for k in now if k not in RESUME_FREE and before.get(k) != now[k])
        if changed:
            raise RaftError(
                f"{out} holds checkpoints of a run with other settings ({', '.join(changed)}); "
                "rerun with the same settings to resume, or pass --overwrite to start over"
            )
    return checkpoint


def _last_checkpoint(folder: Path) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(folder)) if folder.is_dir() else None


def final_eval_loss(trainer: Any) -> float:
    """Eval loss of the weights being saved: the best checkpoint's when it was reloaded, else a fresh eval."""
    if trainer.args.load_best_model_at_end and trainer.state.best_metric is not None:
        return float(trainer.state.best_metric)
    return float(trainer.evaluate()["eval_loss"])


def trim_log(out: Path, resume: str | None) -> None:
    """Drop log rows past the checkpoint being resumed (they are about to be redone), or all rows."""
    path = out / trainlog.LOG_FILE
    step = int(Path(resume).name.split("-")[-1]) if resume else 0
    rows = [r for r in trainlog.read_log(out) if r["step"] <= step]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def finish(cfg, hw, trainer, result, final_eval, data_manifest, stats, adaptation=None, extra=None) -> dict[str, Any]:
    """Write the prompt contract, plot, model card and (last) the manifest of a finished run.

    `extra` overrides manifest fields (preference tuning: method, the underlying base model, start model)."""
    out = cfg.out
    rows = trainlog.read_log(out)
    train_losses = [r["loss"] for r in rows if "loss" in r]
    contract = prompts.contract_with_adaptation(data_manifest["prompt"], adaptation)
    artifacts.write_json_atomic(out / "raft_prompt.json", contract)
    lineage = Path(cfg.dataset) / LINEAGE
    if lineage.is_file():  # the model carries its dataset's lineage, so `raft eval` can check overlap
        shutil.copyfile(lineage, out / LINEAGE)
    trainlog.plot_losses(rows, out / trainlog.PLOT_FILE, out.name)
    base = Path(cfg.base_model)
    manifest = {
        "base_model": str(base.resolve()) if base.is_dir() else cfg.base_model,
        "base_weights": offline.weights_of(cfg.base_model),
        "adapter": not cfg.full,
        "method": "full" if cfg.full else ("qlora" if cfg.qlora else "lora"),
        "prompt": contract,
        "dataset": str(cfg.dataset.resolve()),
        "dataset_fingerprint": artifacts.fingerprint(data_manifest),
        "train_rows": stats["train"]["rows"],
        "validation_rows": stats.get(VALIDATION, {}).get("rows", 0),
        "lineage": LINEAGE if lineage.is_file() else None,
        "final_train_loss": train_losses[-1] if train_losses else result.training_loss,
        "final_eval_loss": final_eval,
        "best_step": _best_step(trainer.state.best_model_checkpoint),
        "checkpoints": str(out / CHECKPOINTS) if cfg.keep_checkpoints else None,
        "global_step": trainer.state.global_step,
        "epochs_done": round(trainer.state.epoch or 0.0, 3),
        "tokens_seen": int(trainer.state.num_input_tokens_seen or 0),
        "train_seconds": round(result.metrics.get("train_runtime", 0.0), 1),
        "world_size": trainer.args.world_size,
        "precision": hw["precision"],
        "packing": hw["packing"],
        "merged": None,
    }
    manifest.update(extra or {})
    (out / "README.md").write_text(trainlog.model_card(manifest, config_record(cfg), data_manifest))
    if not cfg.keep_checkpoints:
        shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)
    if cfg.merge and not cfg.full:
        manifest["merged"] = str(merge(
            out, out / "merged", overwrite=True, manifest=manifest, trust_remote_code=cfg.trust_remote_code
        ))
    return artifacts.write_manifest(out, "model", manifest)


def _best_step(checkpoint: str | None) -> int | None:
    """The step of the best checkpoint (its folder may be deleted, so the manifest names the step only)."""
    return int(Path(checkpoint).name.rsplit("-", 1)[-1]) if checkpoint else None


def merge(
    model_dir: Path,
    out: Path,
    overwrite: bool = False,
    manifest: dict[str, Any] | None = None,
    trust_remote_code: bool = False,
) -> Path:
    """Fold a LoRA adapter into its base weights; the result loads with plain AutoModelForCausalLM."""
    from peft import PeftModel

    from raft.models.loading import load_causal_lm

    model_dir = Path(model_dir)
    manifest = manifest or artifacts.read_manifest(model_dir, "model", "raft train DATASET -o MODEL_DIR")
    if not manifest.get("adapter"):
        raise RaftError(
            f"{model_dir} holds full weights already; load it directly, there is nothing to merge"
        )
    with artifacts.staging_dir(out, overwrite) as tmp:
        base = load_causal_lm(str(manifest["base_model"]), trust_remote_code=trust_remote_code, dtype="auto")
        merged = PeftModel.from_pretrained(base, str(model_dir)).merge_and_unload()
        merged.save_pretrained(tmp)
        load_tokenizer(str(model_dir), trust_remote_code=trust_remote_code).save_pretrained(tmp)
        artifacts.write_json_atomic(tmp / "raft_prompt.json", manifest["prompt"])
        if (model_dir / LINEAGE).is_file():
            shutil.copyfile(model_dir / LINEAGE, tmp / LINEAGE)
        keep = ("base_model", "prompt", "dataset", "final_train_loss", "final_eval_loss", "method", "lineage")
        artifacts.write_manifest(
            tmp,
            "model",
            {k: manifest.get(k) for k in keep} | {"adapter": False, "merged_from": str(model_dir)},
        )
    return Path(out)
