"""Rows of a RAFT dataset: teacher answers, quote checks, contexts, token budget, and the checkpoint.

`RowMaker.rows` turns a batch of (question, oracle chunk) pairs into finished row records (or
`{"id", "dropped": reason}` markers); `Checkpoint` appends them to `.<name>.partial/rows.jsonl` so a
run can resume after a kill, losing at most the batch in flight.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
from pathlib import Path
from typing import Any

from raft import prompts
from raft.contexts import ChunkPool, TokenBudget, assemble, mine_hard
from raft.errors import RaftError
from raft.qa import QAItem, doc_group, prefix_map
from raft.quotes import INVALID, check_quotes
from raft.teacher import AnswerRequest, DeterministicTeacher

log = logging.getLogger(__name__)

MIN_CHUNK_CHARS = 100  # shorter chunks (headings, stubs) get no teacher questions


class RowMaker:
    """Builds row records for batches of (QAItem, oracle chunk); deterministic per row id and seed."""

    def __init__(
        self, cfg: Any, retriever: Any, pool: ChunkPool, teacher: Any, items: list, splits: dict
    ) -> None:
        self.cfg, self.retriever, self.pool, self.teacher, self.splits = cfg, retriever, pool, teacher, splits
        self.doc_ids = {c.doc_id for c in pool.chunks}
        self.by_prefix = prefix_map(self.doc_ids)
        self.budget = TokenBudget(_load_tokenizer(cfg.tokenizer), cfg.max_tokens) if cfg.max_tokens else None
        self.eval_docs: set[str] = set()
        for it, ch in items:
            if splits[it.id] == "eval":
                self.eval_docs |= self.group_docs(it, ch)

    def group_docs(self, item: QAItem, chunk: Any) -> set[str]:
        """The oracle's document plus every index document the QA doc id names."""
        docs = {chunk.doc_id}
        if item.doc_id:
            docs.update(doc_group(item.doc_id, self.doc_ids, self.by_prefix))
        return docs

    def rows(self, batch: list[tuple[QAItem, Any]]) -> list[dict[str, Any]]:
        cots = self.teacher.answers(
            [AnswerRequest(it.question, ch.title, ch.text, it.answer) for it, ch in batch]
        )
        results: dict[str, dict[str, Any]] = {}
        kept = []
        for (it, ch), cot in zip(batch, cots, strict=True):
            if cot is None:
                reason = (
                    "no_gold_answer" if isinstance(self.teacher, DeterministicTeacher) else "teacher_invalid"
                )
                results[it.id] = {"id": it.id, "dropped": reason}
                continue
            check = check_quotes(cot, ch.text)
            if check.status == INVALID:
                results[it.id] = {"id": it.id, "dropped": "quote_not_verbatim"}
                continue
            kept.append((it, ch, check))
        hard = self._mine([it.question for it, _, _ in kept])
        for (it, ch, check), candidates in zip(kept, hard, strict=True):
            results[it.id] = self._row(it, ch, check, candidates)
        return [results[it.id] for it, _ in batch]

    def _mine(self, questions: list[str]) -> list[list[int]]:
        if self.cfg.mode == "dsf" or self.cfg.strategy == "random" or not questions:
            return [[] for _ in questions]
        depth = 3 * self.cfg.distractors + 12
        return mine_hard(self.pool, self.retriever, questions, self.cfg.distractors, depth)

    def _row(self, it: QAItem, ch: Any, check: Any, candidates: list[int]) -> dict[str, Any]:
        cfg = self.cfg
        rng = random.Random(f"{cfg.seed}:{it.id}")
        if cfg.mode == "dsf":
            positions, oracle_index, shortfall = [], -1, 0
        else:
            docs = self.group_docs(it, ch) | (self.eval_docs if self.splits[it.id] == "train" else set())
            ctx = assemble(
                self.pool, self.pool.position[str(ch.chunk_id)], candidates,
                self.pool.excluder(docs, it.answer), cfg.distractors, cfg.p_oracle, cfg.strategy, rng,
            )  # fmt: skip
            positions, oracle_index, shortfall = ctx.positions, ctx.oracle_index, ctx.shortfall
        chunks = [self.pool.chunks[i] for i in positions]
        cot = check.text
        if oracle_index < 0 and cfg.mode == "raft" and cfg.no_oracle_target == "abstain":
            cot = f"{ABSTAIN_COT}\n{prompts.ANSWER_TAG} {prompts.ABSTAIN_ANSWER}"
        texts, trimmed = [c.text for c in chunks], False
        if self.budget is not None:
            fitted = self._fit(it.question, chunks, texts, cot, oracle_index, ch.text, check.text)
            if fitted is None:
                return {"id": it.id, "dropped": "too_long_for_max_tokens"}
            texts, trimmed = fitted
        docs = [prompts.Document(c.title, t) for c, t in zip(chunks, texts, strict=True)]
        prompt = prompts.build_messages(it.question, docs)
        return {
            "id": it.id,
            "question": it.question,
            "answer": it.answer or prompts.extract_answer(check.text) or "",
            "cot_answer": cot,
            "context_ids": [str(c.chunk_id) for c in chunks],
            "context_doc_ids": [c.doc_id for c in chunks],
            "context_titles": [c.title for c in chunks],
            "oracle_id": str(ch.chunk_id),
            "oracle_doc_id": ch.doc_id,
            "oracle_present": oracle_index >= 0,
            "oracle_index": oracle_index,
            "strategy": cfg.strategy if cfg.mode == "raft" else "none",
            "seed": cfg.seed,
            "trimmed": trimmed,
            "prompt": prompt,
            "completion": [{"role": "assistant", "content": cot}],
            "_split": self.splits[it.id],
            "_quote": check.status,
            "_shortfall": shortfall,
            "_prompt_tokens": self.budget.count(prompt)
            if self.budget
            else sum(len(m["content"]) for m in prompt) // 4,
            "_context_texts": texts,
            "_oracle_text": ch.text,
        }

    def _fit(
        self, question, chunks, texts, cot, oracle_index, oracle_text, quoted
    ) -> tuple[list[str], bool] | None:
        """Trim document texts to the budget, keeping the oracle's quoted span whole."""

        def build(ts: list[str]) -> list[dict[str, str]]:
            docs = [prompts.Document(c.title, t) for c, t in zip(chunks, ts, strict=True)]
            return prompts.build_messages(question, docs) + [{"role": "assistant", "content": cot}]

        keep = {}
        if oracle_index >= 0:
            spans = [(oracle_text.find(q), len(q)) for q in prompts.extract_quotes(quoted)]
            spans = [(s, s + n) for s, n in spans if s >= 0]
            if spans:
                keep[oracle_index] = (min(s for s, _ in spans), max(e for _, e in spans))
        return self.budget.fit(build, texts, keep)


