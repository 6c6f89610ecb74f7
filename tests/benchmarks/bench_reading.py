"""Choose the demo's reading base model on VALIDATION questions only (never the test split).

Validation: 15% of the training-split documents of the bundled corpus (seeded), with their gold
questions. Their documents and every test document are excluded from the base model's tokenizer,
pretraining and reading-stage text; RAFT rows are built from the remaining training questions only.

For one variant it measures, with timings and the load average:
  (a) base + RAG: the base model alone, oracle + 3 hard distractors in context;
  (b) RAFT + RAG: after a short RAFT full fine-tune of that base, same contexts.
EM / F1 are raft.eval.metrics on prompts.extract_answer of the greedy output.

    PYTHONPATH=$PWD HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false python tests/benchmarks/bench_reading.py \\
        --work /tmp/bench_reading --name r600 --reading-steps 600 --raft-steps 150

Figures append to WORK/results.jsonl (one JSON object per variant).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "corpora" / "helpdesk" / "docs"
QUESTIONS = ROOT / "corpora" / "helpdesk" / "questions.jsonl"


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip().split("load average:")[-1].strip()


def prepare(work: Path, chunk_size: int, distractors: int, val_share: float, seed: int) -> dict:
    """Split, index and RAFT rows (cached in WORK per chunk size / distractors)."""
    from datasets import DatasetDict, load_from_disk

    from raft.data.generate import GenerateConfig, generate_dataset
    from raft.index.build import IndexConfig, build_index

    qs = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    train_docs = sorted({q["doc_id"] for q in qs if q["split"] == "train"})
    test_docs = sorted({q["doc_id"] for q in qs if q["split"] == "test"})
    val_docs = sorted(random.Random(seed).sample(train_docs, round(val_share * len(train_docs))))
    prep = work / f"prep-c{chunk_size}-d{distractors}-s{seed}"
    info = {"val_docs": val_docs, "test_docs": test_docs, "prep": prep}
    if (prep / "done").is_file():
        return info
    prep.mkdir(parents=True, exist_ok=True)
    with open(prep / "qa.jsonl", "w") as f:  # test rows stay in the file only so their documents stay out
        for q in qs:
            split = "test" if q["split"] == "test" else "validation" if q["doc_id"] in val_docs else "train"
            f.write(json.dumps({**q, "split": split}) + "\n")
    build_index(IndexConfig(corpus=DOCS, out=prep / "index", chunk_size=chunk_size, overlap=24, overwrite=True))
    for name, p_oracle in (("raft", 0.8), ("val", 1.0)):
        generate_dataset(
            GenerateConfig(index=prep / "index", out=prep / name, qa=prep / "qa.jsonl", distractors=distractors,
                           p_oracle=p_oracle, seed=seed, overwrite=True)
        )
    splits = load_from_disk(str(prep / "raft" / "hf"))
    train_only = prep / "raft-train"
    shutil.rmtree(train_only, ignore_errors=True)
    DatasetDict({"train": splits["train"]}).save_to_disk(str(train_only / "hf"))
    shutil.copy(prep / "raft" / "manifest.json", train_only / "manifest.json")
    val = [json.loads(x) for x in (prep / "val" / "eval.jsonl").read_text().splitlines()]
    val = [r for r in val if r["oracle_doc_id"] in val_docs]
    (prep / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in val))
    (prep / "done").write_text("ok")
    return info


def evaluate(model: str, rows: list[dict], max_new_tokens: int) -> dict:
    from raft import prompts
    from raft.eval import metrics
    from raft.serve.generators import DecodingConfig, load_generator

    gen = load_generator(model)
    t0 = time.perf_counter()
    outs = gen.generate([r["prompt"] for r in rows], DecodingConfig(max_new_tokens=max_new_tokens), batch_size=16)
    em = [metrics.exact_match(prompts.extract_answer(o.text), r["answer"]) for o, r in zip(outs, rows, strict=True)]
    f1 = [metrics.token_f1(prompts.extract_answer(o.text), r["answer"]) for o, r in zip(outs, rows, strict=True)]
    quoted = [
        any(r["answer"].lower() in q.lower() for q in prompts.extract_quotes(o.text)) for o, r in zip(outs, rows, strict=True)
    ]
    return {
        "em": round(100 * sum(em) / len(em), 1),
        "f1": round(100 * sum(f1) / len(f1), 1),
        "quote_has_answer": round(100 * sum(quoted) / len(quoted), 1),
        "n": len(rows),
        "seconds": round(time.perf_counter() - t0, 1),
        "samples": [{"q": r["question"], "gold": r["answer"], "out": o.text} for o, r in list(zip(outs, rows, strict=False))[:3]],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=Path("/tmp/bench_reading"))
    ap.add_argument("--name", required=True)
    ap.add_argument("--chunk-size", type=int, default=128)
    ap.add_argument("--distractors", type=int, default=3)
    ap.add_argument("--val-share", type=float, default=0.15)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pretrain-steps", type=int, default=150)
    ap.add_argument("--reading-steps", type=int, default=0)
    ap.add_argument("--reading-lr", type=float, default=2e-3)
    ap.add_argument("--reading-batch-size", type=int, default=8)
    ap.add_argument("--reading-loss", choices=["answer", "all"], default="answer")
    ap.add_argument("--arch", choices=["lfm2", "llama"], default="lfm2")
    ap.add_argument("--copy-steps", type=int, default=0)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=4000)
    ap.add_argument("--raft-steps", type=int, default=150)
    ap.add_argument("--raft-lr", type=float, default=1e-3)
    ap.add_argument("--raft-batch-size", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--val-limit", type=int, default=None)
    ap.add_argument("--skip-raft", action="store_true")
    ap.add_argument("--reuse-base", type=Path, default=None, help="An existing base model dir (built with the same exclusions).")
    a = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from raft.models.tiny import TinyModelConfig, build_tiny_model
    from raft.train.sft import TrainConfig, train

    res: dict = {"name": a.name, "args": {k: str(v) for k, v in vars(a).items()}, "load_start": load()}
    t0 = time.perf_counter()
    info = prepare(a.work, a.chunk_size, a.distractors, a.val_share, a.seed)
    res["prepare_s"] = round(time.perf_counter() - t0, 1)
    rows = [json.loads(x) for x in (info["prep"] / "validation.jsonl").read_text().splitlines()]
    random.Random(a.seed).shuffle(rows)
    rows = rows[: a.val_limit]
    run = a.work / a.name
    shutil.rmtree(run, ignore_errors=True)
    t0 = time.perf_counter()
    base = a.reuse_base or build_tiny_model(
        TinyModelConfig(out=run / "base", corpus=DOCS, arch=a.arch, copy_steps=a.copy_steps, vocab_size=a.vocab,
                        hidden_size=a.hidden,
                        intermediate_size=2 * a.hidden, layers=a.layers, heads=a.heads, kv_heads=a.kv_heads,
                        pretrain_steps=a.pretrain_steps, reading_steps=a.reading_steps, reading_lr=a.reading_lr,
                        reading_batch_size=a.reading_batch_size,
                        reading_answer_only=a.reading_loss == "answer", reading_distractors=a.distractors,
                        exclude=tuple(info["val_docs"] + info["test_docs"]), seed=a.seed)
    )
    res["base_build_s"] = round(time.perf_counter() - t0, 1)
    manifest = json.loads((base / "manifest.json").read_text())
    res["base_manifest"] = {k: manifest.get(k) for k in ("parameters", "architecture", "copy_final_loss", "pretrain_seconds", "reading", "seconds")}
    res["load_after_base"] = load()
    if not a.reuse_base:
        res["base_rag"] = evaluate(str(base), rows, a.max_new_tokens)
    print(json.dumps({"name": a.name, "base_rag": res.get("base_rag"), "base_build_s": res["base_build_s"]}), flush=True)
    if not a.skip_raft:
        t0 = time.perf_counter()
        train(TrainConfig(dataset=info["prep"] / "raft-train", out=run / "raft", base_model=str(base), full=True,
                          lr=a.raft_lr, batch_size=a.raft_batch_size, grad_accum=1, max_steps=a.raft_steps,
                          eval_steps=10**6, early_stopping_patience=0, seed=a.seed, overwrite=True))
        res["raft_train_s"] = round(time.perf_counter() - t0, 1)
        res["load_after_raft"] = load()
        res["raft_rag"] = evaluate(str(run / "raft"), rows, a.max_new_tokens)
    res["load_end"] = load()
    with open(a.work / "results.jsonl", "a") as f:
        f.write(json.dumps(res) + "\n")
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
