"""`raft serve`: an OpenAI-compatible HTTP API over the chat engine.

`GET /v1/models` lists `rag` (base) and/or `raft` (tuned); `POST /v1/chat/completions` answers with
or without streaming (SSE). Two modes, chosen per request:

- retrieval (no system message): the server condenses the conversation into a retrieval query,
  retrieves, builds the RAFT prompt and answers; `content` is the rendered answer (citations, no raw
  markers) and the extra top-level field `sources` lists the retrieved chunks with the quotes found
  in them, `raft` carries the raw text, the extracted answer and the query.
- pass-through (the request has a system message, as the prompts of `raft eval` and the teacher
  do): the messages go to the model as given and `content` is the raw model text.
  `"retrieval": true|false` in the request body overrides the choice.

Requests are pydantic models with strict types (`"hybrid": "false"` is refused, not truthy); the
OpenAI fields `stop`, `top_p`, `seed`, `stream_options.include_usage` are honoured, anything else
unknown is refused with a 400 that names it. `finish_reason` is `length` when the token budget ran
out, `usage` counts the model's own tokens (chat template included). `--api-key` requires
`Authorization: Bearer KEY` on every route. A client that disconnects mid-stream cancels its
generation within one decoding step. `GET /metrics` exposes Prometheus metrics; `--request-log`
writes one JSON line per answer.

FastAPI + uvicorn (installed with gradio) serve it: HTTP/1.1 keep-alive for the `openai` client,
SSE through StreamingResponse, and blocking retrieval/generation on the worker thread pool so
requests run concurrently while the event loop stays responsive.
"""

import hmac
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raft.errors import RaftError
from raft.serve.engine import Answer, ChatEngine, Retrieval, open_tokens
from raft.serve.monitoring import Metrics, RequestLog, RequestLogConfig, answer_record
from raft.serve.openai_api import ApiError, ChatRequest, parse_request, retrieve_for
from raft.serve.streams import UpstreamError

log = logging.getLogger(__name__)

API_KEY_ENV = "RAFT_SERVE_API_KEY"
UNMATCHED = "unmatched"  # the route label of every path the app does not serve


@dataclass(frozen=True)
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 1_000_000
    api_key: str | None = None  # falls back to env RAFT_SERVE_API_KEY
    request_log: Path | None = None
    request_log_max_bytes: int = 10 * 1024 * 1024
    request_log_backups: int = 5


def resolve_api_key(value: str | None) -> str | None:
    key = value or os.environ.get(API_KEY_ENV) or None
    if key is not None and (len(key) < 8 or not key.isascii() or any(c.isspace() for c in key)):
        raise RaftError(
            f"--api-key / {API_KEY_ENV} must be at least 8 printable ASCII characters without spaces"
        )
    return key


