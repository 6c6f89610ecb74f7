"""`raft generate`: turn an index plus a question source into a RAFT dataset directory.

One read, top to bottom: settings are validated; questions are collected (from a QA file, matched to
their oracle chunks, or written by a teacher); every question's document group gets a split (train /
validation / test, by `raft.splits`); test questions are set aside with their documents; `RowMaker`
(raft/data/rows.py) builds the rows of the other splits in checkpointed batches; the dataset is written
(raft/data/dataset_dir.py). Settings live in raft/data/config.py, the question plan in raft/data/plan.py.

DATASET_DIR: hf/ (DatasetDict `train` + `validation`), train.jsonl, validation.jsonl, lineage.json (the
QA file's fingerprint and which questions and documents went where, test included), optional gorilla/,
and manifest.json (last). Test questions and their documents never reach a row, not even as distractors.
"""

from __future__ import annotations

import json
import logging
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raft import artifacts, prompts
from raft.data.config import GenerateConfig, validate
from raft.data.contexts import ChunkPool
from raft.data.dataset_dir import BUILD_HINT, KIND, write_dataset
from raft.data.loaders import read_qa
from raft.data.plan import plan_questions, teacher_chunks
from raft.data.rows import Checkpoint, RowMaker
from raft.data.teacher import ANSWER_FORMAT, DeterministicTeacher, LocalTeacher, OpenAITeacher, Teacher
from raft.errors import RaftError

if TYPE_CHECKING:
    from raft.index.retriever import Retriever

log = logging.getLogger(__name__)

# Settings that change how a run is executed but not what it produces (left out of the fingerprint).
_RUN_ONLY = ("out", "overwrite", "resume", "batch_size", "concurrency", "device", "backend", "dry_run")


def make_teacher(cfg: GenerateConfig) -> Teacher:
    """The teacher the settings ask for: an endpoint, a local model, or the deterministic composer."""
    if cfg.teacher is None:
        if cfg.teacher_url:
            raise RaftError("--teacher-url needs --teacher MODEL (the model name the endpoint serves)")
        return DeterministicTeacher()
    if cfg.teacher_url:
        return OpenAITeacher(
            cfg.teacher_url, cfg.teacher, cfg.teacher_key_env, cfg.concurrency, cfg.teacher_max_new_tokens
        )
    return LocalTeacher(cfg.teacher, cfg.device, max_new_tokens=cfg.teacher_max_new_tokens)


def settings_fingerprint(cfg: GenerateConfig, retriever: Retriever) -> tuple[str, dict[str, Any]]:
    """A hash of everything that determines the output (settings, index, QA file, prompt contract)."""
    settings = {f.name: getattr(cfg, f.name) for f in fields(cfg) if f.name not in _RUN_ONLY}
    settings = json.loads(json.dumps(settings, default=str))
    basis = {
        "settings": settings,
        "index": artifacts.index_fingerprint(retriever.manifest),
        "qa": artifacts.file_fingerprint(Path(cfg.qa)) if cfg.qa else None,
        "prompt": prompts.contract()["hash"],
        "answer_format": None if cfg.teacher else ANSWER_FORMAT,
    }
    return artifacts.fingerprint(basis), settings


def load_retriever(index: Path, device: str | None = None, backend: str | None = None) -> Any:
    from raft.index.retriever import Retriever

    return Retriever.load(index, device=device, backend=backend)


def generate_dataset(
    cfg: GenerateConfig, retriever: Retriever | None = None, teacher: Teacher | None = None
) -> dict[str, Any]:
    """Build DATASET_DIR from the settings; returns the manifest (or, with dry_run, the cost estimate)."""
    validate(cfg)
    retriever = retriever or load_retriever(Path(cfg.index), cfg.device, cfg.backend)
    pool = ChunkPool(retriever.chunks)
    if cfg.mode == "raft" and len(pool) < cfg.distractors + 1:
        raise RaftError(
            f"the index has {len(pool)} chunks, fewer than --distractors {cfg.distractors} + 1 oracle; "
            "index more documents or lower --distractors"
        )
    fp, settings = settings_fingerprint(cfg, retriever)
    if cfg.dry_run:
        return estimate(cfg, retriever)
    out = Path(cfg.out)
    finished = _finished(out, fp, cfg)
    if finished is not None:
        return finished
    teacher = teacher or make_teacher(cfg)
    ckpt = Checkpoint.open(out, fp, settings, resume=cfg.resume, overwrite=cfg.overwrite)
    try:
        return _run(cfg, ckpt, retriever, pool, teacher, settings, fp)
    except Exception:
        if not ckpt.made:  # no row worth resuming: a failed run must not stand in the way of its fix
            ckpt.remove()
        raise


def _run(cfg, ckpt, retriever, pool, teacher, settings, fp) -> dict[str, Any]:
    """Plan the questions, make the rows batch by batch into the checkpoint, then write the dataset."""
    plan = plan_questions(cfg, retriever, teacher, ckpt)
    maker = RowMaker(cfg, retriever, pool, teacher, plan.held_out_docs)
    todo = [q for q in plan.questions if q.item.id not in ckpt.done]
    log.info(
        "%d questions (%d already done), %d held out for test, %d skipped",
        len(plan.questions), len(plan.questions) - len(todo), len(plan.test), sum(plan.dropped.values()),
    )  # fmt: skip
    for batch in _progress(_batches(todo, cfg.batch_size), len(todo), cfg.batch_size):
        ckpt.append(maker.rows(batch))
    results = ckpt.results([q.item.id for q in plan.questions])
    manifest = write_dataset(cfg, results, plan, settings, fp, retriever, teacher)
    ckpt.remove()
    return manifest


def _finished(out: Path, fp: str, cfg: GenerateConfig) -> dict[str, Any] | None:
    """With --resume on a finished directory: its manifest if the settings match, else a RaftError."""
    if not out.exists() or not any(out.iterdir()):
        return None
    if cfg.overwrite:
        return None
    if not cfg.resume:
        raise RaftError(
            f"{out} already exists; pass --overwrite to replace it, --resume to continue, or another -o"
        )
    manifest = artifacts.read_manifest(out, KIND, BUILD_HINT)
    if manifest.get("fingerprint") != fp:
        raise RaftError(f"{out} was generated with other settings; pass --overwrite to rebuild it with these")
    log.info("%s is already complete with these settings", out)
    return manifest


def _batches(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _progress(batches, total: int, size: int):
    from tqdm.auto import tqdm

    with tqdm(total=total, desc="rows", unit="q", disable=total < 2 * size) as bar:
        for batch in batches:
            yield batch
            bar.update(len(batch))


def estimate(cfg: GenerateConfig, retriever: Retriever) -> dict[str, Any]:
    """What a run would cost: teacher calls and approximate tokens (4 characters per token)."""
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
    completion_tokens = q_calls * 25 * cfg.questions_per_chunk + a_calls * min(cfg.teacher_max_new_tokens, 160)
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


