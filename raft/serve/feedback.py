"""User feedback (👍/👎 + optional comment) on chat answers, stored as JSONL, and its export as QA files.

Each line records the question, the retrieval query, the retrieved chunk ids, the raw and the
extracted answer, the quotes with the chunks they were found in, and the model. `export_feedback`
turns the ratings into a QA JSONL (`id, question, answer, doc_id, chunk_id`) that `raft eval --qa`
and `raft generate --qa` read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from raft.errors import RaftError
from raft.jsonl import read_jsonl

log = logging.getLogger(__name__)

RATINGS = ("up", "down")
# Exported answers are the model's own (rated 👍 by a user), not independently written gold answers.
ANSWER_SOURCE = "model (rated helpful by a user)"
MAX_COMMENT_CHARS = 2000


@dataclass(frozen=True)
class FeedbackRecord:
    """One rating of one answer."""

    rating: str
    question: str
    answer: str
    model: str
    chunk_ids: list[str]
    doc_ids: list[str]
    cited_chunk_ids: list[str]
    final_answer: str | None = None
    query: str | None = None
    comment: str = ""
    time: str = ""
    turn_id: str = ""  # the question (turn) this rating is about


class FeedbackStore:
    """Append-only JSONL file; safe to write from many threads (one line per write, under a lock)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_file():
            raise RaftError(f"feedback path {self.path} is not a file; pass --feedback FILE.jsonl")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def add(self, record: FeedbackRecord) -> dict[str, Any]:
        if record.rating not in RATINGS:
            raise RaftError(f"rating must be one of {RATINGS}, got {record.rating!r}")
        row = asdict(record)
        row["comment"] = (record.comment or "").strip()[:MAX_COMMENT_CHARS]
        row["time"] = record.time or time.strftime("%Y-%m-%dT%H:%M:%S%z")
        line = json.dumps(row, ensure_ascii=False) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write(line)
        return row

    def read(self) -> list[dict[str, Any]]:
        return read_feedback(self.path)


def read_feedback(path: Path) -> list[dict[str, Any]]:
    """All records of a feedback JSONL; RaftError naming every broken line."""
    path = Path(path)
    if not path.is_file():
        raise RaftError(f"feedback file {path} does not exist; `raft chat INDEX --feedback FILE` writes it")
    rows = read_jsonl(path, required=("rating", "question", "answer"), fix="fix or delete them")
    return [row for _, row in rows]


def _qa_row(row: dict[str, Any]) -> dict[str, Any]:
    cited = row.get("cited_chunk_ids") or []
    chunk_id = cited[0] if cited else None
    doc_id = None
    if chunk_id and chunk_id in (row.get("chunk_ids") or []):
        doc_id = row["doc_ids"][row["chunk_ids"].index(chunk_id)]
    digest = hashlib.sha256(row["question"].strip().lower().encode()).hexdigest()[:10]
    answer = (row.get("final_answer") or "").strip() or None
    return {
        "id": f"fb-{digest}",
        "question": row["question"].strip(),
        "answer": answer,
        "doc_id": doc_id,
        "chunk_id": chunk_id,
        "answer_source": ANSWER_SOURCE,
    }


def export_feedback(path: Path, out: Path, as_: str = "qa", overwrite: bool = False) -> dict[str, int]:
    """Write a QA JSONL from feedback; returns counts.

    Every row says `answer_source: "model (rated helpful by a user)"`: the gold answers are the
    model's own, so scoring that model on them measures agreement with itself, not correctness.

    Only 👍 answers are exported (a 👎 says the answer is wrong, so it cannot serve as gold); the latest
    rating of a question wins. `qa`: eval questions — the model's `<ANSWER>:` text becomes the gold
    answer, with the cited chunk (if any) as oracle. `train`: rows for `raft generate --qa` — only
    answers whose quote was found verbatim in a retrieved chunk, so the oracle chunk is known.
    """
    if as_ not in ("qa", "train"):
        raise RaftError(f"--as must be qa or train, got {as_!r}")
    out = Path(out)
    if out.exists() and not overwrite:
        raise RaftError(f"{out} already exists; pass --overwrite or choose another path")
    latest: dict[str, dict[str, Any]] = {}
    for row in read_feedback(path):
        latest[row["question"].strip().lower()] = row
    rows, skipped = [], 0
    for row in latest.values():
        qa = _qa_row(row)
        keep = row["rating"] == "up" and qa["answer"] and (as_ == "qa" or qa["chunk_id"])
        if keep:
            rows.append(qa)
        else:
            skipped += 1
    if not rows:
        raise RaftError(f"no usable ratings in {path} for --as {as_}; rate some answers in `raft chat` first")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(out)
    log.info("wrote %d questions to %s (%d skipped)", len(rows), out, skipped)
    return {"written": len(rows), "skipped": skipped, "ratings": len(latest)}


def export_preference(path: Path, out: Path, index: Path, overwrite: bool = False) -> dict[str, int]:
    """Write unpaired preference rows (`prompt`, `completion`, `label`) for `raft train --method kto`.

    Every rated answer becomes one row, 👍 desirable and 👎 undesirable (the latest rating of the same
    answer wins). The prompt is rebuilt with the prompt contract from the question and the chunks the
    model was shown, read from INDEX_DIR; answers whose chunks are no longer in the index are skipped.
    """
    from raft import artifacts, prompts

    out = Path(out)
    if out.exists() and not overwrite:
        raise RaftError(f"{out} already exists; pass --overwrite or choose another path")
    artifacts.read_manifest(Path(index), "index", "raft index CORPUS -o INDEX_DIR")
    chunks: dict[str, prompts.Document] = {}
    with (Path(index) / "chunks.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            c = json.loads(line)
            chunks[str(c["chunk_id"])] = prompts.Document(c.get("title") or "", c["text"])
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for row in read_feedback(path):
        latest[(row["question"].strip(), row["answer"].strip())] = row
    rows, skipped = [], 0
    for row in latest.values():
        ids = [str(i) for i in row.get("chunk_ids") or []]
        if not row["answer"].strip() or any(i not in chunks for i in ids):
            skipped += 1
            continue
        rows.append({
            "question": row["question"].strip(),
            "prompt": prompts.build_messages(row["question"], [chunks[i] for i in ids]),
            "completion": [{"role": "assistant", "content": row["answer"]}],
            "label": row["rating"] == "up",
            "model": row.get("model"),
            "prompt_contract": prompts.contract(),
        })  # fmt: skip
    if not rows:
        raise RaftError(f"no usable ratings in {path} for --as preference; rate some answers in `raft chat` first")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    up = sum(r["label"] for r in rows)
    return {"written": len(rows), "skipped": skipped, "ratings": len(latest), "up": up, "down": len(rows) - up}
