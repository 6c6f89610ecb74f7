"""The one JSONL reader: rows with their line numbers; a broken line is reported by its number.

`jsonl_rows` yields every non-blank line as a row or as the reason it is broken (for callers that skip
and list broken rows, such as the corpus reader and the request log); `read_jsonl` is for files a user
hands over: one RaftError names every broken line and the fix.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from raft.errors import RaftError, json_error

SHOWN = 10  # broken lines named in the error; the rest are counted


def decode_utf8(data: bytes) -> str:
    """UTF-8 text (BOM tolerated); ValueError naming why for binary or undecodable bytes."""
    if b"\x00" in data[:8192]:
        raise ValueError("binary file (NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text (bad byte at offset {exc.start})") from None


def jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, row dict) per non-blank line; a broken line yields its reason as a str."""
    with Path(path).open("rb") as fh:
        for line, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(decode_utf8(raw))
            except ValueError as exc:  # json.JSONDecodeError is a ValueError too
                yield line, f"invalid JSON ({json_error(exc)})" if isinstance(exc, json.JSONDecodeError) else str(exc)
                continue
            yield line, row if isinstance(row, dict) else "not a JSON object"


def read_jsonl(path: Path, required: Iterable[str] = (), fix: str = "fix or remove them") -> list[tuple[int, dict[str, Any]]]:
    """(line number, row) of every row; one RaftError naming each broken line (bad JSON, not an object,
    a `required` key missing) and `fix`."""
    required = tuple(required)
    rows, problems = [], []
    for n, row in jsonl_rows(path):
        if isinstance(row, str):
            problems.append(f"line {n}: {row}")
            continue
        missing = [k for k in required if k not in row]
        if missing:
            problems.append(f"line {n}: missing {', '.join(missing)}")
            continue
        rows.append((n, row))
    if problems:
        shown = "; ".join(problems[:SHOWN]) + (f"; and {len(problems) - SHOWN} more" if len(problems) > SHOWN else "")
        raise RaftError(f"{path}: {len(problems)} broken line(s): {shown}; {fix}")
    return rows
