"""Rows of a RAFT dataset: the typed `Row`, the `RowMaker` that builds them, and the resume checkpoint.

`RowMaker.rows` turns a batch of `Question`s (a QA item, its oracle chunks, its split) into `Row`s or
`Dropped` markers: teacher answer → quote check → leak-checked distractors → oracle placement → token
budget → chat prompt. `Checkpoint` appends them to `.<name>.partial/rows.jsonl` so a run can resume
after a kill, losing at most the batch in flight.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raft import prompts
from raft.data.contexts import ChunkPool, TokenBudget, assemble, mine_hard
from raft.data.qa import QAItem, is_locating
from raft.data.teacher import AnswerRequest, DeterministicTeacher, Teacher
from raft.errors import RaftError
from raft.quotes import INVALID, check_quotes

if TYPE_CHECKING:
    from raft.data.config import GenerateConfig
    from raft.index.retriever import Retriever

ABSTAIN_COT = "None of the documents addresses this question, so it cannot be answered from them."
ABSTAINED = "abstain"  # the quote status of a row whose target is the abstention (it has no quote)

# The dataset's columns, in order (the Row fields before `split`).
COLUMNS = (
    "id question answer cot_answer context_ids context_doc_ids context_titles oracle_ids oracle_doc_ids "
    "oracle_present oracle_positions strategy seed trimmed leak_checked prompt completion"
).split()


@dataclass(frozen=True)
class Question:
    """A question to turn into a row: the QA item, its oracle chunks, and the split it belongs to."""

    item: QAItem
    oracles: tuple[Any, ...]
    split: str
    docs: frozenset[str]  # every index document of the oracle's record (never a distractor for this row)

    @property
    def oracle_text(self) -> str:
        return "\n".join(c.text for c in self.oracles)


@dataclass(frozen=True)
class Row:
    """One finished row: the dataset columns, then what the manifest and exports need."""

    id: str
    question: str
    answer: str
    cot_answer: str
    context_ids: list[str]
    context_doc_ids: list[str]
    context_titles: list[str]
    oracle_ids: list[str]
    oracle_doc_ids: list[str]
    oracle_present: bool
    oracle_positions: list[int]
    strategy: str
    seed: int
    trimmed: bool
    leak_checked: bool  # distractors were checked for the answer (False: a label answer, or none known)
    prompt: list[dict[str, str]]
    completion: list[dict[str, str]]
    split: str
    quote_status: str
    shortfall: int
    prompt_tokens: int
    context_texts: list[str]
    oracle_texts: list[str]

    def columns(self) -> dict[str, Any]:
        return {c: getattr(self, c) for c in COLUMNS}


@dataclass(frozen=True)
class Dropped:
    """A question that produced no row, and why."""

    id: str
    reason: str


class RowMaker:
    """Builds rows for batches of Questions; deterministic per row id and seed.

    `excluded_docs[split]` are documents that may not appear in that split's contexts at all: for
    training rows the validation and test documents, for validation rows the test documents.
    """

    def __init__(
        self,
        cfg: GenerateConfig,
        retriever: Retriever,
        pool: ChunkPool,
        teacher: Teacher,
        excluded_docs: dict[str, frozenset[str]],
    ) -> None:
        self.cfg, self.retriever, self.pool, self.teacher = cfg, retriever, pool, teacher
        self.excluded_docs = excluded_docs
        self.budget = TokenBudget(_load_tokenizer(cfg.tokenizer), cfg.max_tokens) if cfg.max_tokens else None

    def rows(self, batch: list[Question]) -> list[Row | Dropped]:
        cots = self.teacher.answers(
            [AnswerRequest(q.item.question, q.oracles[0].title, q.oracle_text, q.item.answer) for q in batch]
        )
        results: dict[str, Row | Dropped] = {}
        kept = []
        for q, cot in zip(batch, cots, strict=True):
            if cot is None:
                reason = "no_gold_answer" if isinstance(self.teacher, DeterministicTeacher) else "teacher_invalid"
                results[q.item.id] = Dropped(q.item.id, reason)
                continue
            check = check_quotes(cot, [c.text for c in q.oracles])
            if check.status == INVALID:
                results[q.item.id] = Dropped(q.item.id, "quote_not_verbatim")
                continue
            kept.append((q, check))
        hard = self._mine([q.item.question for q, _ in kept])
        for (q, check), candidates in zip(kept, hard, strict=True):
            results[q.item.id] = self._row(q, check, candidates)
        return [results[q.item.id] for q in batch]

    def _mine(self, questions: list[str]) -> list[list[int]]:
        if self.cfg.mode == "dsf" or self.cfg.strategy == "random" or not questions:
            return [[] for _ in questions]
        depth = 3 * self.cfg.distractors + 12
        return mine_hard(self.pool, self.retriever, questions, self.cfg.distractors, depth)

    def _row(self, q: Question, check: Any, candidates: list[int]) -> Row | Dropped:
        cfg, it = self.cfg, q.item
        rng = random.Random(f"{cfg.seed}:{it.id}")
        answer = it.answer or prompts.extract_answer(check.text) or ""
        if cfg.mode == "dsf":
            positions, slots, shortfall = [], [], 0
        else:
            banned = q.docs | self.excluded_docs.get(q.split, frozenset())
            oracles = [self.pool.position[str(c.chunk_id)] for c in q.oracles]
            ctx = assemble(
                self.pool, oracles, candidates, self.pool.excluder(banned, answer),
                cfg.distractors, cfg.p_oracle, cfg.strategy, rng, cfg.order,
            )  # fmt: skip
            positions, slots, shortfall = ctx.positions, ctx.oracle_slots, ctx.shortfall
        chunks = [self.pool.chunks[i] for i in positions]
        cot, status = check.text, check.status
        if not slots and cfg.mode == "raft" and cfg.no_oracle_target == "abstain":
            cot, status = f"{ABSTAIN_COT}\n{prompts.ANSWER_TAG} {prompts.ABSTAIN_ANSWER}", ABSTAINED
        texts, trimmed = [c.text for c in chunks], False
        if self.budget is not None:
            fitted = self._fit(it.question, chunks, texts, cot, slots)
            if fitted is None:
                return Dropped(it.id, "too_long_for_max_tokens")
            texts, trimmed = fitted
        docs = [prompts.Document(c.title, t) for c, t in zip(chunks, texts, strict=True)]
        prompt = prompts.build_messages(it.question, docs)
        return Row(
            id=it.id,
            question=it.question,
            answer=answer,
            cot_answer=cot,
            context_ids=[str(c.chunk_id) for c in chunks],
            context_doc_ids=[c.doc_id for c in chunks],
            context_titles=[c.title for c in chunks],
            oracle_ids=[str(c.chunk_id) for c in q.oracles],
            oracle_doc_ids=sorted({c.doc_id for c in q.oracles}),
            oracle_present=bool(slots),
            oracle_positions=slots,
            strategy=cfg.strategy if cfg.mode == "raft" else "none",
            seed=cfg.seed,
            trimmed=trimmed,
            leak_checked=cfg.mode == "dsf" or is_locating(answer),
            prompt=prompt,
            completion=[{"role": "assistant", "content": cot}],
            split=q.split,
            quote_status=status,
            shortfall=shortfall,
            prompt_tokens=self.budget.count(prompt) if self.budget else sum(len(m["content"]) for m in prompt) // 4,
            context_texts=texts,
            oracle_texts=[c.text for c in q.oracles],
        )

    def _fit(self, question, chunks, texts, cot, slots) -> tuple[list[str], bool] | None:
        """Trim document texts to the budget, keeping every quoted span of an oracle chunk whole."""

        def build(ts: list[str]) -> list[dict[str, str]]:
            docs = [prompts.Document(c.title, t) for c, t in zip(chunks, ts, strict=True)]
            return prompts.build_messages(question, docs) + [{"role": "assistant", "content": cot}]

        keep = {}
        for slot in slots:
            text = texts[slot]
            spans = [(text.find(q), len(q)) for q in prompts.extract_quotes(cot)]
            spans = [(s, s + n) for s, n in spans if s >= 0]
            if spans:
                keep[slot] = (min(s for s, _ in spans), max(e for _, e in spans))
        return self.budget.fit(build, texts, keep)


def _load_tokenizer(name: str) -> Any:
    from raft.models.loading import load_tokenizer

    return load_tokenizer(name, what="tokenizer")


# ---- checkpoint ----------------------------------------------------------------------------


class Checkpoint:
    """`.<out>.partial/`: settings.json, questions.jsonl and rows.jsonl, appended and fsynced per batch."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.rows_path, self.questions_path = directory / "rows.jsonl", directory / "questions.jsonl"
        records = _read_jsonl(self.rows_path)
        self.done: set[str] = {r["id"] for r in records}
        self.made = sum(1 for r in records if "dropped" not in r)  # rows produced, not dropped
        self.questions: dict[str, list[str]] = {}
        for rec in _read_jsonl(self.questions_path):
            self.questions.update(rec)

    @classmethod
    def open(cls, out: Path, fp: str, settings: dict, resume: bool, overwrite: bool) -> Checkpoint:
        directory = out.parent / f".{out.name}.partial"
        if directory.exists():
            if overwrite or not (directory / "settings.json").is_file() or cls(directory).empty:
                shutil.rmtree(directory)
            elif not resume:
                raise RaftError(
                    f"an interrupted run of {out} exists; pass --resume to continue it or --overwrite to start over"
                )
            elif json.loads((directory / "settings.json").read_text()).get("fingerprint") != fp:
                raise RaftError(
                    f"the interrupted run of {out} used other settings; rerun with the same settings and --resume, "
                    "or pass --overwrite to start over"
                )
        if not directory.exists():
            directory.mkdir(parents=True)
            (directory / "settings.json").write_text(
                json.dumps({"fingerprint": fp, "settings": settings}, indent=2)
            )
        return cls(directory)

    @property
    def empty(self) -> bool:
        """No row produced (drops only) and no teacher question: nothing a rerun would want to resume."""
        return not self.made and not self.questions

    def append(self, results: list[Row | Dropped]) -> None:
        records = [{"dropped": r.reason, "id": r.id} if isinstance(r, Dropped) else asdict(r) for r in results]
        _append_jsonl(self.rows_path, records)
        self.done.update(r.id for r in results)
        self.made += sum(1 for r in results if not isinstance(r, Dropped))

    def append_questions(self, written: dict[str, list[str]]) -> None:
        _append_jsonl(self.questions_path, [written])
        self.questions.update(written)

    def results(self, order: list[str]) -> list[Row | Dropped]:
        by_id = {r["id"]: r for r in _read_jsonl(self.rows_path)}
        out: list[Row | Dropped] = []
        for i in order:
            if i in by_id:
                rec = by_id[i]
                out.append(Dropped(rec["id"], rec["dropped"]) if "dropped" in rec else Row(**rec))
        return out

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _append_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    with path.open("a", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a checkpoint file; a torn last line (killed mid-write) is cut off."""
    if not path.is_file():
        return []
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with path.open("r+b") as fh:
            fh.truncate(end)
    return [json.loads(line) for line in data[:end].decode("utf-8").splitlines() if line.strip()]
