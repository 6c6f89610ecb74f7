"""Question/answer files: read them in any common layout and match each question to its oracle chunk.

Readable layouts: JSONL, CSV (AWS `QA_true.csv` included), a JSON list of records, a saved HF dataset
directory, SQuAD v1/v2 JSON, PubMedQA `ori_pqal.json`, and the bundled corpus's gold `questions.jsonl`.
Every layout becomes a list of `QAItem`; `resolve_oracles` then finds each item's oracle chunks in an index
(one or more: a multi-hop question names several documents, a PubMedQA record's result sections are
several chunks).
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raft import splits
from raft.errors import RaftError, json_error

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
# Answers that label a question rather than appear in the text (PubMedQA, AWS yes/no): they never locate a chunk.
LABEL_ANSWERS = frozenset({"yes", "no", "maybe", "true", "false"})
# PubMedQA section labels that carry the study's result: the oracle of a yes/no/maybe question.
RESULT_SECTIONS = ("RESULTS", "RESULT", "FINDINGS", "CONCLUSION", "CONCLUSIONS")
# A label answer whose named documents hold at most this many chunks takes them all as its oracle.
MAX_LABEL_ORACLE_CHUNKS = 3


@dataclass(frozen=True)
class QAItem:
    """One question with whatever is known about its answer and oracle; `line` locates it in the file."""

    id: str
    question: str
    answer: str | None
    doc_ids: tuple[str, ...]
    chunk_ids: tuple[str, ...]
    oracle_text: str | None
    split: str | None  # train / validation / test (raft.splits), None when the file gives none
    line: int
    group: str | None = None  # the record the oracle documents belong to (a PMID, a SQuAD article), if known


def is_locating(answer: str | None) -> bool:
    """True when the answer is text that can be searched for (not a yes/no/maybe label)."""
    return bool(answer and answer.strip()) and answer.strip().lower() not in LABEL_ANSWERS


def answer_matcher(answer: str | None) -> Callable[[str], bool] | None:
    """A test for lower-cased, whitespace-squashed text containing the answer (None for label answers).

    Answers under 4 characters ("5", "UK") must match as whole words; longer ones as substrings.
    """
    if not is_locating(answer):
        return None
    needle = _squash(answer or "")
    if len(needle) >= 4:
        return lambda text: needle in text
    pattern = re.compile(r"(?<!\w)" + re.escape(needle) + r"(?!\w)")
    return lambda text: pattern.search(text) is not None


def question_key(question: str) -> str:
    """A question's identity across files: a hash of its lower-cased words (ids differ between files)."""
    from raft.artifacts import fingerprint

    return fingerprint(" ".join(re.findall(r"\w+", question.lower())))


def contains(haystack: str, needle: str) -> bool:
    """Case- and whitespace-insensitive containment."""
    return _squash(needle) in _squash(haystack)


def _squash(text: str) -> str:
    return " ".join(text.lower().split())


# ---- reading -------------------------------------------------------------------------------


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
    errors, records = [], []
    with path.open(encoding="utf-8-sig") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                errors.append(f"line {n}: {json_error(exc)}")
                continue
            if not isinstance(rec, dict):
                errors.append(f"line {n}: not a JSON object")
                continue
            records.append((n, rec))
    if errors:
        shown = "; ".join(errors[:10]) + (f"; and {len(errors) - 10} more" if len(errors) > 10 else "")
        raise RaftError(f"{path}: {len(errors)} broken line(s): {shown}; fix or remove them")
    return records


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


# ---- matching to the index -----------------------------------------------------------------


def doc_group(doc_id: str, doc_ids: set[str], by_prefix: dict[str, list[str]]) -> list[str]:
    """The index documents a QA doc id names, by the first rule that matches:

    1. the exact id; 2. ids that extend it with `-`, `#` or `/` (`<pmid>-<i>` rows, `<file>#<row>`,
    a folder); 3. ids ending in `/<doc_id>` (indexed from a parent folder); 4. ids with the same first
    and last path segment (AWS `<guide>/<page>` -> `<guide>/doc_source/<page>`).
    """
    if doc_id in doc_ids:
        return [doc_id]
    group = [d for d in by_prefix.get(doc_id, []) if d[len(doc_id)] in "-#/"]
    if group:
        return sorted(group)
    tail = [d for d in doc_ids if d.endswith("/" + doc_id)]
    if tail:
        return sorted(tail)
    parts = doc_id.split("/")
    if len(parts) >= 2:
        return sorted(d for d in doc_ids if d.split("/")[0] == parts[0] and d.split("/")[-1] == parts[-1])
    return []


def prefix_map(doc_ids: Iterable[str]) -> dict[str, list[str]]:
    """Map every prefix ending just before a `-`, `#` or `/` to the ids that extend it."""
    out: dict[str, list[str]] = {}
    for d in doc_ids:
        for m in re.finditer(r"[-#/]", d):
            out.setdefault(d[: m.start()], []).append(d)
    return out


