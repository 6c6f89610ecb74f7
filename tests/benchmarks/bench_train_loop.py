"""Training throughput on CPU: `raft train` against a plain PyTorch LoRA loop, same rows, same settings.

    .venv/bin/python tests/benchmarks/bench_train_loop.py DATASET_DIR [--base-model smollm2-135m]
        [--steps 6] [--repeats 2] [--precision fp32 bf16] [--micro-batch 4 1] [--lora-layers all 8]

DATASET_DIR is a `raft generate` output (e.g. runs/demo/data/raft). Both sides train LoRA (r16, alpha 32,
dropout 0.05, all linear layers) on the same rows, the first `steps × 4` training rows (a copy of the dataset
holding only those, without its validation split, so `raft train` evaluates nothing inside its timed loop),
one pass, 4 rows per optimizer step (`--micro-batch` rows per forward pass, gradients accumulated), each
forward pass padded to its longest row, loss on the completion only, AdamW at lr 2e-4 (`--lora-layers N`:
LoRA on the last N decoder layers only, on both sides); in bf16 both
load the frozen base weights in bf16 and run under CPU autocast. The loop takes the rows in file order;
`raft train` in its own sampler's order. tokens/s = non-padding tokens / training time (`raft train`: the
trainer's train_runtime; the loop: wall time of its steps). Runs are interleaved, so a load change on the
machine hits every variant. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

BATCH = 4
LR = 2e-4


def run_raft(
    dataset: Path, base: str, out: Path, steps: int, precision: str, micro: int, layers: int | None
) -> tuple[int, float]:
    from raft.train.sft import TrainConfig, train

    cfg = TrainConfig(
        dataset=dataset, out=out, base_model=base, max_steps=steps, batch_size=micro, grad_accum=BATCH // micro, lr=LR,
        eval_steps=10_000, logging_steps=1, max_length=2048, overwrite=True, precision=precision,
        warmup_ratio=0.0, lr_scheduler="constant", lora_layers=layers,
    )  # fmt: skip
    manifest = train(cfg)
    return int(manifest["tokens_seen"]), float(manifest["train_seconds"])


def subset(dataset: Path, n: int, out: Path) -> Path:
    """A copy of `dataset` whose only split is its first n training rows."""
    from datasets import DatasetDict, load_from_disk

    shutil.copytree(dataset, out, ignore=shutil.ignore_patterns("hf"))
    train = load_from_disk(str(dataset / "hf"))["train"]
    DatasetDict({"train": train.select(range(n))}).save_to_disk(str(out / "hf"))
    return out


def _rows(dataset: Path, tokenizer, n: int) -> list[tuple[list[int], list[int]]]:
    """(input ids, labels) of the first n training rows: prompt + completion through the chat template."""
    from datasets import load_from_disk

    split = load_from_disk(str(dataset / "hf"))["train"]
    out = []
    for row in split.select(range(n)):
        kwargs = row.get("chat_template_kwargs") or {}
        prompt = tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, **kwargs)
        full = tokenizer.apply_chat_template(row["prompt"] + row["completion"], **kwargs)
        prompt, full = list(_ids(prompt)), list(_ids(full))
        out.append((full, [-100] * len(prompt) + full[len(prompt):]))
    return out


def _ids(enc):
    return enc["input_ids"] if isinstance(enc, dict) or hasattr(enc, "keys") else enc


def run_loop(dataset: Path, base: str, steps: int, precision: str, micro: int, layers: int | None) -> tuple[int, float]:
    import torch
    from peft import LoraConfig, get_peft_model

    from raft.models.loading import load_causal_lm, load_tokenizer

    torch.manual_seed(0)
    bf16 = precision == "bf16"
    tok = load_tokenizer(base)
    model = load_causal_lm(base, dtype=torch.bfloat16 if bf16 else torch.float32)
    modules: str | list[str] = "all-linear"
    top = {}
    if layers:  # PEFT takes layers_to_transform only with module names
        total = model.config.num_hidden_layers
        top = {"layers_to_transform": list(range(total - layers, total))}
        modules = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and ".layers." in n})
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules=modules, task_type="CAUSAL_LM", **top)
    model = get_peft_model(model, lora)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=LR)
    rows = _rows(dataset, tok, steps * BATCH)
    tokens, start = 0, time.perf_counter()
    for first in range(0, steps * BATCH, micro):  # an optimizer step every BATCH rows
        batch = rows[first : first + micro]
        width = max(len(ids) for ids, _ in batch)
        ids = torch.full((len(batch), width), tok.pad_token_id)
        labels = torch.full((len(batch), width), -100)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, (x, y) in enumerate(batch):
            ids[i, : len(x)], labels[i, : len(y)], mask[i, : len(x)] = torch.tensor(x), torch.tensor(y), 1
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        (loss * micro / BATCH).backward()
        tokens += int(mask.sum())
        if (first + micro) % BATCH:
            continue
        opt.step()
        opt.zero_grad(set_to_none=True)
    return tokens, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--base-model", default="smollm2-135m")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--precision", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--micro-batch", nargs="+", type=int, default=[BATCH],
                        help=f"rows per forward pass (1, 2 or 4); gradients accumulate to {BATCH} rows per step")
    parser.add_argument("--lora-layers", nargs="+", default=["all"],
                        help="'all', or N: LoRA on the last N decoder layers only")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-train-loop-"))
    data = subset(args.dataset, args.steps * BATCH, work / "data")
    results: dict[str, list[float]] = {}
    layer_choices = [None if n == "all" else int(n) for n in args.lora_layers]
    variants = [(p, m, n) for p in args.precision for m in args.micro_batch for n in layer_choices]
    for i in range(args.repeats):
        for precision, micro, layers in variants:
            label = f"{precision}, micro-batch {micro}, LoRA on {'all layers' if layers is None else f'last {layers} layers'}"
            for name, run in (
                (f"plain PyTorch LoRA loop, {label}", lambda p=precision, m=micro, n=layers: run_loop(data, args.base_model, args.steps, p, m, n)),
                (f"raft train, {label}", lambda p=precision, m=micro, n=layers, i=i: run_raft(data, args.base_model, work / f"raft-{p}-{m}-{n}-{i}", args.steps, p, m, n)),
            ):  # fmt: skip
                tokens, seconds = run()
                results.setdefault(name, []).append(tokens / seconds)
                print(f"# {name}: {tokens} tokens in {seconds:.1f} s = {tokens / seconds:.0f} tokens/s", flush=True)
    print(f"\n{args.base_model}, {args.steps} steps of {BATCH} rows, LoRA r16 all-linear, {args.repeats} repeats\n")
    print("| run | tokens/s (median) | all runs | vs plain loop, same precision, micro-batch and layers |")
    print("|---|---:|---|---:|")
    for name, values in results.items():
        label = name.split(", ", 1)[1]
        ref = statistics.median(results[f"plain PyTorch LoRA loop, {label}"])
        med = statistics.median(values)
        print(f"| {name} | {med:,.0f} | {', '.join(f'{v:,.0f}' for v in values)} | {med / ref:.2f}x |")


if __name__ == "__main__":
    main()
