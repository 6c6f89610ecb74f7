"""Training throughput: `raft train` against a plain TRL script with identical settings, and packing on/off.

    .venv/bin/python tests/benchmarks/bench_train.py [--steps 20] [--repeats 2] [--base-model smollm2-135m] [--dataset DIR]

--base-model is any model directory, hub id or offline alias (default SmolLM2-135M-Instruct; the tables in
RESULTS.md were measured with a from-scratch tiny model built by the since-removed `raft tiny-model`);
without --dataset a RAFT-format dataset is built from the bundled gold
questions (oracle passage + 2 distractor passages, chain-of-thought answer). Both sides train LoRA
in fp32 on CPU (bf16 on a GPU), load the same model from disk, tokenize the same rows, evaluate once
at the end and save one checkpoint; tokens/s = non-padding tokens seen / trainer train_runtime.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

ROOT = Path(__file__).resolve().parents[2]


def build_dataset(out: Path, n_train: int, n_eval: int) -> Path:
    from datasets import Dataset, DatasetDict

    from raft import artifacts, prompts

    rng = random.Random(0)
    lines = (ROOT / "corpora" / "helpdesk" / "questions.jsonl").read_text().splitlines()
    items = [json.loads(line) for line in lines[: n_train + n_eval]]
    rows = []
    for q in items:
        others = rng.sample([p for p in items if p["doc_id"] != q["doc_id"]], 2)
        docs = [prompts.Document(d["doc_id"], d["passage"]) for d in [q, *others]]
        rng.shuffle(docs)
        cot = f"The document says {prompts.format_quote(q['passage'])} {prompts.ANSWER_TAG} {q['answer']}"
        rows.append(
            {
                "prompt": prompts.build_messages(q["question"], docs),
                "completion": [{"role": "assistant", "content": cot}],
            }
        )
    DatasetDict(train=Dataset.from_list(rows[:n_train]), validation=Dataset.from_list(rows[n_train:])).save_to_disk(
        str(out / "hf")
    )
    artifacts.write_manifest(out, "dataset", {"prompt": prompts.contract(), "mode": "raft"})
    return out


def run_raft(dataset: Path, base: str, out: Path, steps: int, packing: bool) -> dict:
    from raft.train.sft import TrainConfig, train

    cfg = TrainConfig(
        dataset=dataset, out=out, base_model=base, max_steps=steps, batch_size=4, grad_accum=1, lr=1e-3,
        eval_steps=steps, logging_steps=5, max_length=1024, packing=packing, overwrite=True, lora_r=8, lora_alpha=16,
    )  # fmt: skip
    manifest = train(cfg)
    return {"tokens": manifest["tokens_seen"], "seconds": manifest["train_seconds"]}


def run_plain_trl(dataset: Path, base: str, out: Path, steps: int, packing: bool) -> dict:
    """The TRL quick-start recipe with the same knobs `raft train` resolves to."""
    import torch
    from datasets import load_from_disk
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    cuda = torch.cuda.is_available()
    ds = load_from_disk(str(dataset / "hf"))
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.bfloat16 if cuda else torch.float32)
    args = SFTConfig(
        output_dir=str(out), max_steps=steps, per_device_train_batch_size=4, per_device_eval_batch_size=4,
        gradient_accumulation_steps=1, learning_rate=1e-3, warmup_steps=0.03, lr_scheduler_type="cosine",
        logging_steps=5, eval_strategy="steps", eval_steps=steps, save_strategy="steps", save_steps=steps,
        load_best_model_at_end=True, metric_for_best_model="eval_loss", max_length=1024, packing=packing,
        bf16=cuda, use_cpu=not cuda, activation_checkpointing=cuda, include_num_input_tokens_seen="non_padding",
        report_to="none", seed=0, data_seed=0,
    )  # fmt: skip
    lora = LoraConfig(
        r=8, lora_alpha=16, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM"
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=ds["train"],
        eval_dataset=ds["validation"],
        processing_class=tok,
        peft_config=lora,
    )
    result = trainer.train()
    trainer.save_model(str(out / "final"))
    return {"tokens": int(trainer.state.num_input_tokens_seen), "seconds": result.metrics["train_runtime"]}


def main() -> None:
    from raft.models.offline import resolve

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--base-model", default="smollm2-135m")
    parser.add_argument("--dataset", type=Path, default=None)
    parser.add_argument("--rows", type=int, default=96)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-train-"))
    base = resolve(args.base_model)  # plain TRL loads it with from_pretrained: an alias becomes its directory
    dataset = args.dataset or build_dataset(work / "dataset", args.rows, 8)
    runners = {
        "plain TRL, no packing": lambda i: run_plain_trl(dataset, base, work / f"trl-{i}", args.steps, False),
        "raft train, no packing": lambda i: run_raft(dataset, base, work / f"raft-{i}", args.steps, False),
        "plain TRL, packing (bfd, padding-free)": lambda i: run_plain_trl(dataset, base, work / f"trlp-{i}", args.steps, True),
        "raft train, packing (bfd, padding-free)": lambda i: run_raft(dataset, base, work / f"raftp-{i}", args.steps, True),
    }  # fmt: skip
    results: dict[str, list[float]] = {name: [] for name in runners}
    for i in range(args.repeats):  # interleaved, so load changes on a shared machine hit every variant
        for name, run in runners.items():
            start = time.perf_counter()
            r = run(i)
            results[name].append(r["tokens"] / r["seconds"])
            print(
                f"# {name}: {r['tokens']} tokens in {r['seconds']:.1f}s (wall {time.perf_counter() - start:.1f}s)"
            )
    ref = statistics.median(results["plain TRL, no packing"])
    ref_p = statistics.median(results["plain TRL, packing (bfd, padding-free)"])
    print(f"\n{args.steps} steps, batch 4, LoRA r=8, {args.repeats} interleaved repeats, median tokens/s\n")
    print("| run | tokens/s (median) | all runs | vs plain TRL same packing |")
    print("|---|---:|---|---:|")
    for name, values in results.items():
        med = statistics.median(values)
        rel = med / (ref_p if "packing (" in name else ref)
        print(f"| {name} | {med:,.0f} | {', '.join(f'{v:,.0f}' for v in values)} | {rel:.2f}x |")


if __name__ == "__main__":
    main()
