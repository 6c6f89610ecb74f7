"""Feedback store and its export to QA files that `raft eval --qa` / `raft generate --qa` read."""

import json
import subprocess
import sys
import threading

import pytest

from raft.data.loaders import read_qa
from raft.errors import RaftError
from raft.serve.feedback import FeedbackRecord, FeedbackStore, export_feedback, read_feedback


def record(question, rating, cited=True, final="50 GB", comment=""):
    return FeedbackRecord(
        rating=rating,
        question=question,
        answer=f"raw ##begin_quote##x##end_quote## <ANSWER>: {final}",
        model="raft",
        chunk_ids=["mail/quota#0", "vpn/reset#0"],
        doc_ids=["mail/quota", "vpn/reset"],
        cited_chunk_ids=["mail/quota#0"] if cited else [],
        final_answer=final,
        query=question,
        comment=comment,
    )


def test_store_appends_one_line_per_rating_from_many_threads(tmp_path):
    store = FeedbackStore(tmp_path / "fb" / "feedback.jsonl")
    threads = [
        threading.Thread(target=store.add, args=(record(f"q{i}?", "up", comment="ok " * 50),))
        for i in range(20)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    rows = store.read()
    assert sorted(r["question"] for r in rows) == sorted(f"q{i}?" for i in range(20))
    assert all(r["chunk_ids"] == ["mail/quota#0", "vpn/reset#0"] and r["time"] for r in rows)
    with pytest.raises(RaftError, match="rating must be"):
        store.add(record("q?", "meh"))


def test_export_qa_and_train_are_read_by_read_qa(tmp_path):
    store = FeedbackStore(tmp_path / "feedback.jsonl")
    store.add(record("How big is a mailbox?", "down"))
    store.add(record("How big is a mailbox?", "up"))  # latest rating wins
    store.add(record("Who resets the VPN?", "up", cited=False, final="IT"))
    store.add(record("Is this wrong?", "down"))
    counts = export_feedback(store.path, tmp_path / "qa.jsonl", "qa")
    assert counts == {"written": 2, "skipped": 1, "ratings": 3}
    items = {i.question: i for i in read_qa(tmp_path / "qa.jsonl")}
    assert items["How big is a mailbox?"].answer == "50 GB"
    assert items["How big is a mailbox?"].doc_ids == ("mail/quota",)
    assert items["How big is a mailbox?"].chunk_ids == ("mail/quota#0",)
    assert items["Who resets the VPN?"].chunk_ids == ()
    export_feedback(store.path, tmp_path / "train.jsonl", "train")
    train = read_qa(tmp_path / "train.jsonl")
    assert [(i.question, i.chunk_ids) for i in train] == [("How big is a mailbox?", ("mail/quota#0",))]
    with pytest.raises(RaftError, match="already exists"):
        export_feedback(store.path, tmp_path / "qa.jsonl", "qa")


def test_broken_feedback_lines_are_named(tmp_path):
    path = tmp_path / "feedback.jsonl"
    path.write_text(json.dumps({"rating": "up"}) + "\n{not json\n")
    with pytest.raises(RaftError, match=r"2 broken line\(s\): line 1: missing question, answer; line 2: invalid JSON \(.+\); fix or delete"):
        read_feedback(path)


def test_cli_export_and_user_error_exit_code(tmp_path):
    store = FeedbackStore(tmp_path / "feedback.jsonl")
    store.add(record("How big is a mailbox?", "up"))
    out = tmp_path / "qa.jsonl"
    ok = subprocess.run(
        [sys.executable, "-m", "raft", "feedback", "export", str(store.path), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert "wrote 1 questions" in ok.stdout and json.loads(out.read_text())["answer"] == "50 GB"
    assert "the model's own" in ok.stdout  # the summary says where the gold answers come from
    assert json.loads(out.read_text())["answer_source"].startswith("model")
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "raft",
            "feedback",
            "export",
            str(tmp_path / "nope.jsonl"),
            "-o",
            str(tmp_path / "x.jsonl"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "does not exist" in bad.stderr


def test_feedback_report_counts_ratings_abstentions_and_unanswered_questions(tmp_path):
    from raft.serve.monitoring import RequestLog, RequestLogConfig

    store = FeedbackStore(tmp_path / "feedback.jsonl")
    store.add(record("How big is a mailbox?", "up"))
    store.add(record("Where is the printer?", "down"))
    log = RequestLog(RequestLogConfig(tmp_path / "requests.jsonl"))
    for q, abstained in [
        ("Who owns the moon?", True),
        ("who owns the  moon?", True),
        ("Mailbox size?", False),
    ]:
        log.write({"model": "raft", "question": q, "abstained": abstained, "chunk_ids": [], "answer": "x"})
    log.close()
    out = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "raft", "feedback", "report", str(store.path), "--requests",
         str(tmp_path / "requests.jsonl"), "-o", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "1 👍 / 1 👎" in done.stdout and "67% abstained" in done.stdout
    summary = json.loads((out / "report.json").read_text())
    assert summary["most_unanswered"][0] == {"question": "Who owns the moon?", "count": 2}
    assert {"question": "Where is the printer?", "count": 1} in summary["most_unanswered"]
    assert summary["answers_by_model"]["raft"] == {"abstained": 2, "answered": 1}
    assert (out / "report.png").read_bytes()[:4] == b"\x89PNG" and "Most often unanswered" in (
        out / "report.md"
    ).read_text()
    again = subprocess.run([sys.executable, "-m", "raft", "feedback", "report", str(store.path), "-o", str(out)],
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert again.returncode == 2 and "--overwrite" in again.stderr


def test_request_log_rotates_at_its_size_cap(tmp_path):
    from raft.serve.monitoring import RequestLog, RequestLogConfig, read_request_log

    log = RequestLog(RequestLogConfig(tmp_path / "requests.jsonl", max_bytes=2048, backups=2))
    for i in range(100):
        log.write({"question": f"question {i}", "answer": "a" * 50})
    log.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["requests.jsonl", "requests.jsonl.1", "requests.jsonl.2"]
    assert all(p.stat().st_size <= 2048 for p in tmp_path.iterdir())
    rows = read_request_log(tmp_path / "requests.jsonl")
    assert rows[-1]["question"] == "question 99" and len(rows) < 100  # the oldest were dropped
    assert [int(r["question"].split()[1]) for r in rows] == sorted(
        int(r["question"].split()[1]) for r in rows
    )