def resolve_oracles(
    items: list[QAItem], retriever: Any
) -> tuple[list[tuple[QAItem, tuple[Any, ...]]], list[tuple[QAItem, str]]]:
    """Match each item to its oracle chunks; return (matched, unmatched-with-reason), both in input order.

    Oracle chunks = the chunks named by chunk_ids; else, for each named document, the chunk containing the
    passage or the answer, or, for a yes/no/maybe answer, all of the document's chunks (when they are at
    most MAX_LABEL_ORACLE_CHUNKS), else its chunk most similar to the question; else the chunk that best
    matches oracle_text.
    """
    doc_ids = {c.doc_id for c in retriever.chunks}
    by_prefix = prefix_map(doc_ids)
    by_id = {str(c.chunk_id): c for c in retriever.chunks}
    found: list[list[Any]] = [[] for _ in items]
    failed: list[str | None] = [None] * len(items)
    need_sim: list[tuple[int, list[Any]]] = []
    need_text: list[int] = []
    for i, it in enumerate(items):
        chunks, reason, pending = _resolve_direct(it, by_id, retriever, doc_ids, by_prefix)
        found[i].extend(chunks)
        need_sim.extend((i, cands) for cands in pending)
        if reason == _USE_TEXT:
            need_text.append(i)
        elif reason is not None:
            failed[i] = reason
    _most_similar(items, need_sim, retriever, found)
    _match_text(items, need_text, retriever, by_id, found, failed)
    matched, unmatched = [], []
    for it, chunks, reason in zip(items, found, failed, strict=True):
        if reason is None and chunks:
            matched.append((it, tuple({str(c.chunk_id): c for c in chunks}.values())))
        else:
            unmatched.append((it, reason or "no oracle found"))
    return matched, unmatched


_USE_TEXT = "use oracle text"


def _resolve_direct(
    it: QAItem, by_id: dict[str, Any], retriever: Any, doc_ids: set[str], by_prefix: dict[str, list[str]]
) -> tuple[list[Any], str | None, list[list[Any]]]:
    """(chunks decided, failure reason or _USE_TEXT, candidate lists that similarity must decide)."""
    if it.chunk_ids:
        missing = [c for c in it.chunk_ids if c not in by_id]
        if not missing:
            return [by_id[c] for c in it.chunk_ids], None, []
        if not it.doc_ids and not it.oracle_text:
            return [], f"chunk id {missing[0]!r} is not in the index", []
    if not it.doc_ids:
        if it.oracle_text:
            return [], _USE_TEXT, []
        return [], "no chunk_id, doc_id or passage to find the oracle", []
    chunks: list[Any] = []
    pending: list[list[Any]] = []
    needles = [n for n in (it.oracle_text, it.answer if is_locating(it.answer) else None) if n]
    for doc_id in it.doc_ids:
        group = doc_group(doc_id, doc_ids, by_prefix)
        if not group:
            reason = _USE_TEXT if it.oracle_text else f"document {doc_id!r} is not in the index"
            return [], reason, []
        candidates = [c for d in group for c in retriever.doc_chunks(d)]
        hit = _first_containing(candidates, needles)
        if hit is not None:
            chunks.append(hit)
        elif not is_locating(it.answer) and it.answer and len(candidates) <= MAX_LABEL_ORACLE_CHUNKS:
            chunks.extend(candidates)
        elif len(candidates) == 1:
            chunks.append(candidates[0])
        else:
            pending.append(candidates)
    return chunks, None, pending


def _first_containing(candidates: list[Any], needles: list[str]) -> Any:
    """A whole passage or the answer beats a passage's first sentence."""
    for first_sentence in (False, True):
        for needle in needles:
            hit = _containing(candidates, needle, first_sentence)
            if hit is not None:
                return hit
    return None


def _containing(chunks: list[Any], needle: str, first_sentence: bool = True) -> Any:
    """The first chunk containing `needle` (or, for long needles, its first sentence)."""
    for c in chunks:
        if contains(c.text, needle):
            return c
    if not first_sentence:
        return None
    first = re.split(r"(?<=[.!?])\s+", needle.strip())[0]
    if len(first) >= 40 and first != needle.strip():
        for c in chunks:
            if contains(c.text, first):
                return c
    return None


def _most_similar(
    items: list[QAItem], pending: list[tuple[int, list[Any]]], retriever: Any, found: list[list[Any]]
) -> None:
    """Within each candidate list, the chunk closest to its item's question (one embed call per side)."""
    if not pending:
        return
    unique = {str(c.chunk_id): c for _, cands in pending for c in cands}
    row_of = {cid: n for n, cid in enumerate(unique)}
    vectors = retriever.embed([c.text for c in unique.values()])
    questions = retriever.embed([items[i].question for i, _ in pending])
    for q, (i, cands) in zip(questions, pending, strict=True):
        scores = [float(vectors[row_of[str(c.chunk_id)]] @ q) for c in cands]
        found[i].append(cands[scores.index(max(scores))])


def _match_text(
    items: list[QAItem],
    pending: list[int],
    retriever: Any,
    by_id: dict[str, Any],
    found: list[list[Any]],
    failed: list[str | None],
    k: int = 10,
) -> None:
    """Oracle text -> the retrieved chunk containing it (or contained in it), else the top hit if close enough."""
    if not pending:
        return
    hits = retriever.search_batch([items[i].oracle_text[:2000] for i in pending], k=k)
    for i, row in zip(pending, hits, strict=True):
        text = items[i].oracle_text or ""
        best = next((h for h in row if contains(h.text, text) or contains(text, h.text)), None)
        if best is None and row and row[0].score >= 0.8:
            best = row[0]
        if best is None:
            score = f"{row[0].score:.2f}" if row else "n/a"
            failed[i] = f"oracle text not found in the index (best similarity {score})"
        else:
            found[i].append(by_id[str(best.chunk_id)])
