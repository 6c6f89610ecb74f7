"""QA file readers: JSONL, CSV (AWS `QA_true.csv` included), a JSON list of records, a saved HF dataset
directory, SQuAD v1/v2 JSON, PubMedQA `ori_pqal.json`, and the bundled corpus's gold `questions.jsonl`.

Every layout becomes a list of `raft.data.qa.QAItem`; `raft.data.oracles.resolve_oracles` then finds
each item's oracle chunks in an index.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from raft import splits
from raft.data.qa import QAItem
from raft.errors import RaftError, json_error
from raft.jsonl import read_jsonl

log = logging.getLogger(__name__)


# Column aliases, first match wins (compared case-insensitively).
ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "qid", "question_id", "_id"),
    "question": ("question", "query", "prompt", "instruction", "q"),
    "answer": ("answer", "gold_answer", "gold", "answers", "final_decision", "yes_no_true", "answer_true"),
    "doc_id": (
        "doc_id",
        "doc_ids",
        "document_id",
        "document",
        "document_true",
        "oracle_doc",
        "oracle_doc_ids",
        "source",
        "pmid",
    ),
    "chunk_id": ("chunk_id", "chunk_ids", "oracle_id", "oracle_ids", "oracle_chunk"),
    "oracle_text": (
        "passage",
        "oracle_text",
        "oracle",
        "oracle_context",
        "context",
        "evidence",
        "answer_true",
    ),
    "split": ("split", "subset", "partition"),
}


# PubMedQA section labels that carry the study's result: the oracle of a yes/no/maybe question.
RESULT_SECTIONS = ("RESULTS", "RESULT", "FINDINGS", "CONCLUSION", "CONCLUSIONS")


def read_qa(path: str | Path) -> list[QAItem]:
    """Read a QA file or saved HF dataset directory; RaftError naming line numbers on bad input."""
    path = Path(path)
    if not path.exists():
        raise RaftError(
            f"QA file {path} does not exist; pass --qa with a JSONL, CSV, JSON or saved dataset path"
        )
    if path.is_dir():
        items = _from_records(_hf_records(path), str(path))
    elif path.suffix.lower() == ".jsonl":
        items = _from_records(_jsonl_records(path), str(path))
    elif path.suffix.lower() == ".csv":
        items = _from_records(_csv_records(path), str(path))
    elif path.suffix.lower() == ".json":
        items = _read_json(path)
    else:
        raise RaftError(
            f"{path}: unknown QA file type {path.suffix!r}; use .jsonl, .csv, .json or a dataset directory"
        )
    if not items:
        raise RaftError(f"{path} holds no questions; add at least one row with a question")
    return _canonical_splits(_unique_ids(items), str(path))


def _jsonl_records(path: Path) -> Iterable[tuple[int, dict[str, Any]]]:
    return read_jsonl(path)


def _csv_records(path: Path) -> list[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        records = []
        for rec in reader:
            if None in rec:
                raise RaftError(
                    f"{path}: line {reader.line_num} has more fields than the header; quote commas"
                )
            records.append((reader.line_num, dict(rec)))
    return records


def _hf_records(path: Path) -> list[tuple[int, dict[str, Any]]]:
    from datasets import Dataset, DatasetDict, load_from_disk

    try:
        data = load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise RaftError(
            f"{path} is not a saved HF dataset ({exc}); save one with Dataset.save_to_disk"
        ) from None
    parts = data.items() if isinstance(data, DatasetDict) else [(None, data)]
    records: list[tuple[int, dict[str, Any]]] = []
    for split, ds in parts:
        assert isinstance(ds, Dataset)
        for rec in ds:
            if split is not None and "split" not in rec:
                rec = {**rec, "split": split}
            records.append((len(records) + 1, rec))
    return records


def _read_json(path: Path) -> list[QAItem]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise RaftError(f"{path}: invalid JSON ({json_error(exc, line_known=False)}); fix the file") from None
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        return _squad_items(data["data"])
    if (
        isinstance(data, dict)
        and data
        and all(isinstance(v, dict) and "QUESTION" in v for v in data.values())
    ):
        return _pubmedqa_items(data, path.parent / "test_ground_truth.json")
    if isinstance(data, list) and all(isinstance(r, dict) for r in data):
        return _from_records(((i + 1, r) for i, r in enumerate(data)), str(path))
    raise RaftError(
        f"{path}: not a recognised QA JSON (SQuAD, PubMedQA or a list of records); convert it to JSONL"
    )


def _squad_items(articles: list[dict[str, Any]]) -> list[QAItem]:
    """SQuAD v1/v2: one item per answerable question; the paragraph is the oracle text.

    Unanswerable questions (`is_impossible`) are skipped: their paragraph is not an oracle.
    """
    items, skipped, n = [], 0, 0
    for a, article in enumerate(articles):
        title = str(article.get("title") or f"article {a}")
        for i, para in enumerate(article.get("paragraphs", [])):
            for qa in para.get("qas", []):
                n += 1
                answers = [a.get("text", "") for a in qa.get("answers", []) if a.get("text")]
                if qa.get("is_impossible") or not answers:
                    skipped += 1
                    continue
                items.append(
                    QAItem(
                        str(qa["id"]),
                        qa["question"].strip(),
                        answers[0],
                        (f"{title}#{i}",),  # the paragraph's document id when `raft index` read this file
                        (),
                        para["context"],
                        None,
                        n,
                        title,
                    )
                )
    if skipped:
        log.info("SQuAD: skipped %d unanswerable question(s)", skipped)
    return items


def _pubmedqa_items(data: dict[str, dict[str, Any]], test_file: Path) -> list[QAItem]:
    """PubMedQA: answer = final_decision, oracle = the sections that carry the result.

    `raft index` reads each abstract section as a document `<pmid>-<i>`; the oracle documents are the
    RESULTS/CONCLUSIONS sections (by LABELS; the last section when none is labelled so), because they
    decide yes/no/maybe. The official test PMIDs (`test_ground_truth.json` beside the file) get split "test".
    """
    test_ids: set[str] = set()
    if test_file.is_file():
        test_ids = set(json.loads(test_file.read_text()))
    items = []
    for n, (pmid, rec) in enumerate(data.items(), 1):
        contexts = [c if isinstance(c, str) else "" for c in rec.get("CONTEXTS") or []]
        labels = [str(x).upper() for x in rec.get("LABELS") or []]
        picked = [i for i, c in enumerate(contexts) if c.strip() and i < len(labels) and labels[i] in RESULT_SECTIONS]
        if not picked:
            picked = [i for i, c in enumerate(contexts) if c.strip()][-1:]
        text = "\n".join(contexts[i] for i in picked)
        split = "test" if pmid in test_ids else ("train" if test_ids else None)
        doc_ids = tuple(f"{pmid}-{i}" for i in picked)
        items.append(
            QAItem(pmid, rec["QUESTION"], rec.get("final_decision"), doc_ids, (), text or None, split, n, pmid)
        )
    return items


def _pick(rec: dict[str, Any], field: str, lower: dict[str, str]) -> Any:
    for alias in ALIASES[field]:
        key = lower.get(alias)
        if key is not None and rec[key] not in (None, "", "None"):
            return rec[key]
    return None


def _from_records(records: Iterable[tuple[int, dict[str, Any]]], source: str) -> list[QAItem]:
    """Map records with aliased columns to QAItems; every row lacking a question is reported."""
    items, missing = [], []
    records = list(records)
    if records:
        lower = {k.strip().lower(): k for k in records[0][1]}
        if not any(a in lower for a in ALIASES["question"]):
            cols = ", ".join(sorted(lower)) or "none"
            raise RaftError(f"{source}: no question column (found: {cols}); name it 'question'")
    for line, rec in records:
        lower = {str(k).strip().lower(): k for k in rec}
        question = _pick(rec, "question", lower)
        if not isinstance(question, str) or not question.strip():
            missing.append(line)
            continue
        items.append(_item(rec, lower, question, line))
    if missing:
        shown = ", ".join(map(str, missing[:20])) + (" ..." if len(missing) > 20 else "")
        raise RaftError(
            f"{source}: {len(missing)} row(s) without a question at line(s) {shown}; fill or remove them"
        )
    return items


def _item(rec: dict[str, Any], lower: dict[str, str], question: str, line: int) -> QAItem:
    answer = _pick(rec, "answer", lower)
    if isinstance(answer, dict):  # HF SQuAD layout: {"text": [...], "answer_start": [...]}
        answer = (answer.get("text") or [None])[0]
    if isinstance(answer, list):
        answer = answer[0] if answer else None
    oracle = _pick(rec, "oracle_text", lower)
    if isinstance(oracle, list):
        oracle = "\n".join(map(str, oracle))
    if "answer_true" in lower and "yes_no_true" in lower:  # AWS QA_true.csv: the answer text is a passage
        oracle = rec[lower["answer_true"]] or None
    split = _pick(rec, "split", lower)
    rid = _pick(rec, "id", lower)
    return QAItem(
        id=str(rid) if rid is not None else f"q{line:05d}",
        question=question.strip(),
        answer=str(answer).strip() if answer is not None else None,
        doc_ids=tuple(d for d in (_clean_doc_id(v) for v in _as_list(_pick(rec, "doc_id", lower))) if d),
        chunk_ids=tuple(str(v) for v in _as_list(_pick(rec, "chunk_id", lower)) if v not in (None, "")),
        oracle_text=str(oracle) if oracle else None,
        split=str(split).strip().lower() if split else None,
        line=line,
    )


def _as_list(value: Any) -> list[Any]:
    """A column that may hold one value or a list of them (several oracle documents or chunks)."""
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _clean_doc_id(value: Any) -> str | None:
    """Strip spaces, use `/`, drop a document suffix (`guide/page.md` -> `guide/page`)."""
    if value in (None, ""):
        return None
    text = str(value).strip().replace("\\", "/")
    return re.sub(r"\.(md|markdown|txt|html?|pdf|rst)$", "", text, flags=re.IGNORECASE) or None


def _unique_ids(items: list[QAItem]) -> list[QAItem]:
    seen: dict[str, int] = {}
    out = []
    for it in items:
        count = seen.get(it.id, 0)
        seen[it.id] = count + 1
        out.append(it if count == 0 else QAItem(**{**it.__dict__, "id": f"{it.id}-{count}"}))
    return out


def _canonical_splits(items: list[QAItem], source: str) -> list[QAItem]:
    """Map the file's split names onto train / validation / test (raft.splits); unknown names are an error."""
    unknown = sorted({it.split for it in items if it.split and splits.canonical(it.split) is None})
    if unknown:
        known = ", ".join(sorted(splits.ALIASES))
        raise RaftError(f"{source}: unknown split name(s) {', '.join(unknown)}; use one of {known}")
    return [it if it.split is None else QAItem(**{**it.__dict__, "split": splits.canonical(it.split)}) for it in items]
