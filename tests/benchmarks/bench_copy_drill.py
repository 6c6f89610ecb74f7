"""How fast does a tiny model learn to copy from its context? The copy drill of `raft tiny-model`.

    PYTHONPATH=$PWD .venv/bin/python tests/benchmarks/bench_copy_drill.py --arch lfm2 --layers 2 --steps 200
    PYTHONPATH=$PWD .venv/bin/python tests/benchmarks/bench_copy_drill.py --arch llama --layers 4 --steps 200
    PYTHONPATH=$PWD .venv/bin/python tests/benchmarks/bench_copy_drill.py --precision fp32 bf16 --steps 300 --every 100

Builds the tokenizer and a random-init model as `raft tiny-model` does (bundled corpus minus nothing),
trains on `raft.models.tiny.copy_batches` with `raft.models.tiny.train_steps`, and reports, every
`--every` steps, the copy accuracy: the share of quoted tokens after the first one that the model
predicts (argmax) on 64 held-out drill rows (another seed), with the wall time and the load average.
`--precision fp32 bf16` trains the same model from the same seed once per precision (bf16: the
`--bf16` autocast of `raft tiny-model`) and reports seconds per step and accuracy side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path

from raft.index.corpus import SAMPLE_DOCS


def copy_accuracy(model, batches, n_batches: int = 4) -> float:
    import torch

    hit = total = 0
    model.eval()
    with torch.no_grad():
        for _ in range(n_batches):
            x, y, mask = next(batches)
            pred = model(input_ids=x, attention_mask=mask).logits[:, :-1].argmax(-1)
            gold = y[:, 1:]
            scored = gold != -100
            first = scored & ~torch.cat([torch.zeros_like(scored[:, :1]), scored[:, :-1]], 1)
            keep = scored & ~first  # the first quoted token has no cue: any start is a valid quote
            hit += ((pred == gold) & keep).sum().item()
            total += keep.sum().item()
    return hit / total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", choices=["lfm2", "llama"], default="lfm2")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--context", type=int, nargs=2, default=(32, 128))
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--precision", nargs="+", choices=["fp32", "bf16"], default=["fp32"])
    a = ap.parse_args()
    import torch

    from raft.models.tiny import (
        TinyModelConfig,
        copy_batches,
        corpus_ids,
        init_model,
        read_corpus_texts,
        train_steps,
        train_tokenizer,
    )

    torch.set_num_threads(os.cpu_count() or 1)
    cfg = TinyModelConfig(out=Path("unused"), arch=a.arch, layers=a.layers, hidden_size=a.hidden,
                          intermediate_size=2 * a.hidden, heads=a.heads, kv_heads=a.kv_heads, copy_steps=a.steps,
                          copy_batch_size=a.batch_size, copy_context=tuple(a.context), copy_lr=a.lr, seed=a.seed)  # fmt: skip
    texts = read_corpus_texts(SAMPLE_DOCS)
    tok = train_tokenizer(texts, cfg.vocab_size, cfg.max_positions)
    ids = corpus_ids(tok, texts)

    def run(precision: str) -> dict:
        model = init_model(cfg, tok)
        held_out = copy_batches(ids, tok, replace(cfg, seed=cfg.seed + 1000))
        t0 = time.perf_counter()
        checks = 0.0  # seconds spent measuring, left out of the per-step time
        curve = []

        def measure(step: int) -> None:
            nonlocal checks
            if step % a.every and step != a.steps:
                return
            t = time.perf_counter()
            acc = copy_accuracy(model, held_out)
            model.train()
            checks += time.perf_counter() - t
            curve.append({"precision": precision, "steps": step, "copy_accuracy": round(acc, 3),
                          "seconds": round(time.perf_counter() - t0, 1)})  # fmt: skip
            print(json.dumps(curve[-1]), flush=True)

        train_steps(model, copy_batches(ids, tok, cfg), a.steps, a.lr, "copy drill", on_step=measure,
                    bf16=precision == "bf16")  # fmt: skip
        per_step = (time.perf_counter() - t0 - checks) / a.steps
        params = sum(p.numel() for p in model.parameters())
        return {"precision": precision, "seconds_per_step": round(per_step, 3), "final": curve[-1], "params": params}

    runs = [run(precision) for precision in a.precision]
    load = os.getloadavg()
    print(json.dumps({"arch": a.arch, "layers": a.layers, "hidden": a.hidden, "runs": runs,
                      "load_avg_1m": round(load[0], 2)}))  # fmt: skip


if __name__ == "__main__":
    main()
