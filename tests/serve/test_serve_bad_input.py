"""Bad HTTP input to `raft serve`: status codes, and metric labels that unknown paths cannot multiply."""

import pytest

from raft.serve.engine import ChatEngine
from raft.serve.generators import OpenAIGenerator

KEY = "test-key-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def client():
    """The real app over an engine whose one model is an endpoint no request here reaches."""
    from fastapi.testclient import TestClient

    from raft.serve.api import ServeConfig, create_app

    engine = ChatEngine(retriever=None, generators={"rag": OpenAIGenerator("http://127.0.0.1:9/v1", "rag", retries=0)})
    with TestClient(create_app(engine, ServeConfig(api_key=KEY))) as c:
        yield c


def ask(client, **fields):
    body = {"model": "rag", "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}]}
    return client.post("/v1/chat/completions", json=body | fields, headers=AUTH)


@pytest.mark.parametrize(
    ("fields", "status", "phrase"),
    [
        ({"max_tokens": 0}, 400, "max_tokens"),
        ({"max_completion_tokens": 0}, 400, "max_completion_tokens"),
        ({"max_tokens": -1}, 400, "max_tokens"),
        ({"temperature": -1}, 400, "temperature"),
        ({"temperature": 5}, 400, "temperature"),
        ({"top_p": 0}, 400, "top_p"),
        ({"k": 0}, 400, "k must be"),
        ({"model": "nope"}, 404, "nope"),
        ({"messages": []}, 400, "non-empty"),
        ({"bogus": 1}, 400, "not supported"),
    ],
    ids=["max-tokens-0", "max-completion-tokens-0", "max-tokens-negative", "temperature-negative",
         "temperature-high", "top-p-0", "k-0", "unknown-model", "no-messages", "unknown-field"],
)
def test_bad_requests_get_a_4xx_naming_the_field(client, fields, status, phrase):
    resp = ask(client, **fields)
    assert resp.status_code == status, resp.text
    assert phrase in resp.json()["error"]["message"]


def test_no_key_and_bad_body_are_refused(client):
    assert client.get("/v1/models").status_code == 401
    resp = client.post("/v1/chat/completions", content=b"{not json", headers=AUTH)
    assert resp.status_code == 400


def _series(client) -> list[str]:
    text = client.get("/metrics", headers=AUTH).text
    return [line for line in text.splitlines() if line.startswith("raft_requests_total{")]


def test_unknown_paths_add_no_metric_series_and_a_burst_stays_bounded(client):
    client.get("/v1/models", headers=AUTH)
    client.get("/no/such/path-0")  # 401
    client.get("/no/such/path-1", headers=AUTH)  # 404
    _series(client)  # /metrics itself counts once it has answered
    before = _series(client)
    for i in range(300):
        client.get(f"/random/{i}")
        client.get(f"/v1/../../etc/passwd{i}", headers=AUTH)
    after = _series(client)
    assert len(after) == len(before)
    assert not any("/random/" in s or "passwd" in s for s in after)
    assert any('route="unmatched"' in s and 'status="401"' in s for s in after)
    assert any('route="/v1/models"' in s for s in after)
