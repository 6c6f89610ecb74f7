"""`OpenAIGenerator`: any OpenAI-compatible `/chat/completions` endpoint (vLLM, SGLang, Ollama, a hosted
API, `raft serve`) behind the `Generator` interface, with bounded concurrency, retry and streaming."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from raft.errors import RaftError
from raft.serve.decoding import Completion, DecodingConfig, cut_at_stop
from raft.serve.streams import StreamUsage, TokenStream, UpstreamError

log = logging.getLogger(__name__)


class OpenAIGenerator:
    """Any OpenAI-compatible `/chat/completions` endpoint, with bounded concurrency and retry."""

    def __init__(
        self,
        url: str,
        model: str,
        name: str | None = None,
        api_key: str | None = None,
        concurrency: int = 8,
        retries: int = 4,
        timeout: float = 600.0,
    ) -> None:
        url = url.rstrip("/")
        if re.fullmatch(r"https?://[^/]+", url):
            url += "/v1"
        self.url, self.model, self.name = url, model, name or model
        self.api_key = api_key or os.environ.get("RAFT_API_KEY") or os.environ.get("OPENAI_API_KEY") or ""
        self.concurrency, self.retries, self.timeout = concurrency, retries, timeout
        self._streams: set[TokenStream] = set()  # streams still being pumped
        self._streams_lock = threading.Lock()
        self._closed = False

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)

    def _request(self, payload: dict[str, Any]) -> urllib.request.Request:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        body = json.dumps({"model": self.model, **payload}).encode()
        return urllib.request.Request(f"{self.url}/chat/completions", data=body, headers=headers)

    def _payload(self, messages: list[dict], cfg: DecodingConfig, stream: bool) -> dict[str, Any]:
        return {
            "messages": messages,
            "max_tokens": cfg.max_new_tokens,
            "temperature": cfg.temperature,
            "top_p": cfg.top_p,
            "seed": cfg.seed,
            "stream": stream,
        }

    def _open(self, payload: dict[str, Any]):
        delay = 1.0
        for attempt in range(self.retries + 1):
            try:
                return urllib.request.urlopen(self._request(payload), timeout=self.timeout)
            except urllib.error.HTTPError as exc:
                if exc.code not in (408, 429) and exc.code < 500 or attempt == self.retries:
                    raise UpstreamError(exc.code, _error_message(exc.read()), self.url) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                if attempt == self.retries:
                    raise RaftError(f"cannot reach {self.url} ({exc}); is the server running?") from None
            log.warning("retrying %s in %.0f s", self.url, delay)
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def _one(self, messages: list[dict], cfg: DecodingConfig) -> Completion:
        t0 = time.perf_counter()
        with self._open(self._payload(messages, cfg, stream=False)) as resp:
            data = json.loads(resp.read())
        choice = data["choices"][0]
        text, stopped = cut_at_stop(choice["message"].get("content") or "")
        usage = data.get("usage") or {}
        return Completion(
            text.strip(),
            int(usage.get("prompt_tokens", 0)),
            int(usage.get("completion_tokens", self.count_tokens(text))),
            time.perf_counter() - t0,
            "stop" if stopped else str(choice.get("finish_reason") or "stop"),
        )

    def generate(
        self, conversations: list[list[dict]], cfg: DecodingConfig, batch_size: int = 8
    ) -> list[Completion]:
        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(conversations) or 1))) as pool:
            return list(pool.map(lambda m: self._one(m, cfg), conversations))

    def stream(self, messages: list[dict], cfg: DecodingConfig) -> Iterator[str]:
        yield from self.open_stream(messages, cfg)

    def open_stream(
        self,
        messages: list[dict],
        cfg: DecodingConfig,
        stop: tuple[str, ...] = (),
        cancel: threading.Event | None = None,
        seeded: bool = False,
    ) -> TokenStream:
        """Stream from the endpoint (usage requested with stream_options); an error event raises."""
        payload = {**self._payload(messages, cfg, stream=True), "stream_options": {"include_usage": True}}
        if stop:
            payload["stop"] = list(stop)
        out = TokenStream(cancel)
        with self._streams_lock:
            if self._closed:
                raise RuntimeError("the generator is closed")
            self._streams.add(out)
        threading.Thread(target=self._pump, args=(payload, out), name="raft-openai-stream", daemon=True).start()
        return out

    def close(self) -> None:
        """Cancel every running stream and refuse new ones. Each stream's thread ends at the endpoint's
        next event; it is not joined, since a slow endpoint would hold the caller (a pure-Python thread
        does not abort the process's exit)."""
        with self._streams_lock:
            self._closed = True
            running = list(self._streams)
        for stream in running:
            stream.cancel()

    def _pump(self, payload: dict[str, Any], out: TokenStream) -> None:
        reason, usage = None, None
        try:
            with self._open(payload) as resp:
                for raw in resp:
                    if out.cancelled:
                        out.finish("cancelled", usage)
                        return
                    line = raw.decode(errors="replace").strip()
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        reason = reason or "stop"
                        break
                    event = _sse_event(data, self.url)
                    if event.get("usage"):
                        u = event["usage"]
                        usage = StreamUsage(int(u.get("prompt_tokens", 0)), int(u.get("completion_tokens", 0)))
                    for choice in event.get("choices") or []:
                        out.put(((choice or {}).get("delta") or {}).get("content") or "")
                        reason = (choice or {}).get("finish_reason") or reason
            if reason is None:  # neither a finish_reason nor [DONE]: the answer was cut off
                raise UpstreamError(502, "the stream ended before the answer was complete", self.url)
            out.finish(reason, usage)
        except BaseException as exc:  # handed to the consumer
            out.finish(None, error=exc)
        finally:
            with self._streams_lock:
                self._streams.discard(out)


def _error_message(body: bytes) -> str:
    """The `error.message` of an OpenAI-style error body, else the body's start."""
    text = body.decode(errors="replace")
    try:
        err = json.loads(text).get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
    except (json.JSONDecodeError, AttributeError):
        pass
    return text[:300]


def _sse_event(data: str, url: str) -> dict[str, Any]:
    """One parsed `data:` event; an `error` event or a broken one raises UpstreamError."""
    try:
        event = json.loads(data)
    except json.JSONDecodeError:
        raise UpstreamError(502, f"malformed stream event: {data[:120]}", url) from None
    if not isinstance(event, dict):
        raise UpstreamError(502, f"malformed stream event: {data[:120]}", url)
    if event.get("error"):
        err = event["error"]
        message = err.get("message", str(err)) if isinstance(err, dict) else str(err)
        code = err.get("code") if isinstance(err, dict) else None
        status = code if isinstance(code, int) and 400 <= code < 600 else 502
        raise UpstreamError(status, message, url, code=code if isinstance(code, str) else None)
    return event
