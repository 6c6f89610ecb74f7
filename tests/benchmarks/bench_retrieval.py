"""Retrieval quality of `raft index` + `Retriever`: recall@1/5/10 and MRR of the gold document.

Datasets (read from ../shared/datasets, never copied into the project):
  helpdesk  the bundled corpus, questions of the test split
  aws       AWS documentation QA: its 100 questions over the 56 gold pages plus same-guide pages
            drawn with a fixed seed (--aws-pages in total)
  pubmedqa  PubMedQA PQA-L: each record's abstract contexts are one document (1,000 documents);
            the 500 official test questions

    .venv/bin/python tests/benchmarks/bench_retrieval.py [--datasets helpdesk,aws,pubmedqa] [--aws-pages 300]

A hit counts for the gold document when any of its chunks is in the top k (k = 1, 5, 10); MRR uses
the rank of the first gold chunk within the top 10. Dense and hybrid (BM25 + dense, RRF) both run.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[2]
DATASETS = ROOT / ".." / "shared" / "datasets"


def helpdesk(tmp: Path, args: argparse.Namespace) -> tuple[Path, list[tuple[str, str]], str]:
    corpus = ROOT / "corpora" / "helpdesk"
    rows = [json.loads(line) for line in (corpus / "questions.jsonl").open()]
    qs = [(r["question"], r["doc_id"]) for r in rows if r["split"] == "test"]
    return corpus / "docs", qs, f"{sum(1 for _ in (corpus / 'docs').rglob('*.md'))} docs"


def aws(tmp: Path, args: argparse.Namespace) -> tuple[Path, list[tuple[str, str]], str]:
    base = DATASETS / "aws-documentation-qa"
    with (base / "QA_true.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    qs = [(r["Question"].strip(), r["Document_True"].strip().removesuffix(".md")) for r in rows]
    gold = sorted({doc for _, doc in qs})
    pages = sorted(p for p in (base / "documents").glob("*/doc_source/*.md"))
    ids = {f"{p.parts[-3]}/{p.stem}": p for p in pages}
    others = sorted(set(ids) - set(gold))
    chosen = gold + random.Random(0).sample(others, max(0, args.aws_pages - len(gold)))
    corpus = tmp / "aws"
    for doc_id in chosen:
        link = corpus / f"{doc_id}.md"
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(ids[doc_id].resolve())
    return corpus, qs, f"{len(gold)} gold + {len(chosen) - len(gold)} same-guide pages"


def pubmedqa(tmp: Path, args: argparse.Namespace) -> tuple[Path, list[tuple[str, str]], str]:
    base = DATASETS / "pubmedqa"
    records = json.loads((base / "ori_pqal.json").read_text())
    test_ids = json.loads((base / "test_ground_truth.json").read_text())
    corpus = tmp / "pubmed.jsonl"
    with corpus.open("w") as fh:
        for pmid, rec in records.items():
            text = "\n\n".join(rec["CONTEXTS"])
            fh.write(json.dumps({"id": pmid, "title": f"PubMed {pmid}", "text": text}) + "\n")
    qs = [(records[pmid]["QUESTION"], pmid) for pmid in test_ids]
    return corpus, qs, f"{len(records)} abstracts"


def evaluate(index_dir: Path, qs: list[tuple[str, str]], hybrid: bool) -> dict[str, float]:
    from raft.index.retriever import Retriever

    retriever = Retriever.load(index_dir)
    start = time.perf_counter()
    results = retriever.search_batch([q for q, _ in qs], k=10, hybrid=hybrid)
    seconds = time.perf_counter() - start
    ranks = []
    for (_, gold), hits in zip(qs, results, strict=True):
        ranks.append(next((h.rank for h in hits if h.doc_id == gold), None))
    n = len(qs)
    out = {f"R@{k}": sum(1 for r in ranks if r and r <= k) / n for k in (1, 5, 10)}
    out["MRR@10"] = sum(1 / r for r in ranks if r) / n
    out["ms/query"] = 1000 * seconds / n
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="helpdesk,aws,pubmedqa")
    parser.add_argument("--aws-pages", type=int, default=300)
    args = parser.parse_args()

    from raft.index.build import IndexConfig, build_index

    loaders = {"helpdesk": helpdesk, "aws": aws, "pubmedqa": pubmedqa}
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for name in args.datasets.split(","):
            corpus, qs, what = loaders[name](tmp, args)
            start = time.perf_counter()
            manifest = build_index(IndexConfig(corpus=corpus, out=tmp / f"{name}-index", hybrid=True))
            build_s = time.perf_counter() - start
            for hybrid in (False, True):
                m = evaluate(tmp / f"{name}-index", qs, hybrid)
                rows.append((name, what, manifest["counts"]["chunks"], len(qs), build_s, hybrid, m))
    print(
        "\n| dataset | corpus | chunks | questions | index s | mode | R@1 | R@5 | R@10 | MRR@10 | ms/query |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, what, chunks, n, build_s, hybrid, m in rows:
        print(
            f"| {name} | {what} | {chunks} | {n} | {build_s:.0f} | {'hybrid' if hybrid else 'dense'} | "
            f"{m['R@1']:.3f} | {m['R@5']:.3f} | {m['R@10']:.3f} | {m['MRR@10']:.3f} | {m['ms/query']:.1f} |"
        )


if __name__ == "__main__":
    main()
