"""What the hardware decides (precision, packing, activation checkpointing) and what it shapes: the
trainer arguments every raft trainer shares, the base model as loaded for training, the LoRA config."""

from __future__ import annotations

from typing import Any

from raft.errors import RaftError
from raft.models.loading import cpu_has_bf16
from raft.train.config import TrainConfig, target_module_names
from raft.train.model_dir import CHECKPOINTS


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
    precision = cfg.precision
    if precision == "auto":
        gpu_bf16 = cuda and torch.cuda.is_bf16_supported()
        precision = ("bf16" if gpu_bf16 else "fp16") if cuda else ("bf16" if cpu_has_bf16() else "fp32")
    elif precision == "fp16" and not cuda:
        raise RaftError("--precision fp16 needs a CUDA GPU; on CPU use bf16 (with bf16 instructions) or fp32")
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


def trainer_callbacks(cfg: TrainConfig, args: Any, has_eval: bool, extra: list[Any]) -> list[Any]:
    """The callbacks every raft trainer gets: the training log, the caller's own, early stopping on validation."""
    from transformers import EarlyStoppingCallback

    from raft.train import log as trainlog

    callbacks = [trainlog.make_log_callback(cfg.out / trainlog.LOG_FILE), *extra]
    if has_eval and cfg.early_stopping_patience > 0 and args.load_best_model_at_end:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience))
    return callbacks


def show_progress(trainer: Any, args: Any) -> Any:
    """Replace transformers' progress bars with raft's (unless tqdm is disabled); returns the trainer."""
    from transformers.trainer_callback import ProgressCallback

    from raft.train import log as trainlog

    if not args.disable_tqdm:
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(trainlog.make_progress_callback())
    return trainer

def sft_config(cfg: TrainConfig, hw: dict[str, Any], has_eval: bool) -> Any:
    """TRL SFTConfig for this run: completion-only loss, eval + best checkpoint when there is an eval split."""
    from trl import SFTConfig

    kwargs = trainer_args(cfg, hw, has_eval) | dict(
        packing=hw["packing"],
        # Unpacked batches pad to their longest row: batches of rows of similar length (transformers'
        # LengthGroupedSampler, still shuffled) cut the padding of the demo's rows from 15 % to under 1 %.
        train_sampling_strategy="random" if hw["packing"] else "group_by_length",
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


def lora_config(cfg: TrainConfig, model: Any = None) -> Any:
    """PEFT LoRA settings; with `lora_layers`, only the last N decoder layers of `model` are adapted."""
    from peft import LoraConfig

    modules: str | list[str] = cfg.target_modules
    if modules != "all-linear":
        modules = target_module_names(modules)
    layers: dict[str, Any] = {}
    if cfg.lora_layers is not None and model is not None:
        import torch

        total = int(model.config.get_text_config().num_hidden_layers)
        layers = {"layers_to_transform": list(range(max(0, total - cfg.lora_layers), total))}
        if modules == "all-linear":  # PEFT takes layers_to_transform only with a list of module names
            modules = sorted({name.rsplit(".", 1)[-1] for name, m in model.named_modules()
                              if isinstance(m, torch.nn.Linear) and ".layers." in name})
    return LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=modules,
        task_type="CAUSAL_LM",
        **layers,
    )
