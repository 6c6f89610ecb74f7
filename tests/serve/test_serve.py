"""`raft serve` driven by the official `openai` client: models, completions (streaming or not), bad requests,
OpenAI fidelity (finish_reason, usage, stop/top_p/seed, strict types), API key, metrics, request log."""

import json
import time

import pytest

from raft.prompts import build_messages
from tests.servers import free_port, raft_process

pytestmark = pytest.mark.slow


KEY = "test-key-0123456789"


@pytest.fixture(scope="module")
def request_log(tmp_path_factory):
    return tmp_path_factory.mktemp("serve-log") / "requests.jsonl"


@pytest.fixture(scope="module")
def server(sample_index, tiny_model_dir, tmp_path_factory, request_log):
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    args = ["serve", str(sample_index), "--model", str(tiny_model_dir), "-k", "3", "--port", str(port), "--device", "cpu",
            "--api-key", KEY, "--request-log", str(request_log)]  # fmt: skip
    with raft_process(
        args, f"http://127.0.0.1:{port}/health", log, headers={"Authorization": f"Bearer {KEY}"}
    ):
        yield f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def client(server):
    import openai

    return openai.OpenAI(base_url=server, api_key=KEY, max_retries=0, timeout=120)


QUESTION = "How do I reset my password?"


def test_models_lists_the_loaded_generators(client):
    assert [m.id for m in client.models.list().data] == ["rag"]


def test_completion_carries_sources_and_matches_the_stream(client):
    resp = client.chat.completions.create(
        model="rag", messages=[{"role": "user", "content": QUESTION}], max_tokens=24, temperature=0
    )
    text = resp.choices[0].message.content
    assert resp.choices[0].finish_reason == "length" and resp.usage.completion_tokens == 24
    sources = resp.model_extra["sources"]
    assert [s["rank"] for s in sources] == [1, 2, 3]  # `-k 3`: the default of requests that set no k
    assert {"chunk_id", "doc_id", "title", "source", "score", "text", "quotes"} <= set(sources[0])
    assert resp.model_extra["raft"]["query"] == QUESTION
    for marker in ("##begin_quote##", "##end_quote##", "<ANSWER>:"):
        assert marker not in text

    chunks = list(
        client.chat.completions.create(
            model="rag",
            messages=[{"role": "user", "content": QUESTION}],
            max_tokens=24,
            temperature=0,
            stream=True,
        )
    )
    assert chunks[0].model_extra["sources"][0]["chunk_id"] == sources[0]["chunk_id"]
    assert chunks[-1].choices[0].finish_reason == "length"
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert streamed.strip() == text.strip()


def test_follow_up_retrieval_uses_the_conversation(client):
    messages = [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": "Use the reset page."},
        {"role": "user", "content": "How long does it take?"},
    ]
    resp = client.chat.completions.create(model="rag", messages=messages, max_tokens=8, extra_body={"k": 2})
    assert resp.model_extra["raft"]["query"] == "reset password How long does it take?"
    assert len(resp.model_extra["sources"]) == 2


