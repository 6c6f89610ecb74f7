"""The dataset directory `raft generate` writes (hf/, JSONL copies, lineage.json, optional gorilla/,
manifest.json last), how it is read back, and its end-of-run summary."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raft import artifacts, prompts
from raft.data.config import GenerateConfig
from raft.data.plan import Plan
from raft.data.qa import question_key
from raft.data.rows import ABSTAINED, COLUMNS, Dropped, Row
from raft.errors import RaftError
from raft.quotes import EXACT, REPAIRED
from raft.splits import DATASET_SPLITS, TEST

if TYPE_CHECKING:
    from raft.index.retriever import Retriever

KIND = "dataset"


BUILD_HINT = "raft generate INDEX_DIR -o DATASET_DIR --qa FILE"


LINEAGE = "lineage.json"


def _features() -> Any:
    from datasets import Features, List, Value

    text, strings = Value("string"), List(Value("string"))
    message = List({"role": Value("string"), "content": Value("string")})
    types = dict.fromkeys(("id", "question", "answer", "cot_answer", "strategy"), text)
    types.update(dict.fromkeys(("context_ids", "context_doc_ids", "context_titles", "oracle_ids", "oracle_doc_ids"), strings))
    types.update(oracle_present=Value("bool"), trimmed=Value("bool"), leak_checked=Value("bool"))
    types.update(oracle_positions=List(Value("int32")), seed=Value("int64"), prompt=message, completion=message)
    return Features({c: types[c] for c in COLUMNS})


def _no_rows_message(cfg: GenerateConfig, dropped: Counter) -> str:
    """Why no row was made, naming the knob to change when one reason explains it."""
    if dropped and dropped.most_common(1)[0][0] == "too_long_for_max_tokens":
        return (f"no rows were produced: every prompt is over --max-tokens {cfg.max_tokens} ({dict(dropped)}); "
                "raise --max-tokens or lower --distractors")
    return f"no rows were produced ({dict(dropped)}); check the QA file and the teacher"


def write_dataset(cfg, results, plan: Plan, settings, fp, retriever, teacher) -> dict[str, Any]:
    """Write hf/, the JSONL copies, lineage.json, the optional gorilla export and (last) the manifest."""
    from datasets import Dataset, DatasetDict

    rows = [r for r in results if isinstance(r, Row)]
    dropped = plan.dropped + Counter(r.reason for r in results if isinstance(r, Dropped))
    if not rows:
        raise RaftError(_no_rows_message(cfg, dropped))
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


def make_lineage(cfg: GenerateConfig, by_split: dict[str, list[Row]], plan: Plan, retriever: Retriever) -> dict[str, Any]:
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
        "answer_format": getattr(teacher, "answer_format", None),
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
    # in memory: maps over it (tokenising in the trainer) must never write cache files into the input artifact
    return load_from_disk(str(Path(path) / "hf"), keep_in_memory=True), manifest


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
