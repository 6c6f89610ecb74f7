"""Which questions a dataset gets and where each goes: QA-file questions matched to their oracles, or
teacher-written ones; every question's document group gets a split, test questions are set aside."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from raft.data.config import GenerateConfig
from raft.data.loaders import read_qa
from raft.data.oracles import doc_group, prefix_map, resolve_oracles
from raft.data.qa import QAItem
from raft.data.rows import Checkpoint, Question
from raft.data.teacher import Teacher
from raft.errors import RaftError
from raft.splits import SPLITS, TEST, TRAIN, VALIDATION, split_groups

if TYPE_CHECKING:
    from raft.index.chunking import Chunk
    from raft.index.retriever import Retriever

log = logging.getLogger(__name__)


MIN_CHUNK_CHARS = 100  # shorter chunks (headings, stubs) get no teacher questions


@dataclass(frozen=True)
class Plan:
    """Every question with its split, the documents held out from each split's contexts, and what was skipped."""

    questions: list[Question]  # train and validation questions (rows are made for these)
    test: list[Question]  # held out: no row, no context, recorded in the lineage only
    held_out_docs: dict[str, frozenset[str]]  # split -> documents its contexts may not contain
    test_docs: frozenset[str]
    dropped: Counter
    conflicts: int


def plan_questions(cfg: GenerateConfig, retriever: Retriever, teacher: Teacher, ckpt: Checkpoint) -> Plan:
    """Questions from the QA file (or the teacher), each with its split; test questions set aside."""
    doc_ids = {c.doc_id for c in retriever.chunks}
    by_prefix = prefix_map(doc_ids)
    if cfg.qa is None:
        return _teacher_plan(cfg, retriever, teacher, ckpt, doc_ids, by_prefix)
    matched, unmatched = resolve_oracles(read_qa(cfg.qa), retriever)
    for it, reason in unmatched[:10]:
        log.warning("line %d (%s): %s; skipped", it.line, it.id, reason)
    if len(unmatched) > 10:
        log.warning("... and %d more unmatched questions", len(unmatched) - 10)
    if not matched:
        raise RaftError(
            f"no question in {cfg.qa} matched a chunk of {cfg.index}; give doc_id / chunk_id / passage "
            "columns that name documents of this index"
        )
    records = [(it, oracles, record_docs(it, oracles, doc_ids, by_prefix)) for it, oracles in matched]
    declared: dict[str, set[str]] = {}
    for it, _, docs in records:
        side = TRAIN if cfg.train_on_test and it.split == TEST else it.split
        declared.setdefault(group_key(docs), set()).update([side] if side else [])
    side_of, conflicts = split_groups(
        declared, declared.keys(), cfg.seed, cfg.validation_fraction, 0.0 if cfg.train_on_test else cfg.test_fraction
    )
    if conflicts:
        log.warning("%d document group(s) had questions in several splits; each went to its most held-out one", conflicts)
    questions = [Question(it, oracles, side_of[group_key(docs)], docs) for it, oracles, docs in records]
    return _plan(questions, Counter({"oracle_not_found": len(unmatched)} if unmatched else {}), conflicts)


def record_docs(item: QAItem, oracles: tuple[Chunk, ...], doc_ids: set[str], by_prefix: dict) -> frozenset[str]:
    """Every index document of the record a question's oracle belongs to (held out together with it)."""
    docs = {c.doc_id for c in oracles}
    for name in (item.group, *item.doc_ids):
        if name:
            docs.update(doc_group(name, doc_ids, by_prefix))
    return frozenset(docs)


def group_key(docs: frozenset[str]) -> str:
    return "|".join(sorted(docs))


def _plan(questions: list[Question], dropped: Counter, conflicts: int) -> Plan:
    by_split = {s: [q for q in questions if q.split == s] for s in SPLITS}
    docs = {s: frozenset().union(*(q.docs for q in by_split[s])) for s in SPLITS}
    held_out = {TRAIN: docs[VALIDATION] | docs[TEST], VALIDATION: docs[TEST]}
    return Plan(by_split[TRAIN] + by_split[VALIDATION], by_split[TEST], held_out, docs[TEST], dropped, conflicts)


def _teacher_plan(cfg, retriever, teacher, ckpt, doc_ids, by_prefix) -> Plan:
    """Teacher mode: documents are split first; the teacher writes questions for train/validation chunks only."""
    groups = {d: frozenset([d]) for d in doc_ids}
    side_of, _ = split_groups({}, groups, cfg.seed, cfg.validation_fraction, cfg.test_fraction)
    chunks = [c for c in teacher_chunks(cfg, retriever) if side_of[c.doc_id] != TEST]
    todo = [c for c in chunks if str(c.chunk_id) not in ckpt.questions]
    for start in range(0, len(todo), cfg.batch_size):
        batch = todo[start : start + cfg.batch_size]
        written = teacher.questions(batch, cfg.questions_per_chunk)
        ckpt.append_questions({str(c.chunk_id): qs for c, qs in zip(batch, written, strict=True)})
    questions = []
    for c in chunks:
        for j, text in enumerate(ckpt.questions.get(str(c.chunk_id), [])):
            item = QAItem(f"{c.chunk_id}~q{j}", text, None, (c.doc_id,), (str(c.chunk_id),), None, None, 0)
            questions.append(Question(item, (c,), side_of[c.doc_id], frozenset([c.doc_id])))
    if not questions:
        raise RaftError("the teacher wrote no usable question; check the model and --teacher-url")
    plan = _plan(questions, Counter(), 0)
    test_docs = frozenset(d for d, s in side_of.items() if s == TEST)
    return Plan(plan.questions, [], {TRAIN: plan.held_out_docs[TRAIN] | test_docs, VALIDATION: test_docs},
                test_docs, plan.dropped, 0)  # fmt: skip


def teacher_chunks(cfg: GenerateConfig, retriever: Retriever) -> list[Chunk]:
    """The chunks the teacher writes questions for: long enough ones, sampled to --max-chunks by seed."""
    import random

    chunks = [c for c in retriever.chunks if len(c.text.strip()) >= MIN_CHUNK_CHARS]
    if cfg.max_chunks is not None and cfg.max_chunks < len(chunks):
        keep = set(random.Random(f"{cfg.seed}:chunks").sample(range(len(chunks)), cfg.max_chunks))
        chunks = [c for i, c in enumerate(chunks) if i in keep]
    return chunks
