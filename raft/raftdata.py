"""`raft generate`: turn an index plus a question source into a RAFT dataset directory.

DATASET_DIR/hf (DatasetDict with `train` and `eval`, split by oracle document), train.jsonl and
eval.jsonl, optional gorilla/ export, and manifest.json (written last). Rows are checkpointed in
batches to `.<name>.partial/` beside the output, so `--resume` after a kill loses at most one batch.
"""

from __future__ import annotations

import json
import logging
import random
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from raft import artifacts, prompts
from raft.contexts import STRATEGIES, ChunkPool
from raft.errors import RaftError
from raft.qa import EVAL_SPLITS, QAItem, read_qa, resolve_oracles
from raft.raftrows import Checkpoint, RowMaker, plan, teacher_questions
from raft.teacher import DeterministicTeacher, LocalTeacher, OpenAITeacher, Teacher

log = logging.getLogger(__name__)

KIND = "dataset"
BUILD_HINT = "raft generate INDEX_DIR -o DATASET_DIR --qa FILE"
NO_ORACLE_TARGETS = ("abstain", "memorize")
MODES = ("raft", "dsf")
# Settings that change how a run is executed but not what it produces (left out of the fingerprint).
_RUN_ONLY = ("out", "overwrite", "resume", "batch_size", "concurrency", "device", "dry_run")


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
    eval_fraction: float = 0.1
    max_tokens: int | None = None
    tokenizer: str | None = None
    export: str | None = None
    teacher_max_new_tokens: int = 512
    batch_size: int = 64
    concurrency: int = 8
    device: str | None = None
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
    if not 0.0 <= cfg.eval_fraction < 1.0:
        problems.append("--eval-fraction must be in [0, 1)")
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
    """A hash of everything that determines the output (settings, index, QA file, prompt version)."""
    settings = {f.name: getattr(cfg, f.name) for f in fields(cfg) if f.name not in _RUN_ONLY}
    settings = json.loads(json.dumps(settings, default=str))
    basis = {
        "settings": settings,
        "index": index_fingerprint(retriever.manifest),
        "qa": _file_fingerprint(Path(cfg.qa)) if cfg.qa else None,
        "prompt": prompts.PROMPT_VERSION,
    }
    return artifacts.fingerprint(basis), settings


def index_fingerprint(manifest: dict[str, Any]) -> str:
    """The index's identity: its manifest without the creation time."""
    return artifacts.fingerprint({k: v for k, v in manifest.items() if k not in ("created", "seconds")})


def _file_fingerprint(path: Path) -> str:
    import hashlib

    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for p in files:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def load_retriever(index: Path, device: str | None = None) -> Any:
    from raft.retriever import Retriever

    return Retriever.load(index, device=device)


# ---- the run -------------------------------------------------------------------------------


def generate_dataset(
    cfg: GenerateConfig, retriever: Any = None, teacher: Teacher | None = None
) -> dict[str, Any]:
    """Build DATASET_DIR from the settings; returns the manifest (or, with dry_run, the plan)."""
    validate(cfg)
    retriever = retriever or load_retriever(Path(cfg.index), cfg.device)
    pool = ChunkPool(retriever.chunks)
    if cfg.mode == "raft" and len(pool) < cfg.distractors + 1:
        raise RaftError(
            f"the index has {len(pool)} chunks, fewer than --distractors {cfg.distractors} + 1 oracle; "
            "index more documents or lower --distractors"
        )
    fp, settings = settings_fingerprint(cfg, retriever)
    out = Path(cfg.out)
    if cfg.dry_run:
        return plan(cfg, retriever)
    finished = _finished(out, fp, cfg)
    if finished is not None:
        return finished
    teacher = teacher or make_teacher(cfg)
    ckpt = Checkpoint.open(out, fp, settings, resume=cfg.resume, overwrite=cfg.overwrite)
    items, dropped = collect_items(cfg, retriever, teacher, ckpt)
    splits, conflicts = assign_splits(items, cfg)
    maker = RowMaker(cfg, retriever, pool, teacher, items, splits)
    todo = [(it, ch) for it, ch in items if it.id not in ckpt.done]
    log.info(
        "%d questions (%d already done), %d skipped before mixing",
        len(items),
        len(items) - len(todo),
        len(dropped),
    )
    for batch in _progress(_batches(todo, cfg.batch_size), len(todo), cfg.batch_size):
        ckpt.append(maker.rows(batch))
    records = ckpt.records([it.id for it, _ in items])
    manifest = write_dataset(cfg, records, dropped, settings, fp, retriever, teacher, conflicts)
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


