"""Benchmark `raft generate` context mixing on real QA data (PubMedQA; optionally SQuAD 2.0 dev).

Measures rows/s of context assembly with hard mining (teacher time excluded: CoT answers are
composed beforehand; question embedding timed separately) and how hard the distractors are:
mean cosine similarity to the question, share containing the gold answer, share from the oracle's
own document group, for `hard`, `mixed` and `random`, plus plain top-k retrieval as a reference.

    .venv/bin/python tests/benchmarks/bench_generate.py [--squad] [--work /tmp/raft-bench-generate]
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import time
from pathlib import Path

import numpy as np

from raft.data.contexts import ChunkPool
from raft.data.generate import GenerateConfig
from raft.data.loaders import read_qa
from raft.data.oracles import resolve_oracles
from raft.data.rows import Question, Row, RowMaker
from raft.data.teacher import AnswerRequest, DeterministicTeacher
from raft.index.build import IndexConfig, build_index
from raft.index.retriever import Retriever

DATASETS = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets"


def pubmedqa_corpus(work: Path) -> tuple[Path, Path]:
    """PubMedQA contexts as JSONL documents with id `<pmid>-<i>`, and the QA file."""
    qa = DATASETS / "pubmedqa" / "ori_pqal.json"
    docs = work / "pubmedqa-docs" / "contexts.jsonl"
    if not docs.exists():
        docs.parent.mkdir(parents=True, exist_ok=True)
        with docs.open("w") as fh:
            for pmid, rec in json.loads(qa.read_text()).items():
                for i, (text, label) in enumerate(zip(rec["CONTEXTS"], rec["LABELS"], strict=True)):
                    fh.write(
                        json.dumps(
                            {"id": f"{pmid}-{i}", "title": f"PMID {pmid} {label.title()}", "text": text}
                        )
                        + "\n"
                    )
    return docs, qa


def squad_corpus(work: Path) -> tuple[Path, Path]:
    """SQuAD 2.0 dev paragraphs as JSONL documents."""
    qa = DATASETS / "squad-v2-dev" / "dev-v2.0.json"
    docs = work / "squad-docs" / "paragraphs.jsonl"
    if not docs.exists():
        docs.parent.mkdir(parents=True, exist_ok=True)
        with docs.open("w") as fh:
            for article in json.loads(qa.read_text())["data"]:
                for n, para in enumerate(article["paragraphs"]):
                    fh.write(
                        json.dumps(
                            {
                                "id": f"{article['title']}-{n}",
                                "title": article["title"].replace("_", " "),
                                "text": para["context"],
                            }
                        )
                        + "\n"
                    )
    return docs, qa


class CachedEmbeddings:
    """The retriever with question vectors computed once, so mixing is timed without the embedder."""

    def __init__(self, retriever: Retriever, texts: list[str]) -> None:
        self._r = retriever
        self._vecs = dict(zip(texts, retriever.embed(texts), strict=True))
        self.chunks, self.manifest = retriever.chunks, retriever.manifest

    def search_batch(self, queries, k=5, hybrid=None):
        scores, rows = self._r.index.search(np.stack([self._vecs[q] for q in queries]), k)
        return [
            [self._r.hit(self._r.chunks[i], s, n) for n, (s, i) in enumerate(zip(sc, rw, strict=True), 1)]
            for sc, rw in zip(scores, rows, strict=True)
        ]


class ReplayTeacher(DeterministicTeacher):
    """Returns answers composed before the timer starts."""

    def __init__(self, answers: dict[str, str]) -> None:
        super().__init__()
        self._answers = answers

    def answers(self, requests):
        return [self._answers[r.question] for r in requests]


def measure(name: str, docs: Path, qa: Path, work: Path, limit: int | None) -> list[str]:
    index_dir = work / f"{name}-index"
    if not (index_dir / "manifest.json").exists():
        t0 = time.perf_counter()
        build_index(IndexConfig(corpus=docs, out=index_dir, overwrite=True))
        print(f"indexed {name} in {time.perf_counter() - t0:.0f} s")
    retriever = Retriever.load(index_dir)
    items = read_qa(qa)[:limit]
    matched, unmatched = resolve_oracles(items, retriever)
    questions = [it.question for it, _ in matched]
    batch = [Question(it, chs, "train", frozenset(c.doc_id for c in chs)) for it, chs in matched]
    t0 = time.perf_counter()
    cached = CachedEmbeddings(retriever, questions)
    embed_s = time.perf_counter() - t0
    answers = dict(
        zip(
            questions,
            DeterministicTeacher().answers(
                [AnswerRequest(q.item.question, q.oracles[0].title, q.oracle_text, q.item.answer) for q in batch]
            ),
            strict=True,
        )
    )
    vectors = retriever.index.reconstruct_n(0, retriever.index.ntotal)
    qvec = {q: cached._vecs[q] for q in questions}
    pool = ChunkPool(retriever.chunks)
    lines = [
        f"### {name}: {len(matched)} questions matched ({len(unmatched)} unmatched), {len(pool)} chunks",
        "",
        f"Question embedding (MiniLM, CPU): {embed_s:.1f} s = {len(questions) / embed_s:.0f} questions/s",
        "",
        "| strategy | rows/s (mixing, no teacher, no embedding) | mean cos(distractor, question) "
        "| distractors containing the answer | distractors from the oracle's document group |",
        "|---|---|---|---|---|",
    ]
    for strategy in ("hard", "mixed", "random"):
        cfg = GenerateConfig(
            index=index_dir, out=work / "unused", strategy=strategy, p_oracle=0.8, distractors=4
        )
        maker = RowMaker(cfg, cached, pool, ReplayTeacher(answers), {})
        t0 = time.perf_counter()
        rows = [r for start in range(0, len(batch), 256) for r in maker.rows(batch[start : start + 256])]
        rows = [{"id": r.id, "context_ids": r.context_ids, "oracle": r.oracle_positions} for r in rows if isinstance(r, Row)]
        seconds = time.perf_counter() - t0
        lines.append(
            f"| {strategy} | {len(rows) / seconds:,.0f} | " + _hardness(rows, matched, pool, vectors, qvec)
        )
    lines.append(
        "| top-4 retrieval, oracle removed (reference, unfiltered) | - | "
        + _hardness(_plain_topk(cached, matched, pool), matched, pool, vectors, qvec)
    )
    return lines


def _plain_topk(cached, matched, pool):
    hits = cached.search_batch([it.question for it, _ in matched], k=5)
    rows = []
    for (it, chs), row in zip(matched, hits, strict=True):
        ids = [h.chunk_id for h in row if h.chunk_id not in {c.chunk_id for c in chs}][:4]
        rows.append({"context_ids": ids, "oracle": [], "id": it.id})
    return rows


def _hardness(rows, matched, pool, vectors, qvec) -> str:
    by_id = {it.id: (it, chs) for it, chs in matched}
    sims, with_answer, same_group = [], [], []
    for r in rows:
        it, chs = by_id[r["id"]]
        ch = chs[0]
        group = it.group or ch.doc_id.rsplit("-", 1)[0]
        for n, cid in enumerate(r["context_ids"]):
            if n in r["oracle"]:
                continue
            pos = pool.position[cid]
            sims.append(float(vectors[pos] @ qvec[it.question]))
            if it.answer and it.answer.lower() not in ("yes", "no", "maybe"):
                with_answer.append(_has_answer(it.answer, pool.chunks[pos].text))
            doc = pool.chunks[pos].doc_id
            same_group.append(doc == group or doc.startswith(group + "-") or doc == ch.doc_id)
    answer = f"{np.mean(with_answer):.1%}" if with_answer else "n/a (yes/no/maybe answers)"
    return f"{np.mean(sims):.3f} | {answer} | {np.mean(same_group):.1%} |"


def _has_answer(answer: str, text: str) -> bool:
    """Case-insensitive containment; answers under 4 characters count only as whole words."""
    answer, text = " ".join(answer.lower().split()), " ".join(text.lower().split())
    if len(answer) >= 4:
        return answer in text
    return re.search(r"(?<!\w)" + re.escape(answer) + r"(?!\w)", text) is not None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, default=Path("/tmp/raft-bench-generate"))
    parser.add_argument("--squad", action="store_true", help="also measure SQuAD 2.0 dev (answer-span data)")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    args.work.mkdir(parents=True, exist_ok=True)
    out = measure("PubMedQA", *pubmedqa_corpus(args.work), args.work, args.limit)
    if args.squad:
        out += [""] + measure("SQuAD-2.0-dev", *squad_corpus(args.work), args.work, args.limit)
    print("\n".join(out))


if __name__ == "__main__":
    main()