def check_port(host: str, port: int) -> None:
    """A one-line RaftError when `host:port` cannot be bound (another server holds it, or no such address)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise RaftError(f"--host {host} is not an address of this machine ({exc.strerror}); use 127.0.0.1 or 0.0.0.0") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            sock.bind(address)
        except OSError as exc:
            raise RaftError(
                f"cannot listen on {host}:{port} ({exc.strerror}); stop the server using it or pass another --port"
            ) from None


def sources_json(retrieval: Retrieval | None, answer: Answer | None = None) -> list[dict[str, Any]]:
    if retrieval is None:
        return []
    cited = answer.cited_sources() if answer else {}
    return [
        {
            "rank": i,
            "chunk_id": h.chunk_id,
            "doc_id": h.doc_id,
            "title": h.title,
            "heading": h.heading,
            "source": h.source,
            "score": round(float(h.score), 4),
            "text": h.text,
            "quotes": cited.get(i, []),
        }
        for i, h in enumerate(retrieval.hits, start=1)
    ]


def _extra(retrieval: Retrieval | None, answer: Answer | None) -> dict[str, Any]:
    if retrieval is None:
        return {}
    extra: dict[str, Any] = {"query": retrieval.query, "overhead_ms": round(retrieval.overhead_s * 1000, 2)}
    if answer is not None:
        extra.update(raw=answer.raw, answer=answer.answer, citations=[c.__dict__ for c in answer.citations])
    return extra


def _passthrough(engine: ChatEngine, req: ChatRequest, cancel: threading.Event | None) -> Iterator[Answer]:
    raw, t0 = "", time.perf_counter()
    tokens = open_tokens(engine.generator(req.model), req.messages, req.settings, cancel)
    try:
        for delta in tokens:
            raw += delta
            yield Answer(req.model, raw, raw)
    except GeneratorExit:
        if hasattr(tokens, "cancel"):
            tokens.cancel()
        raise
    usage = getattr(tokens, "usage", None)
    yield Answer(
        req.model,
        raw,
        raw,
        done=True,
        seconds=time.perf_counter() - t0,
        finish_reason=getattr(tokens, "finish_reason", "stop"),
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
        first_token_s=getattr(tokens, "first_token_s", None),
    )


def answers(
    engine: ChatEngine, req: ChatRequest, retrieval: Retrieval | None, cancel: threading.Event | None = None
) -> Iterator[Answer]:
    if retrieval is None:
        return _passthrough(engine, req, cancel)
    return engine.stream(retrieval, req.model, req.settings, cancel)


def usage_json(
    engine: ChatEngine, req: ChatRequest, retrieval: Retrieval | None, final: Answer
) -> dict[str, int]:
    """Token counts from the generation itself; tokenizer counts when the backend reported none."""
    prompt, completion = final.prompt_tokens, final.completion_tokens
    gen = engine.generator(req.model)
    if prompt is None:
        messages = retrieval.messages if retrieval else req.messages
        counter = getattr(gen, "count_prompt_tokens", None)
        prompt = counter(messages) if counter else sum(gen.count_tokens(m["content"]) for m in messages)
    if completion is None:
        completion = gen.count_tokens(final.raw) if final.raw else 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _finish(final: Answer) -> str:
    return "length" if final.finish_reason == "length" else "stop"


class Monitor:
    """Metrics and the request log, updated once per finished answer."""

    def __init__(self, metrics: Metrics, request_log: RequestLog | None) -> None:
        self.metrics, self.request_log = metrics, request_log

    def answered(self, req: ChatRequest, retrieval: Retrieval | None, final: Answer, t0: float) -> None:
        from raft.prompts import is_abstention

        seconds = time.perf_counter() - t0
        if final.finish_reason == "cancelled":
            self.metrics.cancelled.labels(req.model).inc()
            if final.completion_tokens:
                self.metrics.tokens.labels(req.model).inc(final.completion_tokens)
            if retrieval is not None and self.request_log is not None:
                self.request_log.write(answer_record(retrieval, final, seconds, "serve"))
            return
        ttft = None
        if final.first_token_s is not None:
            ttft = final.first_token_s + (retrieval.overhead_s if retrieval else 0.0)
        abstained = retrieval is not None and is_abstention(final.answer)
        self.metrics.observe_answer(req.model, abstained, final.completion_tokens, seconds, ttft)
        if retrieval is not None:
            self.metrics.retrieval.observe(retrieval.overhead_s)
            if self.request_log is not None:
                self.request_log.write(answer_record(retrieval, final, seconds, "serve"))


def completion_body(
    engine: ChatEngine,
    req: ChatRequest,
    retrieval: Retrieval | None,
    monitor: Monitor | None = None,
    t0: float = 0.0,
) -> dict[str, Any]:
    """The non-streaming response."""
    final = None
    for final in answers(engine, req, retrieval):  # noqa: B007
        pass
    assert final is not None
    if monitor is not None:
        monitor.answered(req, retrieval, final, t0 or time.perf_counter())
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": req.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": final.markdown},
                "finish_reason": _finish(final),
            }
        ],
        "usage": usage_json(engine, req, retrieval, final),
        "sources": sources_json(retrieval, final),
        "raft": _extra(retrieval, final),
    }


def sse_events(
    engine: ChatEngine,
    req: ChatRequest,
    retrieval: Retrieval | None,
    cancel: threading.Event | None = None,
    monitor: Monitor | None = None,
    t0: float = 0.0,
) -> Iterator[str]:
    """`data:` lines of a streamed completion: sources first, then text deltas, then citations."""
    cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())

    def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> str:
        data = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": req.model,
            "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    yield chunk(
        {"role": "assistant", "content": ""}, sources=sources_json(retrieval), raft=_extra(retrieval, None)
    )
    sent, final = 0, None
    try:
        for final in answers(engine, req, retrieval, cancel):
            if len(final.markdown) > sent:
                yield chunk({"content": final.markdown[sent:]})
                sent = len(final.markdown)
    except Exception as exc:  # the stream has started: report in-band, keep the server up
        log.exception("generation failed")
        status = exc.status if isinstance(exc, UpstreamError) else 500
        message = exc.message if isinstance(exc, UpstreamError) else f"generation failed: {exc}"
        yield f"data: {json.dumps(ApiError(status, message, 'server_error').body())}\n\n"
        yield "data: [DONE]\n\n"
        return
    assert final is not None
    if monitor is not None:
        monitor.answered(req, retrieval, final, t0 or time.perf_counter())
    if final.finish_reason == "cancelled":
        return
    yield chunk({}, _finish(final), sources=sources_json(retrieval, final), raft=_extra(retrieval, final))
    if req.include_usage:
        yield chunk(None, usage=usage_json(engine, req, retrieval, final))
    yield "data: [DONE]\n\n"


async def _cancel_on_exit(lines: Iterator[str], cancel: threading.Event):
    """Relay a blocking SSE iterator; if the client goes away (this task is cancelled), cancel generation."""
    from starlette.concurrency import iterate_in_threadpool

    finished = False
    try:
        async for line in iterate_in_threadpool(lines):
            yield line
        finished = True
    finally:
        if not finished:  # the client left: stop the model, then let the stream record its end
            cancel.set()
            threading.Thread(target=_drain, args=(lines,), daemon=True).start()


def _drain(lines: Iterator[str], attempts: int = 600) -> None:
    """Run an abandoned SSE iterator to its end (it stops at once: its generation is cancelled)."""
    for _ in range(attempts):
        try:
            for _ in lines:
                pass
            return
        except ValueError:  # still advancing in the worker thread the client left behind
            time.sleep(0.05)


class _AuthAndCount:
    """ASGI middleware: Bearer API key on every route (401 otherwise), and a request counter.

    Plain ASGI (not BaseHTTPMiddleware), so a client's disconnect still reaches the streaming response.
    """

    def __init__(self, app: Any, api_key: str | None, metrics: Metrics, routes: list[Any]) -> None:
        self.app, self.metrics, self.routes = app, metrics, routes
        self.expected = f"Bearer {api_key}".encode() if api_key else None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from fastapi.responses import JSONResponse

        path = self.route_label(scope["path"])
        if self.expected is not None:
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                self.metrics.requests.labels(path, "", "401").inc()
                err = ApiError(
                    401, "missing or wrong API key; send Authorization: Bearer KEY", "invalid_api_key"
                )
                resp = JSONResponse(err.body(), status_code=401, headers={"WWW-Authenticate": "Bearer"})
                await resp(scope, receive, send)
                return
        status = {"code": 500}

        async def send_and_note(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            model = (scope.get("state") or {}).get("model", "")
            self.metrics.requests.labels(path, model, str(status["code"])).inc()

    def route_label(self, path: str) -> str:
        """The metric label of a path: the app's own routes by name, anything else `unmatched`, so that
        requests to made-up paths cannot grow the metric series without bound."""
        return path if any(getattr(r, "path", None) == path for r in self.routes) else UNMATCHED


def create_app(engine: ChatEngine, cfg: ServeConfig = ServeConfig(), metrics: Metrics | None = None):
    """The FastAPI application."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response, StreamingResponse
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException

    app = FastAPI(title="raft serve", docs_url=None, redoc_url=None, openapi_url=None)
    api_key = resolve_api_key(cfg.api_key)
    metrics = metrics or Metrics()
    request_log = None
    if cfg.request_log is not None:
        request_log = RequestLog(
            RequestLogConfig(Path(cfg.request_log), cfg.request_log_max_bytes, cfg.request_log_backups)
        )
    monitor = Monitor(metrics, request_log)
    app.state.metrics, app.state.monitor = metrics, monitor

    app.add_middleware(_AuthAndCount, api_key=api_key, metrics=metrics, routes=app.router.routes)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(HTTPException)
    async def _http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(ApiError(exc.status_code, str(exc.detail)).body(), status_code=exc.status_code)

    @app.exception_handler(RaftError)
    async def _raft_error(_: Request, exc: RaftError) -> JSONResponse:
        if isinstance(exc, UpstreamError):  # the endpoint's own status and message
            return JSONResponse(ApiError(exc.status, exc.message, exc.code).body(), status_code=exc.status)
        log.error("request failed: %s", exc)
        return JSONResponse(ApiError(502, str(exc), "server_error").body(), status_code=502)

    @app.exception_handler(Exception)
    async def _server_error(_: Request, exc: Exception) -> JSONResponse:
        log.exception("request failed")
        return JSONResponse(
            ApiError(500, f"{type(exc).__name__}: {exc}", "server_error").body(), status_code=500
        )

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "models": engine.models}

    @app.get("/metrics")
    async def prometheus() -> Response:
        data, content_type = metrics.render()
        return Response(data, media_type=content_type)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "raft"} for m in engine.models]
        return {"object": "list", "data": data}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        t0 = time.perf_counter()
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > cfg.max_body_bytes:
            raise ApiError(413, f"request body over {cfg.max_body_bytes:,} bytes", "request_too_large")
        raw = await request.body()
        if len(raw) > cfg.max_body_bytes:
            raise ApiError(413, f"request body over {cfg.max_body_bytes:,} bytes", "request_too_large")
        req = parse_request(raw or b"null", engine)
        request.scope.setdefault("state", {})["model"] = req.model
        retrieval = await run_in_threadpool(retrieve_for, req, engine)
        if req.stream:
            cancel = threading.Event()
            lines = sse_events(engine, req, retrieval, cancel, monitor, t0)
            headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
            return StreamingResponse(
                _cancel_on_exit(lines, cancel), media_type="text/event-stream", headers=headers
            )
        return JSONResponse(await run_in_threadpool(completion_body, engine, req, retrieval, monitor, t0))

    return app


def serve(engine: ChatEngine, cfg: ServeConfig = ServeConfig()) -> None:
    """Run the API until interrupted."""
    import uvicorn

    app = create_app(engine, cfg)
    check_port(cfg.host, cfg.port)
    auth = (
        "Bearer API key required"
        if resolve_api_key(cfg.api_key)
        else "no API key (pass --api-key to require one)"
    )
    log.info(
        "serving %s on http://%s:%d/v1 (%s; metrics at /metrics)",
        ", ".join(engine.models),
        cfg.host,
        cfg.port,
        auth,
    )
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_level="warning", access_log=False)
