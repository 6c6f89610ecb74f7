"""`raft serve` in front of an OpenAI-compatible endpoint that fails: its errors reach the client with their
status and message, and a stream that breaks off is an error, never a silently shortened answer."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from raft.serve.engine import ChatEngine
from raft.serve.openai_client import OpenAIGenerator
from tests.servers import free_port

SYSTEM = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Hello?"}]


class Upstream(BaseHTTPRequestHandler):
    """Behaves by model name: `bad` 400, `busy` 429, `sse-error` an error event mid-stream, `cut` no end."""

    def log_message(self, *args):
        pass

    def _json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        model = body["model"]
        if model == "bad":
            return self._json(400, {"error": {"message": "max_tokens is too large: 9999", "code": None}})
        if model == "busy":
            return self._json(429, {"error": {"message": "Rate limit reached for requests", "code": None}})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for word in ("The ", "answer ", "is "):
            self.wfile.write(
                f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'content': word}}]})}\n\n".encode()
            )
            self.wfile.flush()
        if model == "sse-error":
            self.wfile.write(b'data: {"error": {"message": "the model crashed", "code": 500}}\n\n')
        # `cut`: the connection just ends, with neither a finish_reason nor [DONE]


@pytest.fixture(scope="module")
def server():
    import uvicorn

    from raft.serve.api import ServeConfig, create_app

    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{upstream.server_address[1]}/v1"
    gens = {m: OpenAIGenerator(url, m, retries=0, timeout=30) for m in ("bad", "busy", "sse-error", "cut")}
    port = free_port()
    app = create_app(ChatEngine(retriever=None, generators=gens), ServeConfig(port=port))
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/v1"
    srv.should_exit = True
    thread.join(timeout=10)
    upstream.shutdown()
    upstream.server_close()


@pytest.fixture
def client(server):
    import openai

    return openai.OpenAI(base_url=server, api_key="x", max_retries=0, timeout=30)


def test_upstream_status_and_message_are_passed_on(client):
    import openai

    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="bad", messages=SYSTEM)
    assert err.value.status_code == 400 and err.value.body["message"] == "max_tokens is too large: 9999"
    with pytest.raises(openai.RateLimitError) as err:
        client.chat.completions.create(model="busy", messages=SYSTEM)
    assert "Rate limit reached" in err.value.body["message"]


def test_an_upstream_error_event_is_an_error_not_a_short_answer(client):
    import openai

    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(model="sse-error", messages=SYSTEM)
    assert err.value.status_code == 500 and "the model crashed" in err.value.body["message"]
    got = []
    with pytest.raises(openai.APIError, match="the model crashed"):
        for chunk in client.chat.completions.create(model="sse-error", messages=SYSTEM, stream=True):
            got.append(chunk.choices[0].delta.content if chunk.choices else None)
    assert "".join(g or "" for g in got) == "The answer is "


def test_a_stream_that_breaks_off_is_an_error(client):
    import openai

    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(model="cut", messages=SYSTEM)
    assert (
        err.value.status_code == 502 and "ended before the answer was complete" in err.value.body["message"]
    )
