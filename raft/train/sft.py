"""`raft train`: supervised fine-tuning of a causal LM on a RAFT dataset with TRL + PEFT.

The loss covers only the answer (TRL's completion-only loss on the dataset's `prompt` /
`completion` columns). Training runs in `MODEL_DIR` itself so an interrupted run resumes from
`MODEL_DIR/checkpoints/`; the manifest, written last, marks a finished model. The same command
runs unchanged under `accelerate launch` (DDP, FSDP, DeepSpeed): only rank 0 writes files.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raft import artifacts, prompts
from raft.errors import RaftError
from raft.splits import VALIDATION
from raft.train import log as trainlog
from raft.train.inputs import (
    adapt_prompts,
    check_lengths,
    check_target_modules,
    length_stats,
    load_raft_dataset,
    load_tokenizer,
)

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
LINEAGE = "lineage.json"  # copied from the dataset: which questions and documents trained and selected it
# Settings that may differ between an interrupted run and its resumption.
RESUME_FREE = {"out", "overwrite", "merge", "keep_checkpoints", "trust_remote_code"}
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
    save_steps: int | None = None  # None: same as eval_steps (required for keeping the best checkpoint)
    logging_steps: int = 10
    early_stopping_patience: int = 3  # evaluations without improvement; 0 disables
    max_length: int = 2048
    packing: bool | None = None  # None: on with CUDA (padding-free), off on CPU
    activation_checkpointing: bool | None = None  # None: on with CUDA, off on CPU
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
    if cfg.early_stopping_patience < 0:
        problems.append("--early-stopping-patience must be >= 0 (0: off)")
    if problems:
        raise RaftError("; ".join(problems))


# ---- hardware and trainer ------------------------------------------------------------------------


def hardware(cfg: TrainConfig) -> dict[str, Any]:
    """Precision and speed settings chosen from the hardware (bf16 on capable GPUs, fp32 on CPU)."""
    import torch

    cuda = torch.cuda.is_available()
    if cfg.qlora and not cuda:
        raise RaftError(
            "--qlora needs a CUDA GPU (bitsandbytes 4-bit); drop --qlora to train LoRA in fp32 on CPU"
        )
    if cfg.qlora:
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            raise RaftError("--qlora needs bitsandbytes; pip install 'raft-builder[qlora]'") from None
    precision = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if cuda else "fp32"
    return {
        "cuda": cuda,
        "precision": precision,
        "packing": cfg.packing if cfg.packing is not None else cuda,
        "activation_checkpointing": cfg.activation_checkpointing
        if cfg.activation_checkpointing is not None
        else cuda,
    }


def trainer_args(cfg: TrainConfig, hw: dict[str, Any], has_eval: bool) -> dict[str, Any]:
    """The TrainingArguments every raft trainer shares (SFT, DPO, KTO): schedule, checkpoints, best-on-validation."""
    save_steps = cfg.save_steps or cfg.eval_steps
    return dict(
        output_dir=str(cfg.out / CHECKPOINTS),
        learning_rate=cfg.resolved_lr(),
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps if cfg.max_steps > 0 else -1,  # <= 0: train for `epochs`, as in transformers
        warmup_steps=cfg.warmup_ratio,  # a float < 1 is a ratio of the total steps in transformers 5
        weight_decay=cfg.weight_decay,
        lr_scheduler_type=cfg.lr_scheduler,
        logging_steps=cfg.logging_steps,
        save_strategy="steps",
        save_steps=save_steps,
        save_total_limit=2,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=cfg.eval_steps if has_eval else None,
        load_best_model_at_end=has_eval and save_steps % cfg.eval_steps == 0,
        metric_for_best_model="eval_loss" if has_eval else None,
        greater_is_better=False if has_eval else None,
        max_length=cfg.max_length,
        bf16=hw["precision"] == "bf16",
        fp16=hw["precision"] == "fp16",
        use_cpu=not hw["cuda"],
        activation_checkpointing=hw["activation_checkpointing"],
        seed=cfg.seed,
        data_seed=cfg.seed,
        report_to="none",
        disable_tqdm=False,
    )


def sft_config(cfg: TrainConfig, hw: dict[str, Any], has_eval: bool) -> Any:
    """TRL SFTConfig for this run: completion-only loss, eval + best checkpoint when there is an eval split."""
    from trl import SFTConfig

    kwargs = trainer_args(cfg, hw, has_eval) | dict(
        packing=hw["packing"],
        completion_only_loss=True,
        include_num_input_tokens_seen="non_padding",
        ddp_find_unused_parameters=False,
    )
    kwargs.update(cfg.sft_args)
    return SFTConfig(**kwargs)


def load_model(cfg: TrainConfig, hw: dict[str, Any]) -> Any:
    """The base model in the dtype the hardware trains best in (4-bit NF4 for QLoRA)."""
    import torch

    from raft.models.loading import load_causal_lm

    kwargs: dict[str, Any] = {}
    if hw["precision"] != "fp32" and not cfg.full:
        kwargs["dtype"] = torch.bfloat16 if hw["precision"] == "bf16" else torch.float16
    else:
        kwargs["dtype"] = torch.float32
    if cfg.attn_implementation:
        kwargs["attn_implementation"] = cfg.attn_implementation
    if cfg.qlora:
        from accelerate import PartialState
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=kwargs["dtype"],
        )
        kwargs["device_map"] = {"": PartialState().local_process_index}
    model = load_causal_lm(cfg.base_model, trust_remote_code=cfg.trust_remote_code, **kwargs)
    if cfg.qlora:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=hw["activation_checkpointing"]
        )
    return model


def lora_config(cfg: TrainConfig) -> Any:
    from peft import LoraConfig

    modules: str | list[str] = cfg.target_modules
    if modules != "all-linear":
        modules = [m.strip() for m in str(modules).split(",") if m.strip()]
    return LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=modules,
        task_type="CAUSAL_LM",
    )


# ---- the run -------------------------------------------------------------------------------------


def plan(cfg: TrainConfig) -> dict[str, Any]:
    """Everything `--dry-run` shows: resolved settings and token-length statistics (raises on cut answers)."""
    splits, manifest = load_raft_dataset(cfg.dataset)
    tokenizer = load_tokenizer(cfg.base_model, cfg.trust_remote_code)
    splits, adaptation = adapt_prompts(splits, tokenizer)
    hw = hardware(cfg)
    stats = {
        name: length_stats(tokenizer, splits[name], cfg.max_length) for name in splits if len(splits[name])
    }
    resolved = _config_record(cfg) | {k: hw[k] for k in ("precision", "packing", "activation_checkpointing")}
    resolved["lr"] = cfg.resolved_lr()
    resolved["chat_adaptation"] = adaptation
    return {"config": resolved, "lengths": stats, "prompt_version": manifest["prompt"]["version"]}


def _config_record(cfg: TrainConfig) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(cfg).items()}


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
        now = _config_record(cfg)
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


def train(cfg: TrainConfig, callbacks: list[Any] | None = None) -> dict[str, Any]:
    """Fine-tune `cfg.base_model` on the dataset; returns the model manifest (rank 0 writes the files)."""
    from accelerate import PartialState

    splits, data_manifest = load_raft_dataset(cfg.dataset)
    tokenizer = load_tokenizer(cfg.base_model, cfg.trust_remote_code)
    if not cfg.full:
        check_target_modules(cfg.base_model, cfg.target_modules, cfg.trust_remote_code)
    splits, adaptation = adapt_prompts(splits, tokenizer)
    hw = hardware(cfg)
    stats = {
        name: length_stats(tokenizer, splits[name], cfg.max_length) for name in splits if len(splits[name])
    }
    check_lengths(stats, cfg.max_length)
    state = PartialState(cpu=not hw["cuda"])  # on CPU, several processes make a gloo group
    resume = prepare_out_dir(cfg, state.is_main_process)
    state.wait_for_everyone()
    if state.is_main_process:
        cfg.out.mkdir(parents=True, exist_ok=True)
        artifacts.write_json_atomic(cfg.out / "train_config.json", _config_record(cfg))
        _trim_log(cfg.out, resume)
    has_eval = VALIDATION in splits and len(splits[VALIDATION]) > 0
    trainer = _build_trainer(cfg, hw, splits, tokenizer, has_eval, callbacks or [])
    if resume:
        log.info("resuming from %s", resume)
    result = trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(str(cfg.out))
    final_eval = _final_eval_loss(trainer) if has_eval else None
    manifest = None
    if trainer.is_world_process_zero():
        manifest = _finish(cfg, hw, trainer, result, final_eval, data_manifest, stats, adaptation)
    state.wait_for_everyone()
    return manifest or artifacts.read_manifest(cfg.out, "model")


def _final_eval_loss(trainer: Any) -> float:
    """Eval loss of the weights being saved: the best checkpoint's when it was reloaded, else a fresh eval."""
    if trainer.args.load_best_model_at_end and trainer.state.best_metric is not None:
        return float(trainer.state.best_metric)
    return float(trainer.evaluate()["eval_loss"])


