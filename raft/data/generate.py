"""`raft generate`: turn an index plus a question source into a RAFT dataset directory.

One read, top to bottom: settings are validated; questions are collected (from a QA file, matched to
their oracle chunks, or written by a teacher); every question's document group gets a split (train /
validation / test, by `raft.splits`); test questions are set aside with their documents; `RowMaker`
(raft/data/rows.py) builds the rows of the other splits in checkpointed batches; the dataset is written.

DATASET_DIR: hf/ (DatasetDict `train` + `validation`), train.jsonl, validation.jsonl, lineage.json (the
QA file's fingerprint and which questions and documents went where, test included), optional gorilla/,
and manifest.json (last). Test questions and their documents never reach a row, not even as distractors.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from raft import artifacts, prompts
from raft.data.contexts import STRATEGIES, ChunkPool
from raft.data.qa import QAItem, doc_group, prefix_map, question_key, read_qa, resolve_oracles
from raft.data.rows import ABSTAINED, COLUMNS, Checkpoint, Dropped, Question, Row, RowMaker
from raft.data.teacher import DeterministicTeacher, LocalTeacher, OpenAITeacher, Teacher
from raft.errors import RaftError
from raft.quotes import EXACT, REPAIRED
from raft.splits import DATASET_SPLITS, SPLITS, TEST, TRAIN, VALIDATION, split_groups

log = logging.getLogger(__name__)

KIND = "dataset"
BUILD_HINT = "raft generate INDEX_DIR -o DATASET_DIR --qa FILE"
LINEAGE = "lineage.json"
NO_ORACLE_TARGETS = ("abstain", "memorize")
MODES = ("raft", "dsf")
MIN_CHUNK_CHARS = 100  # shorter chunks (headings, stubs) get no teacher questions
# Settings that change how a run is executed but not what it produces (left out of the fingerprint).
_RUN_ONLY = ("out", "overwrite", "resume", "batch_size", "concurrency", "device", "backend", "dry_run")


@dataclass(frozen=True)
class GenerateConfig:
    """Settings of `raft generate`; every default lives here."""

    index: Path
    out: Path
    qa: Path | None = None
    teacher: str | None = None
    teacher_url: str | None = None
    teacher_key_env: str = "RAFT_API_KEY"
    questions_per_chunk: int = 3
    max_chunks: int | None = None
    distractors: int = 4
    p_oracle: float = 0.8
    strategy: str = "hard"
    no_oracle_target: str = "abstain"
    mode: str = "raft"
    seed: int = 0
    validation_fraction: float = 0.1
    test_fraction: float = 0.1  # used only when the QA file declares no test split
    train_on_test: bool = False  # put the file's test questions into training (never the default)
    max_tokens: int | None = None
    tokenizer: str | None = None
    export: str | None = None
    teacher_max_new_tokens: int = 512
    batch_size: int = 64
    concurrency: int = 8
    device: str | None = None
    backend: str | None = None  # query embedder backend (None: as the index records)
    overwrite: bool = False
    resume: bool = False
    dry_run: bool = False


def validate(cfg: GenerateConfig) -> None:
    """Every problem with the settings at once, as one RaftError."""
    problems = []
    if not (Path(cfg.index) / artifacts.MANIFEST).is_file():
        problems.append(
            f"index {cfg.index} not found (no manifest.json); build it with `raft index CORPUS -o INDEX`"
        )
    if cfg.qa is None and cfg.teacher is None:
        problems.append("no question source; pass --qa FILE and/or --teacher MODEL")
    if cfg.qa is not None and not Path(cfg.qa).exists():
        problems.append(f"--qa {cfg.qa} does not exist")
    if cfg.distractors < 0:
        problems.append("--distractors must be >= 0")
    if not 0.0 <= cfg.p_oracle <= 1.0:
        problems.append("--p-oracle must be between 0 and 1")
    if cfg.strategy not in STRATEGIES:
        problems.append(f"--strategy must be one of {', '.join(STRATEGIES)}")
    if cfg.no_oracle_target not in NO_ORACLE_TARGETS:
        problems.append(f"--no-oracle-target must be one of {', '.join(NO_ORACLE_TARGETS)}")
    if cfg.mode not in MODES:
        problems.append(f"--mode must be one of {', '.join(MODES)}")
    for name in ("validation_fraction", "test_fraction"):
        if not 0.0 <= getattr(cfg, name) < 1.0:
            problems.append(f"--{name.replace('_', '-')} must be in [0, 1)")
    if cfg.max_tokens is not None and cfg.tokenizer is None:
        problems.append("--max-tokens needs --tokenizer (the base model's id or path) to count tokens")
    if cfg.export not in (None, "gorilla"):
        problems.append("--export supports only 'gorilla'")
    if cfg.questions_per_chunk < 1:
        problems.append("--questions-per-chunk must be >= 1")
    if cfg.overwrite and cfg.resume:
        problems.append("--overwrite and --resume exclude each other; pick one")
    if problems:
        raise RaftError("; ".join(problems))


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


def settings_fingerprint(cfg: GenerateConfig, retriever: Any) -> tuple[str, dict[str, Any]]:
    """A hash of everything that determines the output (settings, index, QA file, prompt contract)."""
    settings = {f.name: getattr(cfg, f.name) for f in fields(cfg) if f.name not in _RUN_ONLY}
    settings = json.loads(json.dumps(settings, default=str))
    basis = {
        "settings": settings,
        "index": artifacts.index_fingerprint(retriever.manifest),
        "qa": artifacts.file_fingerprint(Path(cfg.qa)) if cfg.qa else None,
        "prompt": prompts.contract()["hash"],
    }
    return artifacts.fingerprint(basis), settings


def load_retriever(index: Path, device: str | None = None, backend: str | None = None) -> Any:
    from raft.index.retriever import Retriever

    return Retriever.load(index, device=device, backend=backend)


# ---- the run -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """Every question with its split, the documents held out from each split's contexts, and what was skipped."""

    questions: list[Question]  # train and validation questions (rows are made for these)
    test: list[Question]  # held out: no row, no context, recorded in the lineage only
    held_out_docs: dict[str, frozenset[str]]  # split -> documents its contexts may not contain
    test_docs: frozenset[str]
    dropped: Counter
    conflicts: int


