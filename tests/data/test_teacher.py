"""Teachers: the deterministic composer, quote checks, an OpenAI-compatible endpoint over real HTTP
(with a 500, a broken body and malformed replies), and a local transformers model."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from raft import prompts
from raft.data.dataset_dir import load_dataset_dir
from raft.data.generate import GenerateConfig, generate_dataset
from raft.data.teacher import (
    AnswerRequest,
    DeterministicTeacher,
    LocalTeacher,
    OpenAITeacher,
    compose_answer,
    parse_answer,
    parse_questions,
)
from raft.errors import RaftError
from raft.quotes import EXACT, INVALID, NO_QUOTE, REPAIRED, check_quotes
from tests.fakes import toy_corpus

ORACLE = "Intro line here.\nThe reset code for the red router model 00 is ZX-0-0. Keep it dry."


def test_compose_answer_format():
    cot = compose_answer("What is the reset code?", "Router guide", ORACLE, "ZX-0-0")
    assert prompts.extract_quotes(cot) == ["The reset code for the red router model 00 is ZX-0-0."]
    assert prompts.extract_answer(cot) == "ZX-0-0"
    assert cot == (
        'The document "Router guide" says: ##begin_quote##The reset code for the red router model 00 is ZX-0-0.'
        "##end_quote##\n<ANSWER>: ZX-0-0"
    ), "an answer the quote contains is written once, after the tag, not restated in a reasoning line"
    label = compose_answer("Does the router reset with a code?", "Router guide", ORACLE, "yes")
    assert prompts.extract_quotes(label) == ["The reset code for the red router model 00 is ZX-0-0."]
    assert prompts.extract_answer(label) == "yes"


def test_deterministic_teacher_needs_gold_answers_and_writes_no_questions():
    teacher = DeterministicTeacher()
    out = teacher.answers(
        [AnswerRequest("Q?", "T", ORACLE, "ZX-0-0"), AnswerRequest("Q?", "T", ORACLE, None)]
    )
    assert out[0] and out[1] is None
    with pytest.raises(RaftError, match="--teacher"):
        teacher.questions([], 2)


def test_quote_check_exact_repaired_invalid():
    good = "It says ##begin_quote##The reset code for the red router model 00 is ZX-0-0.##end_quote##\n<ANSWER>: x"
    assert check_quotes(good, ORACLE).status == EXACT
    spaced = good.replace("red router", "red \n  router")
    fixed = check_quotes(spaced, ORACLE)
    assert fixed.status == REPAIRED and fixed.text == good
    assert check_quotes(good.replace("ZX-0-0", "ZX-9-9"), ORACLE) == check_quotes(
        good.replace("red", "blue"), ORACLE
    )
    assert check_quotes(good.replace("ZX-0-0", "ZX-9-9"), ORACLE).status == INVALID
    assert check_quotes("no quotes\n<ANSWER>: x", ORACLE).status == NO_QUOTE


def test_parsers():
    assert parse_answer("reason\n<ANSWER>: x") is None
    assert parse_answer("##begin_quote##a##end_quote## <ANSWER>: ") is None
    assert parse_answer("##begin_quote##a##end_quote##\n<ANSWER>: x")
    text = "1. What is A?\n2) What is A?\n- Why is B so slow?\nnot a question\n3. Short?"
    assert parse_questions(text, 5) == ["What is A?", "Why is B so slow?"]


# ---- an OpenAI-compatible endpoint on 127.0.0.1 ----------------------------------------------

SENTENCE = re.compile(r"The reset code for the (\w+ \w+ model \d+) is (ZX-\d+-\d+)\.")


class _ChatHandler(BaseHTTPRequestHandler):
    """Answers chat-completions deterministically from the prompt; misbehaves on purpose for some models."""

    requests: list[dict] = []
    lock = threading.Lock()

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.lock:
            self.requests.append(body)
            first = len(self.requests) == 1
        user = body["messages"][-1]["content"]
        if first:
            return self._send(500, b'{"error": "warming up"}')
        if "model 10" in user and "Question:" in user:
            return self._send(200, b"this is not json")
        self._send(
            200,
            json.dumps(
                {
                    "choices": [{"message": {"role": "assistant", "content": self._reply(user)}}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5},
                }
            ).encode(),
        )

    def _send(self, code: int, payload: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    @staticmethod
    def _reply(user: str) -> str:
        found = SENTENCE.search(user)
        if "different questions" in user:
            return f"1. What is the reset code for the {found.group(1)}?\n2. Which code resets the {found.group(1)}?"
        question = user.split("Question: ", 1)[1].split("\n", 1)[0]
        model = re.search(r"model (\d+)", question).group(1)
        if model.endswith("1"):
            return "I am not sure."  # malformed: no quote, no answer tag
        quote = found.group(0)
        if model.endswith("2"):
            quote = quote.replace("reset code", "secret code")  # not verbatim: dropped
        if model.endswith("3"):
            quote = quote.replace(" ", "  ", 2)  # whitespace only: repaired
        return f"The guide says {prompts.format_quote(quote)}.\n{prompts.ANSWER_TAG} {found.group(2)}"


@pytest.fixture()
def chat_server():
    _ChatHandler.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ChatHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_openai_teacher_end_to_end(chat_server, tmp_path, monkeypatch):
    monkeypatch.setattr("raft.data.generate.validate", lambda cfg: None)
    monkeypatch.setenv("MY_TEACHER_KEY", "sekret")
    retriever, _ = toy_corpus(n_docs=6, chunks_per_doc=4)
    cfg = GenerateConfig(
        index=Path("unused"),
        out=tmp_path / "ds",
        teacher="teacher-model",
        teacher_url=chat_server,
        teacher_key_env="MY_TEACHER_KEY",
        questions_per_chunk=2,
        concurrency=4,
        batch_size=8,
        validation_fraction=0.34,
        test_fraction=0.0,
    )
    manifest = generate_dataset(cfg, retriever=retriever)
    counts = manifest["counts"]
    # 24 chunks x 2 questions; models ending in 1 malformed, in 2 a false quote, in 3 a spacing slip to repair;
    # "model 10" gets a body that is not JSON
    assert counts["dropped"] == {"quote_not_verbatim": 12, "teacher_invalid": 14}
    # Rows switched to the abstention have no quote: counted apart, never as "exact".
    assert counts["quotes"] == {"abstain": 5, "exact": 5, "repaired": 12}
    assert counts["leak_unchecked_rows"] == 0  # every teacher answer is a code the leak check can search
    assert manifest["teacher_stats"]["failed"] == 2 and manifest["teacher_stats"]["malformed"] == 12
    ds, _ = load_dataset_dir(tmp_path / "ds")
    row = ds["train"][0]
    assert row["answer"] == prompts.extract_answer(row["cot_answer"]) or not row["oracle_present"]
    assert all(
        q in retriever.get(r["oracle_ids"][0]).text
        for r in ds["train"]
        for q in prompts.extract_quotes(r["cot_answer"])
    )
    assert _ChatHandler.requests[0]["model"] == "teacher-model"
    assert len(_ChatHandler.requests) == 1 + 24 + 48  # the 500 was retried


def test_openai_teacher_gets_the_gold_answer(chat_server):
    teacher = OpenAITeacher(chat_server, "m", concurrency=2)
    oracle = "The reset code for the red router model 00 is ZX-0-0."
    (answer,) = teacher.answers(
        [AnswerRequest("What is the reset code for the red router model 00?", "T", oracle, "ZX-0-0")]
    )
    assert prompts.extract_answer(answer) == "ZX-0-0"
    assert "Correct answer: ZX-0-0" in _ChatHandler.requests[-1]["messages"][-1]["content"]


def test_unreachable_endpoint_is_one_clear_error():
    teacher = OpenAITeacher("http://127.0.0.1:9", "m", concurrency=2, retries=0, timeout=2)
    with pytest.raises(RaftError, match="every teacher call failed .*cannot reach"):
        teacher.answers([AnswerRequest("Q?", "T", ORACLE, None)] * 3)


# ---- a local transformers teacher --------------------------------------------------------------


@pytest.mark.slow
def test_local_teacher_batched(tiny_model_dir):
    teacher = LocalTeacher(str(tiny_model_dir), batch_size=2, max_new_tokens=16)
    requests = [AnswerRequest(f"What is code {i}?", "T", ORACLE, "ZX-0-0") for i in range(3)]
    answers = teacher.answers(requests)
    assert len(answers) == 3 and teacher.stats["calls"] == 3
    assert teacher.stats["malformed"] == sum(a is None for a in answers)
    questions = teacher.questions(toy_corpus(2, 1)[0].chunks, 2)
    assert len(questions) == 2 and all(isinstance(q, list) and len(q) <= 2 for q in questions)
