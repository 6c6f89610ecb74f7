"""LoRA inference speed: the base model, the same base with a LoRA adapter merged into an in-memory copy
(what `raft eval/chat/serve` do by default), and the unmerged PEFT wrapper (`--no-merge`), side by side on
the same prompts with the same greedy decoding: `generate` on each loaded model over left-padded batches.
Also checks that merged and unmerged greedy outputs are identical.

    .venv/bin/python tests/benchmarks/bench_lora_merge.py --model MODEL_DIR [--adapter RAFT_MODEL_DIR]

Without --adapter, a rank-16 all-linear adapter with random (non-zero) weights is built for --model.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def prompts(n: int) -> list[list[dict]]:
    from raft.prompts import build_messages

    path = ROOT / "corpora" / "helpdesk" / "questions.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()][:n]
    docs = [{"title": "Note", "text": "Reset your password on the account page; it takes a minute."}]
    return [build_messages(r["question"], docs) for r in rows]


def make_adapter(model: str, out: Path, rank: int) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from raft.artifacts import write_manifest
    from raft.prompts import contract

    torch.manual_seed(0)
    peft = get_peft_model(
        AutoModelForCausalLM.from_pretrained(model),
        LoraConfig(r=rank, lora_alpha=2 * rank, target_modules="all-linear", init_lora_weights=False),
    )
    peft.save_pretrained(out)
    AutoTokenizer.from_pretrained(model).save_pretrained(out)
    write_manifest(
        out, "model", {"base_model": model, "adapter": True, "prompt": contract()}
    )
    return out


def measure(gen, convs, new_tokens: int, batch_size: int, repeats: int) -> tuple[float, list[list[int]]]:
    """Decode tokens/s of `generate` over left-padded batches; every answer is forced to `new_tokens` tokens
    (min_new_tokens), so a model that would stop at once is still measured on the same amount of decoding."""
    import torch

    tok = gen.tokenizer
    texts = [gen._render(c) for c in convs]
    best, ids = 0.0, []
    for rep in range(repeats + 1):  # the first pass warms up
        t0, tokens, ids = time.perf_counter(), 0, []
        for start in range(0, len(texts), batch_size):
            enc = tok(
                texts[start : start + batch_size], return_tensors="pt", padding=True, add_special_tokens=False
            )
            with torch.inference_mode():
                out = gen.model.generate(
                    **enc.to(gen.device), max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                    do_sample=False, pad_token_id=tok.pad_token_id,
                )  # fmt: skip
            new = out[:, enc["input_ids"].shape[1] :]
            tokens += new.numel()
            ids += new.tolist()
        if rep:
            best = max(best, tokens / (time.perf_counter() - t0))
    return best, ids


def main() -> None:
    from raft.serve.generators import load_generator

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--adapter", default=None, help="A `raft train` LoRA MODEL_DIR for --model.")
    ap.add_argument("--questions", type=int, default=32)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    convs = prompts(args.questions)
    with tempfile.TemporaryDirectory() as tmp:
        adapter = args.adapter or str(make_adapter(args.model, Path(tmp) / "adapter", args.rank))
        rows = []
        for name, kwargs in (
            ("base model", {"spec": args.model}),
            ("base + LoRA, merged (default)", {"spec": adapter}),
            ("base + LoRA, unmerged (--no-merge)", {"spec": adapter, "merge": False}),
        ):
            gen = load_generator(kwargs.pop("spec"), device=args.device, **kwargs)
            tps, texts = measure(gen, convs, args.max_new_tokens, args.batch_size, args.repeats)
            rows.append((name, tps, texts))
            del gen
    base = rows[0][1]
    print(f"\n{len(convs)} prompts, greedy, max_new_tokens={args.max_new_tokens}, batch {args.batch_size}, "
          f"best of {args.repeats}\n")  # fmt: skip
    print("| model | tokens/s | vs base |")
    print("|---|---|---|")
    for name, tps, _ in rows:
        print(f"| {name} | {tps:.0f} | {tps / base:.2f}× |")
    same = rows[1][2] == rows[2][2]
    print(f"\nmerged and unmerged greedy token ids identical: {same} ({len(rows[1][2])} answers)")


if __name__ == "__main__":
    main()
