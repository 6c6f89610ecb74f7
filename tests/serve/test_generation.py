"""The generation engine: local transformers weights and OpenAI-compatible endpoints."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from raft.errors import RaftError
from raft.prompts import PROMPT_VERSION, build_messages
from raft.serve.generators import DecodingConfig, OpenAIGenerator, load_generator, resolve_model


def _conversations(n: int) -> list[list[dict]]:
    docs = [{"title": "Battery", "text": "The battery lasts nine hours on a full charge."}]
    return [build_messages(f"How long does the battery last, case {i}?" + " really" * i, docs) for i in range(n)]


@pytest.fixture(scope="module")
def local(tiny_model_dir):
    return load_generator(str(tiny_model_dir))


def test_batched_generation_matches_one_at_a_time(local):
    convs = _conversations(5)
    cfg = DecodingConfig(max_new_tokens=16)
    batched = local.generate(convs, cfg, batch_size=4)
    single = [local.generate([c], cfg)[0] for c in convs]
    assert [c.text for c in batched] == [c.text for c in single]
    assert all(0 < c.completion_tokens <= 16 for c in batched)
    assert batched[4].prompt_tokens > batched[0].prompt_tokens


def test_stream_yields_the_same_text_as_generate(local):
    conv = _conversations(1)[0]
    cfg = DecodingConfig(max_new_tokens=16)
    pieces = list(local.stream(conv, cfg))
    assert "".join(pieces).strip() == local.generate([conv], cfg)[0].text


def test_streams_from_several_threads_do_not_interfere(local):
    conv = _conversations(1)[0]
    cfg = DecodingConfig(max_new_tokens=12)
    expected = local.generate([conv], cfg)[0].text
    results: list[str] = []

    def run() -> None:
        results.append("".join(local.stream(conv, cfg)).strip())

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert results == [expected] * 3


def test_unknown_model_is_a_clear_error():
    with pytest.raises(RaftError, match="cannot load model"):
        load_generator("no-such-org/no-such-model-xyz")


def test_bad_openai_spec_is_a_clear_error():
    with pytest.raises(RaftError, match="openai:URL:MODEL"):
        load_generator("openai:not-a-url")


def test_openai_spec_parsing_keeps_port_and_model():
    gen = load_generator("openai:http://127.0.0.1:8000:raft")
    assert (gen.url, gen.model) == ("http://127.0.0.1:8000/v1", "raft")
    gen = load_generator("openai:http://h:8000/v1:llama3:8b")
    assert (gen.url, gen.model) == ("http://h:8000/v1", "llama3:8b")


def _model_dir(tmp_path, base: str, version: str):
    from raft.artifacts import write_manifest

    d = tmp_path / "model"
    d.mkdir()
    from raft.prompts import contract

    prompt = contract() if version == PROMPT_VERSION else {"version": version}
    write_manifest(d, "model", {"base_model": base, "adapter": True, "prompt": prompt})
    return d


def test_model_dir_resolves_to_base_plus_adapter(tmp_path):
    d = _model_dir(tmp_path, "some/base", PROMPT_VERSION)
    ref = resolve_model(str(d))
    assert (ref.base, ref.adapter) == ("some/base", str(d))


def test_prompt_version_mismatch_is_refused_unless_forced(tmp_path):
    d = _model_dir(tmp_path, "some/base", "raft-prompt-v0")
    with pytest.raises(RaftError, match="--force-prompt"):
        resolve_model(str(d))
    assert resolve_model(str(d), force_prompt=True).adapter == str(d)


def test_adapter_for_another_base_is_refused(tmp_path):
    d = _model_dir(tmp_path, "base-a", PROMPT_VERSION)
    with pytest.raises(RaftError, match="trained on base model base-a"):
        resolve_model("base-b", adapter=d)


class _ChatHandler(BaseHTTPRequestHandler):
    calls = 0
    lock = threading.Lock()  # requests arrive on several server threads at once

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        with type(self).lock:
            type(self).calls += 1
            call = type(self).calls
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if call == 1:  # first call fails: the client must retry
            self.send_response(503)
            self.end_headers()
            return
        question = body["messages"][-1]["content"].rsplit("Question:", 1)[-1].strip()
        answer = f"echo {question} <ANSWER>: ok"
        if body.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for word in answer.split(" "):
                chunk = {"choices": [{"delta": {"content": word + " "}}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            return
        data = {
            "choices": [{"message": {"role": "assistant", "content": answer}}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 4},
        }
        blob = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(blob)))
        self.end_headers()
        self.wfile.write(blob)


def test_openai_backend_against_a_local_server(monkeypatch):
    monkeypatch.setattr("raft.serve.openai_client.time.sleep", lambda s: None)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ChatHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        gen = OpenAIGenerator(f"http://127.0.0.1:{server.server_port}/v1", "raft", concurrency=2)
        out = gen.generate(_conversations(3), DecodingConfig(max_new_tokens=8))
        assert [c.text.split("<ANSWER>:")[1].strip() for c in out] == ["ok"] * 3
        assert out[0].prompt_tokens == 7 and out[0].completion_tokens == 4
        assert _ChatHandler.calls == 4  # one 503, retried, then three answers
        streamed = "".join(gen.stream(_conversations(1)[0], DecodingConfig()))
        assert streamed.startswith("echo How long") and "<ANSWER>: ok" in streamed
    finally:
        server.shutdown()


def test_unreachable_endpoint_is_a_clear_error(monkeypatch):
    monkeypatch.setattr("raft.serve.openai_client.time.sleep", lambda s: None)
    gen = OpenAIGenerator("http://127.0.0.1:9/v1", "raft", retries=1, timeout=2)
    with pytest.raises(RaftError, match="cannot reach"):
        gen.generate(_conversations(1), DecodingConfig())


def test_repetition_penalty_counts_generated_tokens_not_the_prompt():
    import torch

    from raft.serve.generators import _penalty

    assert _penalty(DecodingConfig(), 3) == {}
    processor = _penalty(DecodingConfig(repetition_penalty=2.0), 3)["logits_processor"][0]
    ids = torch.tensor([[7, 8, 9, 4], [0, 8, 5, 5]])  # three (left-padded) prompt tokens, then one generated
    scores = processor(ids, torch.full((2, 10), 2.0))
    assert scores[0, 4] == 1.0 and scores[1, 5] == 1.0  # generated: penalised
    assert scores[0, 7] == scores[0, 9] == scores[1, 8] == 2.0  # quoted from the prompt: untouched


def test_closing_an_openai_generator_cancels_its_streams_and_refuses_new_ones():
    from tests.servers import scripted_endpoint

    messages = [{"role": "user", "content": "<DOCUMENT 1: a>\nOne two three four five six seven.\n</DOCUMENT>"}]
    with scripted_endpoint(delay=0.2) as url:
        gen = OpenAIGenerator(url, "raft", retries=0)
        stream = gen.open_stream(messages, DecodingConfig())
        pieces = iter(stream)
        assert next(pieces)  # the answer has begun
        gen.close()
        rest = list(pieces)
        assert stream.finish_reason == "cancelled" and len(rest) < 5
        with pytest.raises(RuntimeError, match="closed"):
            gen.open_stream(messages, DecodingConfig())