def collect_items(cfg: GenerateConfig, retriever: Any, teacher: Teacher, ckpt: Any) -> tuple[list, Counter]:
    """(QAItem, oracle chunk) pairs from the QA file or teacher-written questions, plus drop counts."""
    dropped: Counter = Counter()
    if cfg.qa is not None:
        matched, unmatched = resolve_oracles(read_qa(cfg.qa), retriever)
        for it, reason in unmatched[:10]:
            log.warning("line %d (%s): %s; skipped", it.line, it.id, reason)
        if len(unmatched) > 10:
            log.warning("... and %d more unmatched questions", len(unmatched) - 10)
        if unmatched:
            dropped["oracle_not_found"] += len(unmatched)
        if not matched:
            raise RaftError(
                f"no question in {cfg.qa} matched a chunk of {cfg.index}; give doc_id / chunk_id / passage "
                "columns that name documents of this index"
            )
        return matched, dropped
    return teacher_questions(cfg, retriever, teacher, ckpt), dropped


def assign_splits(items: list[tuple[QAItem, Any]], cfg: GenerateConfig) -> tuple[dict[str, str], int]:
    """Split by oracle document group: the file's own split column wins; other groups go to eval by seed.

    A group whose rows the file puts in both splits goes to eval whole (counted as a conflict).
    Returns (item id -> split, conflicts).
    """
    group_of = {it.id: group_key(it, ch) for it, ch in items}
    declared: dict[str, set[str]] = {}
    for it, _ in items:
        if it.split:
            side = "eval" if it.split in EVAL_SPLITS else "train"
            declared.setdefault(group_of[it.id], set()).add(side)
    conflicts = sum(1 for sides in declared.values() if len(sides) > 1)
    side_of = {g: ("eval" if "eval" in sides else "train") for g, sides in declared.items()}
    free = sorted({g for g in group_of.values() if g not in side_of})
    random.Random(f"{cfg.seed}:split").shuffle(free)
    n_eval = round(cfg.eval_fraction * len(free))
    if cfg.eval_fraction > 0 and n_eval == 0 and len(free) >= 2 and not declared:
        n_eval = 1
    side_of.update({g: ("eval" if i < n_eval else "train") for i, g in enumerate(free)})
    if conflicts:
        log.warning(
            "%d oracle document(s) had questions in both splits of the QA file; all moved to eval", conflicts
        )
    return {it.id: side_of[group_of[it.id]] for it, _ in items}, conflicts


def group_key(item: QAItem, chunk: Any) -> str:
    """The oracle document group: the QA file's doc id (which may name several index documents), else the chunk's."""
    return item.doc_id or chunk.doc_id


# ---- output --------------------------------------------------------------------------------

ROW_COLUMNS = (
    "id question answer cot_answer context_ids context_doc_ids context_titles oracle_id oracle_doc_id "
    "oracle_present oracle_index strategy seed trimmed prompt completion"
).split()


def _features() -> Any:
    from datasets import Features, List, Value

    text, strings = Value("string"), List(Value("string"))
    message = List({"role": Value("string"), "content": Value("string")})
    types = dict.fromkeys(
        ("id", "question", "answer", "cot_answer", "oracle_id", "oracle_doc_id", "strategy"), text
    )
    types.update(dict.fromkeys(("context_ids", "context_doc_ids", "context_titles"), strings))
    types.update(oracle_present=Value("bool"), trimmed=Value("bool"), oracle_index=Value("int32"))
    types.update(seed=Value("int64"), prompt=message, completion=message)
    return Features({c: types[c] for c in ROW_COLUMNS})


def write_dataset(cfg, records, dropped, settings, fp, retriever, teacher, conflicts) -> dict[str, Any]:
    """Write hf/, the JSONL copies, the optional gorilla export and (last) the manifest."""
    from datasets import Dataset, DatasetDict

    rows = [r for r in records if "dropped" not in r]
    for r in records:
        if "dropped" in r:
            dropped[r["dropped"]] += 1
    by_split = {s: [r for r in rows if r["_split"] == s] for s in ("train", "eval")}
    if not rows:
        raise RaftError(f"no rows were produced ({dict(dropped)}); check the QA file and the teacher")
    with artifacts.staging_dir(Path(cfg.out), overwrite=cfg.overwrite or cfg.resume) as tmp:
        clean = {s: [{c: r[c] for c in ROW_COLUMNS} for r in rs] for s, rs in by_split.items()}
        for split, rs in clean.items():
            _write_jsonl(tmp / f"{split}.jsonl", rs)
        feats = _features()
        DatasetDict({s: Dataset.from_list(rs, features=feats) for s, rs in clean.items()}).save_to_disk(
            str(tmp / "hf")
        )
        if cfg.export == "gorilla":
            (tmp / "gorilla").mkdir()
            for split, rs in by_split.items():
                _write_jsonl(tmp / "gorilla" / f"{split}.jsonl", [gorilla_row(r) for r in rs])
        manifest = artifacts.write_manifest(
            tmp, KIND, _manifest_body(cfg, by_split, dropped, settings, fp, retriever, teacher, conflicts)
        )
    return manifest


