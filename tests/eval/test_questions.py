"""Which questions an evaluation scores: `--limit` is a seeded subset, not the head of the file."""

from __future__ import annotations

import json

from raft.eval.questions import load_questions


def _qa_file(tmp_path, n: int):
    path = tmp_path / "qa.jsonl"
    rows = [{"id": f"q{i:03d}", "question": f"Question {i}?", "answer": f"a{i}", "doc_id": f"d{i // 10}",
             "split": "test"} for i in range(n)]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_limit_is_a_seeded_subset_in_file_order(tmp_path):
    path = _qa_file(tmp_path, 100)
    ids = [q.id for q in load_questions(path, "test", 20, seed=0)]
    assert len(ids) == len(set(ids)) == 20
    assert ids == sorted(ids)  # file order kept
    assert ids != [f"q{i:03d}" for i in range(20)]  # not the first 20, which hold only two documents
    assert len({q.split("q")[1][:2] for q in ids}) > 2  # questions from more than two documents
    assert ids == [q.id for q in load_questions(path, "test", 20, seed=0)]  # the same seed, the same subset
    assert ids != [q.id for q in load_questions(path, "test", 20, seed=1)]


def test_limit_at_or_above_the_count_keeps_everything(tmp_path):
    path = _qa_file(tmp_path, 12)
    assert [q.id for q in load_questions(path, "test", 12)] == [f"q{i:03d}" for i in range(12)]
    assert len(load_questions(path, "test", 50)) == 12