def test_a_prompt_with_a_system_message_goes_to_the_model_as_given(client, tiny_model_dir):
    """Pass-through: no retrieval, and the model reads exactly these messages (its prompt token count is
    that of these messages in the chat template; a retrieval request for the same question reads more)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    messages = build_messages(QUESTION, [{"title": "Passwords", "text": "Reset it on the account page."}])
    resp = client.chat.completions.create(model="rag", messages=messages, max_tokens=8)

    def n_tokens(msgs):
        rendered = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
        return len(tok(rendered, add_special_tokens=False)["input_ids"])

    assert resp.usage.prompt_tokens == n_tokens(messages)
    assert resp.model_extra["sources"] == []
    longer = [{**messages[0], "content": messages[0]["content"] + " Answer in one sentence."}, *messages[1:]]
    grown = client.chat.completions.create(model="rag", messages=longer, max_tokens=1).usage.prompt_tokens
    assert grown == n_tokens(longer) > n_tokens(messages)  # the system message reached the model as written
    retrieved = client.chat.completions.create(model="rag", messages=[messages[-1]], max_tokens=1)
    assert retrieved.model_extra["sources"] and retrieved.usage.prompt_tokens > resp.usage.prompt_tokens


def test_bad_requests_get_json_errors_and_the_server_keeps_serving(client):
    import openai

    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model="gpt-4", messages=[{"role": "user", "content": QUESTION}])
    assert err.value.body["code"] == "model_not_found" and "rag" in err.value.body["message"]
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="rag", messages=[])
    assert "non-empty" in err.value.body["message"]
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="rag", messages=[{"role": "user", "content": "x" * 100_000}])
    assert err.value.body["code"] == "context_length_exceeded" and "100,000" in err.value.body["message"]
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="rag", messages=[{"role": "user", "content": QUESTION}], extra_body={"k": 0}
        )
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(model="rag", messages=[{"role": "user", "content": "y" * 2_000_000}])
    assert err.value.status_code == 413
    resp = client.chat.completions.create(
        model="rag", messages=[{"role": "user", "content": QUESTION}], max_tokens=4
    )
    assert resp.choices[0].message.content is not None


def test_raft_generation_can_use_the_server_as_an_endpoint(server):
    from raft.serve.generators import DecodingConfig, load_generator

    gen = load_generator(f"openai:{server}:rag")
    gen.api_key = KEY
    messages = [{"role": "user", "content": QUESTION}]
    done = gen.generate([messages], DecodingConfig(max_new_tokens=6))
    assert len(done) == 1 and done[0].completion_tokens > 0
    streamed = "".join(gen.stream(messages, DecodingConfig(max_new_tokens=6)))
    assert streamed.strip() == done[0].text.strip()  # greedy: the stream says what the completion said


PASSAGE = [{"title": "Passwords", "text": "Reset it on the account page. It takes a minute."}]


def _root(server: str) -> str:
    return server.removesuffix("/v1")


def test_finish_reason_length_and_usage_from_the_real_tokenizer(client, tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    messages = build_messages(QUESTION, PASSAGE)
    resp = client.chat.completions.create(model="rag", messages=messages, max_tokens=3)
    assert resp.choices[0].finish_reason == "length"
    rendered = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    expected = len(tok(rendered, add_special_tokens=False)["input_ids"])
    content_only = sum(len(tok(m["content"], add_special_tokens=False)["input_ids"]) for m in messages)
    assert resp.usage.prompt_tokens == expected > content_only  # template tokens are counted
    assert resp.usage.completion_tokens == 3
    assert resp.usage.total_tokens == expected + 3


def test_stop_strings_end_the_answer_with_finish_reason_stop(client):
    messages = build_messages(QUESTION, PASSAGE)
    full = (
        client.chat.completions.create(model="rag", messages=messages, max_tokens=24)
        .choices[0]
        .message.content
    )
    stop = full[6:8]  # the tiny model's text may be mostly whitespace: any two characters do
    assert stop, full
    resp = client.chat.completions.create(model="rag", messages=messages, max_tokens=24, stop=[stop])
    assert resp.choices[0].finish_reason == "stop"
    assert resp.choices[0].message.content == full[: full.find(stop)]


def test_streamed_usage_with_include_usage(client):
    messages = build_messages(QUESTION, PASSAGE)
    plain = client.chat.completions.create(model="rag", messages=messages, max_tokens=5)
    chunks = list(
        client.chat.completions.create(
            model="rag", messages=messages, max_tokens=5, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == plain.usage.prompt_tokens
    assert chunks[-1].usage.completion_tokens == plain.usage.completion_tokens == 5
    assert chunks[-2].choices[0].finish_reason == "length"
    assert all(c.usage is None for c in chunks[:-1])
    without = list(client.chat.completions.create(model="rag", messages=messages, max_tokens=5, stream=True))
    assert all(c.usage is None for c in without)


def test_seed_and_top_p_are_honoured(client):
    messages = build_messages(QUESTION, PASSAGE)

    def ask(**kw):
        return client.chat.completions.create(model="rag", messages=messages, max_tokens=12, **kw).choices[0]

    assert ask(temperature=1.0, seed=7).message.content == ask(temperature=1.0, seed=7).message.content
    greedy = ask(temperature=0).message.content
    assert ask(temperature=1.0, top_p=1e-6).message.content == greedy  # only the top token survives
    import openai

    with pytest.raises(openai.BadRequestError, match="top_p"):
        ask(top_p=0)


def test_fields_are_strictly_typed_and_unknown_ones_refused(client):
    import openai

    user = [{"role": "user", "content": QUESTION}]
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="rag", messages=user, extra_body={"hybrid": "false"})
    assert "hybrid" in err.value.body["message"]
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="rag", messages=user, extra_body={"max_tokens": "5"})
    assert "max_tokens" in err.value.body["message"]
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="rag", messages=user, logprobs=True)
    assert "'logprobs' is not supported" in err.value.body["message"]
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="rag", messages=user, presence_penalty=0.5)
    assert "presence_penalty" in err.value.body["message"]


def test_every_route_needs_the_api_key(server, client):
    import httpx
    import openai

    for path in ("/health", "/metrics", "/v1/models"):
        assert httpx.get(_root(server) + path, timeout=30).status_code == 401
        wrong = httpx.get(
            _root(server) + path, headers={"Authorization": "Bearer nope-nope-nope"}, timeout=30
        )
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    bad = openai.OpenAI(base_url=server, api_key="wrong-key-123", max_retries=0, timeout=30)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="rag", messages=[{"role": "user", "content": QUESTION}])
    assert [m.id for m in client.models.list().data] == ["rag"]


def test_malformed_bodies_get_400(server):
    import httpx

    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    url = server + "/chat/completions"
    for body, message in ((b"{not json", "not valid JSON"), (b"[1, 2]", "JSON object"), (b"", "JSON object")):
        resp = httpx.post(url, content=body, headers=headers, timeout=30)
        assert resp.status_code == 400 and message in resp.json()["error"]["message"], resp.text


def test_metrics_and_request_log(server, client, request_log):
    import httpx

    question = "Where do I find the VPN client?"
    resp = client.chat.completions.create(
        model="rag", messages=[{"role": "user", "content": question}], max_tokens=8
    )
    text = httpx.get(_root(server) + "/metrics", headers={"Authorization": f"Bearer {KEY}"}, timeout=30).text
    for name in (
        'raft_requests_total{model="rag",route="/v1/chat/completions",status="200"}',
        'raft_request_latency_seconds_bucket{le="0.05",model="rag"}',
        'raft_time_to_first_token_seconds_count{model="rag"}',
        'raft_generated_tokens_total{model="rag"}',
        "raft_retrieval_seconds_count",
        "raft_abstain_ratio",
        'raft_answers_total{abstained="false",model="rag"}',
    ):
        assert name in text, name
    rows = [json.loads(line) for line in request_log.read_text().splitlines()]
    row = next(r for r in rows if r["question"] == question)
    assert row["chunk_ids"] == [s["chunk_id"] for s in resp.model_extra["sources"]]
    assert row["answer"] == resp.model_extra["raft"]["raw"] and row["latency_s"] > 0
    assert row["citations"] == [] and row["finish_reason"] == "length"


def test_a_client_that_hangs_up_mid_stream_stops_its_generation(server, client, request_log):
    question = "What should I do when my laptop will not start?"
    stream = client.chat.completions.create(
        model="rag", messages=[{"role": "user", "content": question}], max_tokens=1500, stream=True
    )
    pieces = 0
    for chunk in stream:
        pieces += bool(chunk.choices and chunk.choices[0].delta.content)
        if pieces >= 2:
            break
    stream.close()  # hang up mid-stream
    deadline, row = time.monotonic() + 60, None
    while row is None and time.monotonic() < deadline:
        rows = [json.loads(line) for line in request_log.read_text().splitlines()]
        row = next((r for r in rows if r["question"] == question), None)
        time.sleep(0.2)
    assert row is not None, "the cancelled generation never ended"
    assert row["finish_reason"] == "cancelled" and row["completion_tokens"] < 300
    t0 = time.monotonic()
    after = client.chat.completions.create(
        model="rag", messages=[{"role": "user", "content": QUESTION}], max_tokens=4
    )
    assert after.choices[0].finish_reason == "length" and time.monotonic() - t0 < 30


def test_sixteen_concurrent_streaming_clients_all_get_their_answer(server, client):
    from concurrent.futures import ThreadPoolExecutor

    messages = build_messages(QUESTION, PASSAGE)
    expected = (
        client.chat.completions.create(model="rag", messages=messages, max_tokens=10)
        .choices[0]
        .message.content
    )

    def one(_: int) -> tuple[str, str]:
        chunks = list(
            client.chat.completions.create(model="rag", messages=messages, max_tokens=10, stream=True)
        )
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices), chunks[-1].choices[
            0
        ].finish_reason

    t0 = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(16)))
    assert time.monotonic() - t0 < 120
    assert results == [(expected, "length")] * 16  # 0 errors, and each client got its own full answer