def _manifest_body(cfg, by_split, dropped, settings, fp, retriever, teacher, conflicts) -> dict[str, Any]:
    rows = by_split["train"] + by_split["eval"]
    mixed = [r for r in rows if r["context_ids"]]
    quotes = Counter(r["_quote"] for r in rows)
    tokens = [r["_prompt_tokens"] for r in rows]
    return {
        "mode": cfg.mode,
        "prompt": prompts.contract(),
        "index": str(cfg.index),
        "index_fingerprint": index_fingerprint(retriever.manifest),
        "embedder": retriever.manifest.get("embedder"),
        "fingerprint": fp,
        "settings": settings,
        "teacher": getattr(teacher, "name", "deterministic"),
        "teacher_stats": dict(getattr(teacher, "stats", {})),
        "counts": {
            "train": len(by_split["train"]),
            "eval": len(by_split["eval"]),
            "dropped": dict(sorted(dropped.items())),
            "oracle_rate": _share(mixed, lambda r: r["oracle_present"]),
            "trimmed_share": _share(rows, lambda r: r["trimmed"]),
            "hard_shortfall_rows": sum(1 for r in rows if r["_shortfall"]),
            "quotes": dict(sorted(quotes.items())),
            "mean_prompt_tokens": round(sum(tokens) / len(tokens), 1) if tokens else 0,
            "prompt_tokens_counted_with": cfg.tokenizer or "chars/4 estimate",
            "split_conflicts": conflicts,
            "oracle_docs": {s: len({r["oracle_doc_id"] for r in rs}) for s, rs in by_split.items()},
        },
    }


def _share(rows: list[dict], pred) -> float:
    return round(sum(1 for r in rows if pred(r)) / len(rows), 4) if rows else 0.0


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def gorilla_row(r: dict[str, Any]) -> dict[str, Any]:
    """The original RAFT column layout (with real titles instead of placeholders)."""
    user = r["prompt"][-1]["content"]
    texts = r["_context_texts"]
    return {
        "id": r["id"],
        "type": "general",
        "question": r["question"],
        "context": {"title": [r["context_titles"]], "sentences": [texts]},
        "oracle_context": r["_oracle_text"],
        "cot_answer": r["cot_answer"],
        "instruction": user,
    }


def load_dataset_dir(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """(DatasetDict with train/eval, manifest) of a finished `raft generate` directory."""
    from datasets import load_from_disk

    manifest = artifacts.read_manifest(Path(path), KIND, BUILD_HINT)
    return load_from_disk(str(Path(path) / "hf")), manifest


def format_summary(manifest: dict[str, Any]) -> str:
    """The end-of-run summary as a few aligned lines."""
    c, s = manifest["counts"], manifest["settings"]
    quotes = c["quotes"]
    checked = sum(quotes.values()) or 1
    valid = (quotes.get("exact", 0) + quotes.get("repaired", 0)) / checked
    dropped = ", ".join(f"{k} {v}" for k, v in c["dropped"].items()) or "none"
    lines = [
        f"rows          train {c['train']}, eval {c['eval']} (oracle documents {c['oracle_docs']['train']} / "
        f"{c['oracle_docs']['eval']}, none shared)",
        f"mode          {manifest['mode']}; teacher {manifest['teacher']}",
        f"contexts      {s['distractors']} distractors ({s['strategy']}), oracle rate {c['oracle_rate']:.3f} "
        f"(p={s['p_oracle']}), oracle-free target {s['no_oracle_target']}",
        f"prompt tokens mean {c['mean_prompt_tokens']} ({c['prompt_tokens_counted_with']}); "
        f"trimmed {c['trimmed_share']:.1%}",
        f"quotes        valid {valid:.1%} (exact {quotes.get('exact', 0)}, repaired {quotes.get('repaired', 0)})",
        f"dropped       {dropped}",
    ]
    return "\n".join(lines)
