"""`raft serve` driven by the official `openai` client: models, completions (streaming or not), bad requests."""

import pytest

from raft.prompts import build_messages
from tests.servers import free_port, raft_process

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(sample_index, tiny_model_dir, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    args = [
        "serve",
        str(sample_index),
        "--model",
        str(tiny_model_dir),
        "--port",
        str(port),
        "--device",
        "cpu",
    ]
    with raft_process(args, f"http://127.0.0.1:{port}/health", log):
        yield f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def client(server):
    import openai

    return openai.OpenAI(base_url=server, api_key="unused", max_retries=0, timeout=120)


QUESTION = "How do I reset my password?"


def test_models_lists_the_loaded_generators(client):
    assert [m.id for m in client.models.list().data] == ["rag"]


def test_completion_carries_sources_and_matches_the_stream(client):
    resp = client.chat.completions.create(
        model="rag", messages=[{"role": "user", "content": QUESTION}], max_tokens=24, temperature=0
    )
    text = resp.choices[0].message.content
    assert resp.choices[0].finish_reason == "stop" and resp.usage.completion_tokens > 0
    sources = resp.model_extra["sources"]
    assert len(sources) == 4 and [s["rank"] for s in sources] == [1, 2, 3, 4]
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
    assert chunks[-1].choices[0].finish_reason == "stop"
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


def test_a_prompt_with_a_system_message_goes_to_the_model_as_given(client):
    messages = build_messages(QUESTION, [{"title": "Passwords", "text": "Reset it on the account page."}])
    resp = client.chat.completions.create(model="rag", messages=messages, max_tokens=8)
    assert resp.model_extra["sources"] == [] and resp.choices[0].message.content is not None


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
    from raft.generation import DecodingConfig, load_generator

    gen = load_generator(f"openai:{server}:rag")
    messages = [{"role": "user", "content": QUESTION}]
    done = gen.generate([messages], DecodingConfig(max_new_tokens=6))
    assert len(done) == 1 and done[0].completion_tokens > 0
    assert isinstance("".join(gen.stream(messages, DecodingConfig(max_new_tokens=6))), str)
