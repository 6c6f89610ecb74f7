"""raft.jsonl: the one JSONL reader and its error policy (every broken line named by its number)."""

import json

import pytest

from raft.errors import RaftError
from raft.jsonl import SHOWN, jsonl_rows, read_jsonl


def test_rows_keep_their_line_numbers_and_broken_lines_their_reason(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\n\n[1, 2]\n{oops\n{"b": "\xff"}\n{"c": "\x00"}\n{"d": 4}\n')
    rows = list(jsonl_rows(path))
    assert rows[0] == (1, {"a": 1})  # the BOM is tolerated
    assert rows[1] == (3, "not a JSON object")
    assert rows[2][0] == 4 and rows[2][1].startswith("invalid JSON (")
    assert rows[3] == (5, "not UTF-8 text (bad byte at offset 7)")
    assert rows[4] == (6, "binary file (NUL bytes)")
    assert rows[5] == (7, {"d": 4})


def test_read_jsonl_names_every_broken_line_and_the_fix(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"q": 1, "a": 2}\n{"q": 1}\nnope\n{"q": 3, "a": 4}\n')
    with pytest.raises(RaftError) as err:
        read_jsonl(path, required=("q", "a"), fix="write q and a")
    message = str(err.value)
    assert message.startswith(f"{path}: 2 broken line(s): line 2: missing a; line 3: invalid JSON (")
    assert message.endswith("; write q and a")


def test_read_jsonl_counts_what_it_does_not_show(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text("x\n" * (SHOWN + 3))
    with pytest.raises(RaftError, match=rf"{SHOWN + 3} broken line\(s\): line 1: .*; line {SHOWN}: .*; and 3 more; fix"):
        read_jsonl(path)


def test_read_jsonl_returns_rows_in_order(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps({"n": n}) for n in range(3)) + "\n")
    assert read_jsonl(path, required=("n",)) == [(1, {"n": 0}), (2, {"n": 1}), (3, {"n": 2})]
