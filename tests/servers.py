"""Start `raft serve` / `raft chat` as real subprocesses on a free loopback port, and stop them."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def raft_process(
    args: list[str], ready_url: str, log: Path, timeout: float = 240.0, headers: dict[str, str] | None = None
) -> Iterator[subprocess.Popen]:
    """Run `python -m raft ARGS` until `ready_url` answers (bounded wait), then yield; always stopped after."""
    env = dict(
        os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", TOKENIZERS_PARALLELISM="false"
    )
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "raft", *args], stdout=fh, stderr=subprocess.STDOUT, env=env
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"raft {args[0]} exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(urllib.request.Request(ready_url, headers=headers or {}), timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{ready_url} not ready after {timeout} s:\n{log.read_text()[-3000:]}"
                    ) from None
                time.sleep(1)
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def scripted_answer(messages: list[dict]) -> str:
    """What a well-trained RAFT model answers: quote the first sentence of document 1, then answer."""
    import re

    user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    match = re.search(r"<DOCUMENT 1: [^>]*>\n(.*?)\n</DOCUMENT>", user, re.DOTALL)
    if not match:
        return "<ANSWER>: The documents do not contain the answer."
    body = " ".join(line for line in match.group(1).splitlines() if line.strip() and not line.startswith("#"))
    sentence = re.split(r"(?<=[.!?])\s", body.strip(), maxsplit=1)[0]
    return (
        f"Document 1 says ##begin_quote##{sentence}##end_quote## so that is the answer. <ANSWER>: {sentence}"
    )


@contextlib.contextmanager
def scripted_endpoint(delay: float = 0.02) -> Iterator[str]:
    """A loopback OpenAI-compatible endpoint answering with `scripted_answer` (streams word by word).

    It stands in for a remote RAFT model served by vLLM: the tiny offline model cannot quote reliably.
    """
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output quiet
            pass

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            text = scripted_answer(body["messages"])
            if not body.get("stream"):
                data = {
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": len(text.split())},
                }
                payload = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for word in text.split(" "):
                chunk = {"choices": [{"index": 0, "delta": {"content": word + " "}}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
                time.sleep(delay)
            self.wfile.write(b"data: [DONE]\n\n")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def small_corpus_index(tmp: Path, n_docs: int = 6) -> Path:
    """An index over a copy of a few bundled docs (uploads write into the corpus, so never the original)."""
    import shutil

    from raft.index.build import IndexConfig, build_index
    from tests.conftest import SAMPLE_DOCS

    corpus = tmp / "corpus"
    corpus.mkdir(parents=True)
    for path in sorted(SAMPLE_DOCS.rglob("*.md"))[:n_docs]:
        shutil.copy(path, corpus / path.name)
    build_index(IndexConfig(corpus=corpus, out=tmp / "index", hybrid=True))
    return tmp / "index"


@contextlib.contextmanager
def chat_app(tmp: Path, rag_model: Path, delay: float = 0.02) -> Iterator[str]:
    """`raft chat` over a small index: the scripted endpoint answers as `raft`, `rag_model` as `rag`.

    Yields the app's URL; feedback goes to `tmp / "feedback.jsonl"`.
    """
    index = small_corpus_index(tmp)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with scripted_endpoint(delay=delay) as endpoint:
        args = ["chat", str(index), "--model", f"openai:{endpoint}:raft-remote", "--rag-model", str(rag_model),
                "--port", str(port), "--device", "cpu", "--feedback", str(tmp / "feedback.jsonl")]  # fmt: skip
        with raft_process(args, url, tmp / "chat.log"):
            yield url
