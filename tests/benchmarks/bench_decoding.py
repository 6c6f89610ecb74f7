"""Decoding settings on validation questions: answer quality, loops and speed, side by side in one run.

    .venv/bin/python tests/benchmarks/bench_decoding.py DATASET_DIR MODEL [MODEL ...] [--rows 64]
        [--max-new-tokens 96] [--batch-size 16] [--repetition-penalty 1.0 1.1 1.2] [--base-model smollm2-135m]

DATASET_DIR is a `raft generate` output; each MODEL a `raft train` output trained from it (or any model `raft
eval` takes), or one of its checkpoints (an adapter directory on `--base-model`), so that a run's checkpoints
give a learning curve. The questions are the dataset's validation rows (carved from training documents, never test
questions), each with the context it was built with (oracle and distractors; the answer to a row built without its
oracle is the abstention). Every setting generates greedily
for the same rows with `raft eval`'s generator (batches sorted by length) and is scored with `raft eval`'s
metrics. `--repetition-penalty` is applied to the tokens the model generated only, never to the prompt it
copies quotes from. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

_DOC = re.compile(r"<DOCUMENT \d+: [^>]*>\n(.*?)\n</DOCUMENT>", re.DOTALL)


def main() -> None:
    from datasets import load_from_disk

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("models", nargs="+")
    parser.add_argument("--base-model", default="smollm2-135m", help="the base of a checkpoint's adapter")
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repetition-penalty", nargs="+", type=float, default=[1.0, 1.1, 1.2])
    parser.add_argument("--save", type=Path, default=None, help="write every output here (JSONL) for reading")
    args = parser.parse_args()

    rows = load_from_disk(str(args.dataset / "hf"))["validation"]
    rows = rows.select(range(min(args.rows, len(rows))))
    convs = [list(r["prompt"]) for r in rows]
    table = []
    for model in args.models:
        gen = _generator(model, args.base_model)
        for penalty in args.repetition_penalty:
            table.append(_row(gen, model, penalty, rows, convs, args))
            print(f"# {table[-1]}", flush=True)
    print(f"\n{len(convs)} validation rows of {args.dataset}, greedy, max {args.max_new_tokens} new tokens, "
          f"batches of {args.batch_size}\n")  # fmt: skip
    print("| model | repetition penalty | EM | F1 | format | trunc | quote valid | cite prec | tokens | s | tok/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(table))


def _row(gen, model: str, penalty: float, rows, convs: list, args: argparse.Namespace) -> str:
    """One Markdown table row: `gen` answering every row greedily with this repetition penalty."""
    from raft.eval.metrics import mean, score_output
    from raft.prompts import extract_answer
    from raft.serve.decoding import DecodingConfig

    cfg = DecodingConfig(max_new_tokens=args.max_new_tokens, repetition_penalty=penalty)
    t0 = time.perf_counter()
    done = gen.generate(convs, cfg, batch_size=args.batch_size)
    seconds = time.perf_counter() - t0
    scores = []
    for row, c in zip(rows, done, strict=True):
        docs = _DOC.findall(row["prompt"][-1]["content"])
        oracle = [docs[i] for i in row["oracle_positions"] if i < len(docs)]
        gold = extract_answer(row["completion"][-1]["content"])  # the abstention where no oracle was given
        scores.append(score_output(c.text, gold, docs, oracle, finish_reason=c.finish_reason))
    tokens = sum(c.completion_tokens for c in done)
    if args.save is not None:
        with open(args.save, "a") as f:
            for row, c, sc in zip(rows, done, scores, strict=True):
                f.write(json.dumps({"model": model, "penalty": penalty, "id": row["id"], "output": c.text,
                                    "finish_reason": c.finish_reason, "em": sc["em_strict"]}) + "\n")

    def pct(key: str) -> str:
        value = mean([s[key] for s in scores])
        return "–" if value is None else f"{100 * value:.1f}"

    return (
        f"| {model} | {penalty} | {pct('em_strict')} | {pct('f1_strict')} | {pct('format')} | {pct('truncated')} "
        f"| {pct('quote_validity')} | {pct('citation_precision')} | {tokens} | {seconds:.0f} | {tokens / seconds:.1f} |"
    )


def _generator(model: str, base: str):
    """A `raft train` output as `raft eval` loads it; a bare checkpoint as its adapter on `base`."""
    from raft.serve.generators import LocalGenerator, ModelRef, load_generator

    path = Path(model)
    if (path / "adapter_config.json").is_file() and not (path / "manifest.json").is_file():
        return LocalGenerator(ModelRef(base=base, adapter=str(path), prompt_version=None))
    return load_generator(model)


if __name__ == "__main__":
    main()
