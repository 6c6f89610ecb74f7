"""Local generation engines side by side: eval-style batched throughput and chat time to first token.

Same model (SmolLM2-135M-Instruct, the offline copy `raft pull smollm2-135m` makes, or --model DIR),
same prompts (RAFT prompts with 4 chunks retrieved from the bundled corpus for its gold questions),
same greedy decoding. Each engine is compared with today's reference, fp32 eager transformers
(`--engine torch-fp32`): tokens/s of `generate` in batches (as `raft eval` runs), time to first token
of one streamed chat request (as `raft chat` / `raft serve` run), and the share of answers that differ
from the reference. The onnx engines (ONNX Runtime GenAI) convert the model once into the model cache
before they are timed, and run one request at a time. Engines that are not installed get a row saying
which extra to install.

    .venv/bin/python tests/benchmarks/bench_engines.py [--questions 32] [--max-new-tokens 96] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
# Engines that need a package this project does not install; a row names what is missing.
NOT_INSTALLED = {
    "llama.cpp (llama-cpp-python)": "no binary wheel on the package index (source build only)",
    "OpenVINO GenAI": "openvino-genai, plus an OpenVINO IR export (optimum-intel, which pins an older transformers)",
}


def conversations(n: int, k: int = 4) -> list[list[dict]]:
    """RAFT prompts: each gold question with its top-k chunks from the bundled corpus."""
    from raft.index.build import IndexConfig, build_index
    from raft.index.retriever import Retriever
    from raft.prompts import build_messages

    corpus = ROOT / "corpora" / "helpdesk"
    questions = [json.loads(line)["question"] for line in (corpus / "questions.jsonl").read_text().splitlines()[:n]]
    with tempfile.TemporaryDirectory() as tmp:
        build_index(IndexConfig(corpus=corpus / "docs", out=Path(tmp) / "index"))
        hits = Retriever.load(Path(tmp) / "index").search_batch(questions, k=k)
    return [build_messages(q, h) for q, h in zip(questions, hits, strict=True)]


def measure(model_dir: Path, engine: str, convs: list[list[dict]], args: argparse.Namespace) -> dict:
    from raft.serve.generators import DecodingConfig, load_generator

    gen = load_generator(str(model_dir), device="cpu", engine=engine)
    cfg = DecodingConfig(max_new_tokens=args.max_new_tokens)
    gen.generate(convs[: args.batch_size], DecodingConfig(max_new_tokens=4), batch_size=args.batch_size)  # warm-up
    t0 = time.perf_counter()
    done = gen.generate(convs, cfg, batch_size=args.batch_size)
    seconds = time.perf_counter() - t0
    ttfts = []
    for messages in convs[: args.ttft_samples]:
        stream = gen.open_stream(messages, DecodingConfig(max_new_tokens=8))
        "".join(stream)  # one request at a time, as a lone chat user sends it
        ttfts.append(stream.first_token_s or float("nan"))
    tokens = sum(c.completion_tokens for c in done)
    return {"texts": [c.text for c in done], "tokens": tokens, "seconds": seconds, "ttft": statistics.median(ttfts)}


def main() -> None:
    import torch

    from raft.errors import RaftError
    from raft.models import offline

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m", help="A model dir or offline alias [smollm2-135m].")
    parser.add_argument("--questions", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--ttft-samples", type=int, default=3)
    parser.add_argument("--engines", default="torch-fp32,torch-bf16,onnx-fp32,onnx-int4")
    args = parser.parse_args()
    convs = conversations(args.questions)
    model_dir = Path(offline.resolve(args.model))
    results = {}
    for engine in args.engines.split(","):
        try:
            results[engine] = measure(model_dir, engine, convs, args)
        except RaftError as exc:  # an optional engine that is not installed
            NOT_INSTALLED[engine] = str(exc)
    ref = results["torch-fp32"]
    base = ref["tokens"] / ref["seconds"]
    print(f"\n{len(convs)} RAFT prompts (4 retrieved chunks each), greedy, max {args.max_new_tokens} new tokens, "
          f"batch {args.batch_size}; {model_dir.name}; torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}\n")  # fmt: skip
    print("| engine | new tokens | seconds | tokens/s | vs fp32 eager | TTFT (chat, median) | answers differing |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        differ = sum(a != b for a, b in zip(r["texts"], ref["texts"], strict=True)) / len(convs)
        rate = r["tokens"] / r["seconds"]
        print(f"| {name} | {r['tokens']} | {r['seconds']:.1f} | {rate:.1f} | {rate / base:.2f}× | "
              f"{r['ttft']:.2f} s | {differ:.0%} |")  # fmt: skip
    for name, why in NOT_INSTALLED.items():
        print(f"| {name} | – | – | – | – | – | not measured: {why} |")


if __name__ == "__main__":
    main()