def generate_dataset(
    cfg: GenerateConfig, retriever: Any = None, teacher: Teacher | None = None
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


# ---- questions and splits ------------------------------------------------------------------


def plan_questions(cfg: GenerateConfig, retriever: Any, teacher: Teacher, ckpt: Checkpoint) -> Plan:
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


def record_docs(item: QAItem, oracles: tuple[Any, ...], doc_ids: set[str], by_prefix: dict) -> frozenset[str]:
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


def teacher_chunks(cfg: GenerateConfig, retriever: Any) -> list[Any]:
    """The chunks the teacher writes questions for: long enough ones, sampled to --max-chunks by seed."""
    import random

    chunks = [c for c in retriever.chunks if len(c.text.strip()) >= MIN_CHUNK_CHARS]
    if cfg.max_chunks is not None and cfg.max_chunks < len(chunks):
        keep = set(random.Random(f"{cfg.seed}:chunks").sample(range(len(chunks)), cfg.max_chunks))
        chunks = [c for i, c in enumerate(chunks) if i in keep]
    return chunks


def estimate(cfg: GenerateConfig, retriever: Any) -> dict[str, Any]:
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


# ---- output --------------------------------------------------------------------------------


def _features() -> Any:
    from datasets import Features, List, Value

    text, strings = Value("string"), List(Value("string"))
    message = List({"role": Value("string"), "content": Value("string")})
    types = dict.fromkeys(("id", "question", "answer", "cot_answer", "strategy"), text)
    types.update(dict.fromkeys(("context_ids", "context_doc_ids", "context_titles", "oracle_ids", "oracle_doc_ids"), strings))
    types.update(oracle_present=Value("bool"), trimmed=Value("bool"), leak_checked=Value("bool"))
    types.update(oracle_positions=List(Value("int32")), seed=Value("int64"), prompt=message, completion=message)
    return Features({c: types[c] for c in COLUMNS})


def write_dataset(cfg, results, plan: Plan, settings, fp, retriever, teacher) -> dict[str, Any]:
    """Write hf/, the JSONL copies, lineage.json, the optional gorilla export and (last) the manifest."""
    from datasets import Dataset, DatasetDict

    rows = [r for r in results if isinstance(r, Row)]
    dropped = plan.dropped + Counter(r.reason for r in results if isinstance(r, Dropped))
    if not rows:
        raise RaftError(f"no rows were produced ({dict(dropped)}); check the QA file and the teacher")
    by_split = {s: [r for r in rows if r.split == s] for s in DATASET_SPLITS}
    lineage = make_lineage(cfg, by_split, plan, retriever)
    with artifacts.staging_dir(Path(cfg.out), overwrite=cfg.overwrite or cfg.resume) as tmp:
        clean = {s: [r.columns() for r in rs] for s, rs in by_split.items()}
        for split, rs in clean.items():
            _write_jsonl(tmp / f"{split}.jsonl", rs)
        feats = _features()
        DatasetDict({s: Dataset.from_list(rs, features=feats) for s, rs in clean.items()}).save_to_disk(
            str(tmp / "hf")
        )
        artifacts.write_json_atomic(tmp / LINEAGE, lineage)
        if cfg.export == "gorilla":
            (tmp / "gorilla").mkdir()
            for split, rs in by_split.items():
                _write_jsonl(tmp / "gorilla" / f"{split}.jsonl", [gorilla_row(r) for r in rs])
        body = _manifest_body(cfg, by_split, plan, dropped, settings, fp, retriever, teacher, lineage)
        manifest = artifacts.write_manifest(tmp, KIND, body)
    return manifest


def make_lineage(cfg: GenerateConfig, by_split: dict[str, list[Row]], plan: Plan, retriever: Any) -> dict[str, Any]:
    """Which questions and documents went where: what `raft eval` checks a model's test questions against."""
    splits: dict[str, Any] = {}
    for split, rows in by_split.items():
        splits[split] = {
            "question_ids": sorted(r.id for r in rows),
            "question_keys": sorted({question_key(r.question) for r in rows}),
            "oracle_docs": sorted({d for r in rows for d in r.oracle_doc_ids}),
            "context_docs": sorted({d for r in rows for d in r.context_doc_ids}),
        }
    splits[TEST] = {
        "question_ids": sorted(q.item.id for q in plan.test),
        "question_keys": sorted({question_key(q.item.question) for q in plan.test}),
        "oracle_docs": sorted({c.doc_id for q in plan.test for c in q.oracles}),
        "held_out_docs": sorted(plan.test_docs),
    }
    return {
        "qa": str(cfg.qa) if cfg.qa else None,
        "qa_fingerprint": artifacts.file_fingerprint(Path(cfg.qa)) if cfg.qa else None,
        "index_fingerprint": artifacts.index_fingerprint(retriever.manifest),
        "seed": cfg.seed,
        "train_on_test": cfg.train_on_test,
        "splits": splits,
    }


def _manifest_body(cfg, by_split, plan, dropped, settings, fp, retriever, teacher, lineage) -> dict[str, Any]:
    rows = [r for s in DATASET_SPLITS for r in by_split[s]]
    mixed = [r for r in rows if r.context_ids]
    quotes = Counter(r.quote_status for r in rows)
    tokens = [r.prompt_tokens for r in rows]
    return {
        "mode": cfg.mode,
        "prompt": prompts.contract(),
        "index": str(cfg.index),
        "index_fingerprint": artifacts.index_fingerprint(retriever.manifest),
        "embedder": retriever.manifest.get("embedder"),
        "fingerprint": fp,
        "settings": settings,
        "teacher": getattr(teacher, "name", "deterministic"),
        "teacher_stats": dict(getattr(teacher, "stats", {})),
        "lineage": {
            "file": LINEAGE,
            "qa_fingerprint": lineage["qa_fingerprint"],
            "fingerprint": artifacts.fingerprint(lineage),
        },
        "counts": {
            **{s: len(by_split[s]) for s in DATASET_SPLITS},
            "test_questions_held_out": len(plan.test),
            "test_documents_held_out": len(plan.test_docs),
            "dropped": dict(sorted(dropped.items())),
            "oracle_rate": _share(mixed, lambda r: r.oracle_present),
            "trimmed_share": _share(rows, lambda r: r.trimmed),
            "hard_shortfall_rows": sum(1 for r in rows if r.shortfall),
            "leak_unchecked_rows": sum(1 for r in mixed if not r.leak_checked),
            "quotes": dict(sorted(quotes.items())),
            "mean_prompt_tokens": round(sum(tokens) / len(tokens), 1) if tokens else 0,
            "prompt_tokens_counted_with": cfg.tokenizer or "chars/4 estimate",
            "split_conflicts": plan.conflicts,
            "oracle_docs": {s: len({d for r in rs for d in r.oracle_doc_ids}) for s, rs in by_split.items()},
        },
    }


def _share(rows: list[Row], pred) -> float:
    return round(sum(1 for r in rows if pred(r)) / len(rows), 4) if rows else 0.0


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def gorilla_row(r: Row) -> dict[str, Any]:
    """The original RAFT column layout (with real titles instead of placeholders)."""
    return {
        "id": r.id,
        "type": "general",
        "question": r.question,
        "context": {"title": [r.context_titles], "sentences": [r.context_texts]},
        "oracle_context": "\n".join(r.oracle_texts),
        "cot_answer": r.cot_answer,
        "instruction": r.prompt[-1]["content"],
    }


def load_dataset_dir(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """(DatasetDict with train/validation, manifest) of a finished `raft generate` directory."""
    from datasets import load_from_disk

    manifest = artifacts.read_manifest(Path(path), KIND, BUILD_HINT)
    return load_from_disk(str(Path(path) / "hf")), manifest


def format_summary(manifest: dict[str, Any]) -> str:
    """The end-of-run summary as a few aligned lines."""
    c, s = manifest["counts"], manifest["settings"]
    quotes = c["quotes"]
    quoted = sum(v for k, v in quotes.items() if k != ABSTAINED) or 1
    valid = (quotes.get(EXACT, 0) + quotes.get(REPAIRED, 0)) / quoted
    dropped = ", ".join(f"{k} {v}" for k, v in c["dropped"].items()) or "none"
    lines = [
        f"rows          train {c['train']}, validation {c['validation']} (oracle documents "
        f"{c['oracle_docs']['train']} / {c['oracle_docs']['validation']}, none shared)",
        f"test          {c['test_questions_held_out']} questions and {c['test_documents_held_out']} documents held out "
        "(in no row, not even as distractors)",
        f"mode          {manifest['mode']}; teacher {manifest['teacher']}",
        f"contexts      {s['distractors']} distractors ({s['strategy']}), oracle rate {c['oracle_rate']:.3f} "
        f"(p={s['p_oracle']}), oracle-free target {s['no_oracle_target']}",
        f"leak check    {c['leak_unchecked_rows']} rows could not be checked (yes/no answers or no answer known)",
        f"prompt tokens mean {c['mean_prompt_tokens']} ({c['prompt_tokens_counted_with']}); "
        f"trimmed {c['trimmed_share']:.1%}",
        f"quotes        valid {valid:.1%} of rows with a quote (exact {quotes.get(EXACT, 0)}, repaired "
        f"{quotes.get(REPAIRED, 0)}); {quotes.get(ABSTAINED, 0)} abstain rows have none",
        f"dropped       {dropped}",
    ]
    return "\n".join(lines)
