"""`raft train`: supervised fine-tuning of a causal LM on a RAFT dataset with TRL + PEFT.

The loss covers only the answer (TRL's completion-only loss on the dataset's `prompt` /
`completion` columns). Training runs in `MODEL_DIR` itself so an interrupted run resumes from
`MODEL_DIR/checkpoints/`; the manifest, written last, marks a finished model. The same command
runs unchanged under `accelerate launch` (DDP, FSDP, DeepSpeed): only rank 0 writes files.
Settings: raft/train/config.py; hardware and trainer arguments: raft/train/hardware.py; the model
directory (resume, manifest, `raft merge`): raft/train/model_dir.py.
"""

from __future__ import annotations

import logging
from typing import Any

from raft import artifacts
from raft.splits import VALIDATION
from raft.train.config import TrainConfig
from raft.train.hardware import (
    hardware,
    load_model,
    lora_config,
    sft_config,
    show_progress,
    trainer_callbacks,
)
from raft.train.inputs import (
    adapt_prompts,
    cap_validation,
    check_target_modules,
    length_stats,
    load_raft_dataset,
    load_tokenizer,
)
from raft.train.model_dir import config_record, final_eval_loss, finish, prepare

log = logging.getLogger(__name__)


def plan(cfg: TrainConfig) -> dict[str, Any]:
    """Everything `--dry-run` shows: resolved settings and token-length statistics (raises on cut answers)."""
    splits, manifest = load_raft_dataset(cfg.dataset)
    splits = cap_validation(splits, cfg.eval_rows, cfg.seed)
    tokenizer = load_tokenizer(cfg.base_model, cfg.trust_remote_code)
    splits, adaptation = adapt_prompts(splits, tokenizer)
    hw = hardware(cfg)
    stats = {
        name: length_stats(tokenizer, splits[name], cfg.max_length) for name in splits if len(splits[name])
    }
    resolved = config_record(cfg) | {k: hw[k] for k in ("precision", "packing", "activation_checkpointing")}
    resolved["lr"] = cfg.resolved_lr()
    resolved["chat_adaptation"] = adaptation
    return {"config": resolved, "lengths": stats, "prompt_version": manifest["prompt"]["version"]}


def train(cfg: TrainConfig, callbacks: list[Any] | None = None) -> dict[str, Any]:
    """Fine-tune `cfg.base_model` on the dataset; returns the model manifest (rank 0 writes the files)."""
    splits, data_manifest = load_raft_dataset(cfg.dataset)
    splits = cap_validation(splits, cfg.eval_rows, cfg.seed)
    tokenizer = load_tokenizer(cfg.base_model, cfg.trust_remote_code)
    if not cfg.full:
        check_target_modules(cfg.base_model, cfg.target_modules, cfg.trust_remote_code)
    splits, adaptation = adapt_prompts(splits, tokenizer)
    hw = hardware(cfg)
    stats = {
        name: length_stats(tokenizer, splits[name], cfg.max_length) for name in splits if len(splits[name])
    }
    state, resume = prepare(cfg, hw, stats)
    has_eval = VALIDATION in splits and len(splits[VALIDATION]) > 0
    trainer = _build_trainer(cfg, hw, splits, tokenizer, has_eval, callbacks or [])
    if resume:
        log.info("resuming from %s", resume)
    result = trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(str(cfg.out))
    final_eval = final_eval_loss(trainer) if has_eval else None
    manifest = None
    if trainer.is_world_process_zero():
        manifest = finish(cfg, hw, trainer, result, final_eval, data_manifest, stats, adaptation)
    state.wait_for_everyone()
    return manifest or artifacts.read_manifest(cfg.out, "model")


def _trainer_class() -> Any:
    """TRL's SFTTrainer with the model's own cross-entropy on the labelled tokens as the loss.

    TRL's default loss also computes the entropy and top-1 accuracy of every position for its per-step
    metrics (a full-vocabulary pass, every position on CPU); nothing here reads them, and on a 2-core CPU
    they cost more than the training step itself (tests/benchmarks/bench_train_loop.py). The vocabulary
    projection itself runs only where a label is: see `logits_where_labelled`."""
    from transformers import Trainer
    from trl import SFTTrainer

    class RaftSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if "labels" in inputs and slices_logits(self.model):
                inputs = logits_where_labelled(inputs)
            return Trainer.compute_loss(self, model, inputs, return_outputs, num_items_in_batch)

    return RaftSFTTrainer


def slices_logits(model: Any) -> bool:
    """True when the model's forward projects to the vocabulary only where `logits_to_keep` says, a boolean
    mask included (transformers' `slice_logits_to_keep`, used by its causal LMs; not remote code)."""
    import sys

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "slice_logits_to_keep" in vars(sys.modules[type(base).__module__])


def logits_where_labelled(inputs: dict[str, Any]) -> dict[str, Any]:
    """The batch with `logits_to_keep` set to the positions whose next token is labelled, and the labels
    there as `shift_labels`, so the model's own loss is unchanged while the vocabulary projection (a fifth
    of a small model's forward pass) skips the prompt, which carries no loss."""
    import torch.nn.functional as F

    shift = F.pad(inputs["labels"], (0, 1), value=-100)[:, 1:]
    keep = shift != -100
    return {**inputs, "logits_to_keep": keep, "shift_labels": shift[keep]}


def _build_trainer(cfg, hw, splits, tokenizer, has_eval, callbacks) -> Any:
    args = sft_config(cfg, hw, has_eval)
    columns = ["prompt", "completion"]
    if "chat_template_kwargs" in splits["train"].column_names:  # see raft.prompts.template_kwargs
        columns.append("chat_template_kwargs")
    model = load_model(cfg, hw)
    trainer = _trainer_class()(
        model=model,
        args=args,
        train_dataset=splits["train"].select_columns(columns),
        eval_dataset=splits[VALIDATION].select_columns(columns) if has_eval else None,
        processing_class=tokenizer,
        peft_config=None if cfg.full else lora_config(cfg, model),
        callbacks=trainer_callbacks(cfg, args, has_eval, callbacks),
    )
    return show_progress(trainer, args)
