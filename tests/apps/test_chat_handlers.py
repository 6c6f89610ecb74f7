"""The chat app's handlers without a browser: ratings land on the question they rate (also after a failed
answer), and a client that goes away mid-answer cancels the generation."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from apps.chat_app import ChatHandlers
from raft.serve.engine import ChatEngine
from raft.serve.feedback import FeedbackStore
from tests.fakes import OverlapRetriever


class FlakyGenerator:
    """Fails its first answer, then answers `<ANSWER>: fine`."""

    name = "flaky"

    def __init__(self):
        self.calls = 0

    def stream(self, messages, cfg):
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("backend down")
        yield "<ANSWER>: fine"

    def count_tokens(self, text):
        return len(text.split())


def _respond(handlers, message, state):
    updates = handlers.respond(message, state["a"], [], state["turns"], [], "rag", False, 2, 0.0, 16, False)
    *_, final = updates
    _, state["a"], _, _, state["turns"], _, status = final
    return status


def test_a_rating_after_a_failed_answer_lands_on_the_question_it_rates(tmp_path):
    store = FeedbackStore(tmp_path / "feedback.jsonl")
    handlers = ChatHandlers(ChatEngine(OverlapRetriever(), {"rag": FlakyGenerator()}), store)
    state = {"a": [], "turns": []}
    assert "generation failed" in _respond(handlers, "How do I reset the VPN?", state)
    assert _respond(handlers, "What is the mailbox quota?", state).startswith("Answered")
    assert len(state["a"]) == 4 and len(state["turns"]) == 2

    # 👍 on the failed answer (message 1): nothing to rate, and above all not stored against question 2
    _, status = handlers.feedback(state["turns"], "", SimpleNamespace(liked=True, index=1))
    assert "failed" in status
    assert not store.path.exists() or store.read() == []
    # 👎 on the second answer (message 3) is stored against the second question, with its turn id
    handlers.feedback(state["turns"], "wrong", SimpleNamespace(liked=False, index=3))
    (row,) = store.read()
    assert row["question"] == "What is the mailbox quota?" and row["rating"] == "down"
    assert row["turn_id"] == state["turns"][1]["turn_id"] != state["turns"][0]["turn_id"]
    text = handlers.metrics.render()[0].decode()
    assert 'raft_feedback_total{rating="down"} 1.0' in text and 'raft_feedback_total{rating="up"}' not in text


@pytest.mark.slow
def test_leaving_mid_answer_cancels_the_generation(tiny_model_dir):
    from raft.serve.generators import load_generator

    local = load_generator(str(tiny_model_dir))
    handlers = ChatHandlers(
        ChatEngine(OverlapRetriever(), {"rag": local}), FeedbackStore(tiny_model_dir / "fb.jsonl")
    )
    before = local.scheduler.finished["cancelled"]
    updates = handlers.respond("How do I reset the VPN?", [], [], [], [], "rag", False, 2, 0.0, 2000, False)
    next(updates)
    next(updates)  # the answer is streaming
    updates.close()  # what Gradio does when the browser tab goes away
    deadline = time.monotonic() + 30
    while local.scheduler.finished["cancelled"] == before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert local.scheduler.finished["cancelled"] == before + 1
    assert local._lock.acquire(timeout=5)  # the model is free again
    local._lock.release()