ABSTAIN_COT = "None of the documents addresses this question, so it cannot be answered from them."


def _load_tokenizer(name: str) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as exc:
        raise RaftError(
            f"cannot load tokenizer {name!r} ({str(exc).splitlines()[0]}); pass a local path"
        ) from None


# ---- teacher-written questions -------------------------------------------------------------


def teacher_chunks(cfg: Any, retriever: Any) -> list[Any]:
    """The chunks the teacher writes questions for: long enough ones, sampled to --max-chunks by seed."""
    chunks = [c for c in retriever.chunks if len(c.text.strip()) >= MIN_CHUNK_CHARS]
    if cfg.max_chunks is not None and cfg.max_chunks < len(chunks):
        keep = set(random.Random(f"{cfg.seed}:chunks").sample(range(len(chunks)), cfg.max_chunks))
        chunks = [c for i, c in enumerate(chunks) if i in keep]
    return chunks


def teacher_questions(cfg: Any, retriever: Any, teacher: Any, ckpt: Checkpoint) -> list[tuple[QAItem, Any]]:
    """N teacher questions per chunk (checkpointed per batch), as (QAItem, oracle chunk) pairs."""
    chunks = teacher_chunks(cfg, retriever)
    todo = [c for c in chunks if str(c.chunk_id) not in ckpt.questions]
    for start in range(0, len(todo), cfg.batch_size):
        batch = todo[start : start + cfg.batch_size]
        written = teacher.questions(batch, cfg.questions_per_chunk)
        ckpt.append_questions({str(c.chunk_id): qs for c, qs in zip(batch, written, strict=True)})
    items = []
    for c in chunks:
        for j, q in enumerate(ckpt.questions.get(str(c.chunk_id), [])):
            items.append((QAItem(f"{c.chunk_id}~q{j}", q, None, None, str(c.chunk_id), None, None, 0), c))
    if not items:
        raise RaftError("the teacher wrote no usable question; check the model and --teacher-url")
    return items


def plan(cfg: Any, retriever: Any) -> dict[str, Any]:
    """What a run would cost: teacher calls and approximate tokens (4 characters per token)."""
    from raft.qa import read_qa

    if cfg.qa is not None:
        items = read_qa(cfg.qa)
        q_calls, a_calls, mean_chars = 0, len(items), _mean_chars(retriever.chunks)
    else:
        chunks = teacher_chunks(cfg, retriever)
        q_calls, a_calls = len(chunks), len(chunks) * cfg.questions_per_chunk
        mean_chars = _mean_chars(chunks)
    llm = cfg.teacher is not None
    doc_tokens = mean_chars / 4
    prompt_tokens = q_calls * (doc_tokens + 90) + a_calls * (doc_tokens + 140)
    completion_tokens = q_calls * 25 * cfg.questions_per_chunk + a_calls * min(
        cfg.teacher_max_new_tokens, 160
    )
    return {
        "dry_run": True,
        "teacher": cfg.teacher or "deterministic",
        "question_calls": q_calls if llm else 0,
        "answer_calls": a_calls if llm else 0,
        "approx_prompt_tokens": int(prompt_tokens) if llm else 0,
        "approx_completion_tokens": int(completion_tokens) if llm else 0,
        "rows_at_most": a_calls,
    }


def _mean_chars(chunks: list[Any]) -> float:
    return sum(len(c.text) for c in chunks) / max(1, len(chunks))


# ---- checkpoint ----------------------------------------------------------------------------


class Checkpoint:
    """`.<out>.partial/`: settings.json, questions.jsonl and rows.jsonl, appended and fsynced per batch."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.rows_path, self.questions_path = directory / "rows.jsonl", directory / "questions.jsonl"
        self.done: set[str] = {r["id"] for r in _read_jsonl(self.rows_path)}
        self.questions: dict[str, list[str]] = {}
        for rec in _read_jsonl(self.questions_path):
            self.questions.update(rec)

    @classmethod
    def open(cls, out: Path, fp: str, settings: dict, resume: bool, overwrite: bool) -> Checkpoint:
        directory = out.parent / f".{out.name}.partial"
        if directory.exists():
            if overwrite or not (directory / "settings.json").is_file():
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

    def append(self, records: list[dict[str, Any]]) -> None:
        _append_jsonl(self.rows_path, records)
        self.done.update(r["id"] for r in records)

    def append_questions(self, written: dict[str, list[str]]) -> None:
        _append_jsonl(self.questions_path, [written])
        self.questions.update(written)

    def records(self, order: list[str]) -> list[dict[str, Any]]:
        by_id = {r["id"]: r for r in _read_jsonl(self.rows_path)}
        return [by_id[i] for i in order if i in by_id]

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
