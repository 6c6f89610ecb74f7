"""One evaluated question (`Case`), the contexts each condition gives it, and its scored rows."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from raft.eval import metrics
from raft.eval.records import QuestionRow, SystemOutput

if TYPE_CHECKING:
    from raft.data.qa import QAItem
    from raft.index.chunking import Chunk
    from raft.index.retriever import Hit, Retriever


@dataclass(frozen=True)
class Case:
    """One evaluated question: the QA item, its oracle chunks and their documents, the retrieved hits."""

    item: QAItem
    oracles: tuple[Chunk, ...]
    oracle_docs: frozenset[str]
    hits: tuple[Hit, ...]

    def answer_chunks(self, context: Sequence[Any]) -> list[Any]:
        """The context chunks that hold the answer: an oracle chunk, or any chunk containing the gold answer."""
        from raft.data.qa import answer_matcher

        oracle_ids = {str(c.chunk_id) for c in self.oracles}
        has_answer = answer_matcher(self.item.answer)
        return [
            c
            for c in context
            if str(c.chunk_id) in oracle_ids or (has_answer is not None and has_answer(" ".join(c.text.lower().split())))
        ]


def make_cases(pairs: Sequence[tuple[QAItem, tuple[Chunk, ...]]], retriever: Retriever, k: int, hybrid: bool | None) -> list[Case]:
    """Retrieve for every matched question and name its oracle documents (every document of its oracle chunks)."""
    hits = retriever.search_batch([q.question for q, _ in pairs], k=k, hybrid=hybrid)
    return [
        Case(item, tuple(oracles), frozenset(c.doc_id for c in oracles), tuple(row))
        for (item, oracles), row in zip(pairs, hits, strict=True)
    ]


def build_contexts(
    condition: str, cases: Sequence[Case], chunks: Sequence[Any], k: int, seed: int
) -> list[list[Any]]:
    """The chunks each question gets under `condition`.

    retrieved: the top-k hits; closed_book: none; oracle: the oracle chunks alone; oracle_distractors:
    the oracle chunks at random positions among random chunks of other documents, k in all (seeded per question).
    """
    if condition == "retrieved":
        return [list(c.hits) for c in cases]
    if condition == "closed_book":
        return [[] for _ in cases]
    if condition == "oracle":
        return [list(c.oracles) for c in cases]
    contexts = []
    for case in cases:
        rng = random.Random(f"{seed}:{case.item.id}")
        pool = rng.sample(range(len(chunks)), min(len(chunks), 4 * k + 8))
        n_other = max(0, k - len(case.oracles))
        others = [chunks[i] for i in pool if chunks[i].doc_id not in case.oracle_docs][:n_other]
        for oracle in case.oracles:
            others.insert(rng.randrange(len(others) + 1), oracle)
        contexts.append(others)
    return contexts


def score_rows(
    cases: Sequence[Case],
    contexts: dict[str, list[list[Any]]],
    outputs: dict,
    labels: bool,
    flags: Sequence[list[str]],
) -> list[QuestionRow]:
    """One row per (condition, question): ids, contexts, overlap flags, and every system's output and scores."""
    rows = []
    for condition, ctxs in contexts.items():
        for i, case in enumerate(cases):
            ctx = ctxs[i]
            holding = case.answer_chunks(ctx)
            row = QuestionRow(
                id=case.item.id,
                condition=condition,
                question=case.item.question,
                gold=case.item.answer,
                oracle_doc_ids=sorted(case.oracle_docs),
                oracle_ids=[c.chunk_id for c in case.oracles],
                retrieved_ids=[h.chunk_id for h in case.hits],
                oracle_rank=metrics.oracle_rank([h.chunk_id for h in case.hits], {c.chunk_id for c in case.answer_chunks(case.hits)}),
                context_ids=[c.chunk_id for c in ctx],
                answer_chunk_ids=[c.chunk_id for c in holding],
                oracle_in_context=bool(holding),
                overlap=flags[i],
                systems={},
            )
            for name, by_condition in outputs.items():
                raw, finish = by_condition[condition][i]
                scores = metrics.score_output(
                    raw, case.item.answer, [c.text for c in ctx], [c.text for c in holding], labels, finish
                )
                row["systems"][name] = SystemOutput(raw=raw, finish_reason=finish, **scores)
            rows.append(row)
    return rows
