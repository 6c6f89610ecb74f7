"""Batched generation (raft.serve.generators, as `raft eval` uses it) vs one question at a time with `model.generate`.

Same model, same prompts (RAFT prompts over real PubMedQA questions and contexts, read from
../shared/datasets), same greedy decoding. The model is `--model` (any model directory, hub id or offline
alias; default SmolLM2-135M-Instruct). The table in RESULTS.md was measured with a random-init Llama of
about 25M parameters built by the since-removed `raft tiny-model` builder. Prints a Markdown table of
throughput.

    .venv/bin/python tests/benchmarks/bench_generation.py [--model smollm2-135m] [--questions 32] [--max-new-tokens 48]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PUBMEDQA = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "pubmedqa" / "ori_pqal.json"


def conversations(records: list[dict], n: int, n_docs: int) -> list[list[dict]]:
    from raft.prompts import Document, build_messages

    convs = []
    for rec in records[:n]:
        docs = [
            Document(title=label.title(), text=text)
            for label, text in zip(rec["LABELS"], rec["CONTEXTS"], strict=True)
        ]
        convs.append(build_messages(rec["QUESTION"], docs[:n_docs]))
    return convs


def one_at_a_time(model_dir: str, convs: list[list[dict]], max_new_tokens: int) -> tuple[int, float]:
    """Plain transformers: one `model.generate` call per question (greedy)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from raft.models.loading import stop_token_ids

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    eos = stop_token_ids(tok, model.generation_config)
    texts = [tok.apply_chat_template(m, add_generation_prompt=True, tokenize=False) for m in convs]
    encs = [tok(t, return_tensors="pt", add_special_tokens=False) for t in texts]
    kwargs = {
        "max_new_tokens": max_new_tokens,
        "do_sample": False,
        "eos_token_id": eos,
        "pad_token_id": tok.pad_token_id,
    }
    with torch.inference_mode():
        model.generate(**encs[0], **kwargs)  # warm-up
        t0 = time.perf_counter()
        tokens = sum(model.generate(**enc, **kwargs).shape[1] - enc["input_ids"].shape[1] for enc in encs)
    return tokens, time.perf_counter() - t0


def batched(
    model_dir: str, convs: list[list[dict]], max_new_tokens: int, batch_size: int
) -> tuple[int, float]:
    """raft.serve.generators's LocalGenerator: length-sorted batches with left padding."""
    from raft.serve.generators import DecodingConfig, load_generator

    gen = load_generator(model_dir, device="cpu")
    cfg = DecodingConfig(max_new_tokens=max_new_tokens)
    gen.generate(convs[:batch_size], cfg, batch_size=batch_size)  # warm-up
    t0 = time.perf_counter()
    done = gen.generate(convs, cfg, batch_size=batch_size)
    return sum(c.completion_tokens for c in done), time.perf_counter() - t0


def main() -> None:
    import torch

    from raft.models.offline import resolve

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m", help="model directory, hub id or offline alias")
    parser.add_argument("--questions", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--docs", type=int, default=2, help="PubMedQA abstract sections per prompt")
    parser.add_argument("--batch-sizes", default="8,16,32")
    args = parser.parse_args()
    records = list(json.loads(PUBMEDQA.read_text()).values())[:300]
    convs = conversations(records, args.questions, args.docs)
    model_dir = resolve(args.model)
    params = sum(
        p.numel() for p in __import__("transformers").AutoModelForCausalLM.from_pretrained(model_dir).parameters()
    )
    rows = [("one at a time (`model.generate`)", 1, *one_at_a_time(model_dir, convs, args.max_new_tokens))]
    for bs in (int(b) for b in args.batch_sizes.split(",")):
        rows.append(("batched (`raft.serve.generators`)", bs, *batched(model_dir, convs, args.max_new_tokens, bs)))
    base = rows[0][2] / rows[0][3]
    print(f"\n{args.questions} PubMedQA RAFT prompts ({args.docs} documents each), greedy, max {args.max_new_tokens} new tokens; "
          f"{args.model}, {params / 1e6:.1f}M parameters; torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads\n")  # fmt: skip
    print("| mode | batch | new tokens | seconds | tokens/s | speed-up |")
    print("|---|---|---|---|---|---|")
    for mode, bs, tokens, seconds in rows:
        print(
            f"| {mode} | {bs} | {tokens} | {seconds:.1f} | {tokens / seconds:.1f} | {tokens / seconds / base:.2f}× |"
        )


if __name__ == "__main__":
    main()
