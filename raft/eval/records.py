"""The shapes of what `raft eval` writes: one row of per_question.jsonl (`QuestionRow`) and report.json
(`EvalReport`). TypedDicts, so the files are these records dumped as they are."""

from __future__ import annotations

from typing import Any, TypedDict


class SystemOutput(TypedDict, total=False):
    """One system's output for one question: the raw text, why it ended, and every score of
    `raft.eval.metrics.score_output` (em/f1 strict and lenient, accuracy for label answers, ...)."""

    raw: str
    finish_reason: str
    answer: str | None
    answer_lenient: str | None
    format: float
    truncated: float
    quotes: int
    quote_validity: float | None
    citation_precision: float | None
    abstained: float
    answer_in_context: bool
    em_strict: float | None
    f1_strict: float | None
    em_lenient: float | None
    f1_lenient: float | None
    accuracy_strict: float | None
    accuracy_lenient: float | None
    truthfulness: float | None


class QuestionRow(TypedDict):
    """One (condition, question) line of per_question.jsonl."""

    id: str
    condition: str
    question: str
    gold: str | None
    oracle_doc_ids: list[str]
    oracle_ids: list[str]
    retrieved_ids: list[str]
    oracle_rank: int | None  # 1-based rank of the first retrieved chunk holding the answer
    context_ids: list[str]
    answer_chunk_ids: list[str]
    oracle_in_context: bool
    overlap: list[str]  # systems that trained or were selected on this question
    systems: dict[str, SystemOutput]


class QuestionCounts(TypedDict):
    total: int
    evaluated: int
    unmatched: int
    overlap: dict[str, int]


class Unmatched(TypedDict):
    id: str
    line: int
    reason: str


class Summary(TypedDict):
    """What `raft.eval.report.summarize` computes from the rows."""

    systems: dict[str, dict[str, dict[str, Any]]]  # system -> condition -> aggregates (with CIs)
    differences: list[dict[str, Any]]  # paired bootstrap differences, system against baseline
    retrieval: dict[str, Any]  # recall@1, recall@k, MRR over the retrieved condition
    closed_book_regression: list[dict[str, Any]]


class EvalReport(Summary):
    """report.json: the summary plus the run's configuration, cost, question counts and lineage."""

    config: dict[str, Any]
    config_hash: str
    labels: bool
    cost: dict[str, dict[str, Any]]
    questions: QuestionCounts
    lineage: dict[str, list[str]]
    unmatched: list[Unmatched]