def _build_trainer(cfg, hw, splits, tokenizer, has_eval, callbacks) -> Any:
    from transformers import EarlyStoppingCallback
    from transformers.trainer_callback import ProgressCallback
    from trl import SFTTrainer

    args = sft_config(cfg, hw, has_eval)
    columns = ["prompt", "completion"]
    if "chat_template_kwargs" in splits["train"].column_names:  # see raft.prompts.template_kwargs
        columns.append("chat_template_kwargs")
    callbacks = [trainlog.make_log_callback(cfg.out / trainlog.LOG_FILE), *callbacks]
    if has_eval and cfg.early_stopping_patience > 0 and args.load_best_model_at_end:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience))
    trainer = SFTTrainer(
        model=load_model(cfg, hw),
        args=args,
        train_dataset=splits["train"].select_columns(columns),
        eval_dataset=splits[VALIDATION].select_columns(columns) if has_eval else None,
        processing_class=tokenizer,
        peft_config=None if cfg.full else lora_config(cfg),
        callbacks=callbacks,
    )
    if not args.disable_tqdm:
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(trainlog.make_progress_callback())
    return trainer


def _trim_log(out: Path, resume: str | None) -> None:
    """Drop log rows past the checkpoint being resumed (they are about to be redone), or all rows."""
    path = out / trainlog.LOG_FILE
    step = int(Path(resume).name.split("-")[-1]) if resume else 0
    rows = [r for r in trainlog.read_log(out) if r["step"] <= step]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _finish(cfg, hw, trainer, result, final_eval, data_manifest, stats, adaptation=None, extra=None) -> dict[str, Any]:
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
    (out / "README.md").write_text(trainlog.model_card(manifest, _config_record(cfg), data_manifest))
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
    from transformers import AutoModelForCausalLM

    model_dir = Path(model_dir)
    manifest = manifest or artifacts.read_manifest(model_dir, "model", "raft train DATASET -o MODEL_DIR")
    if not manifest.get("adapter"):
        raise RaftError(
            f"{model_dir} holds full weights already; load it directly, there is nothing to merge"
        )
    with artifacts.staging_dir(out, overwrite) as tmp:
        base = AutoModelForCausalLM.from_pretrained(
            manifest["base_model"], dtype="auto", trust_remote_code=trust_remote_code
        )
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
