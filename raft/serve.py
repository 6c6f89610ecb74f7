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

FastAPI + uvicorn (installed with gradio) serve it: HTTP/1.1 keep-alive for the `openai` client,
SSE through StreamingResponse, and blocking retrieval/generation on the worker thread pool so
requests run concurrently while the event loop stays responsive.
"""

import json
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from raft.engine import Answer, ChatEngine, ChatSettings, Retrieval
from raft.errors import RaftError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 1_000_000


class ApiError(Exception):
    """An error answered as an OpenAI-style JSON body."""

    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param

    def body(self) -> dict[str, Any]:
        kind = "invalid_request_error" if self.status < 500 else "server_error"
        return {"error": {"message": self.message, "type": kind, "param": self.param, "code": self.code}}


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[dict[str, str]]
    stream: bool
    retrieval: bool
    settings: ChatSettings


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    raise ApiError(
        400, "message content must be a string or a list of text parts", "invalid_type", "messages"
    )


def parse_request(body: dict[str, Any], engine: ChatEngine) -> ChatRequest:
    """Validate a chat-completions body; ApiError with the OpenAI status and code otherwise."""
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object", "invalid_json")
    model = body.get("model")
    if model not in engine.generators:
        raise ApiError(
            404,
            f"The model {model!r} does not exist; available: {', '.join(engine.models)}",
            "model_not_found",
            "model",
        )
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise ApiError(400, "'messages' must be a non-empty list", "invalid_value", "messages")
    messages = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant", "developer"):
            raise ApiError(
                400, f"messages[{i}] needs a role of system, user or assistant", "invalid_value", "messages"
            )
        messages.append(
            {"role": "system" if m["role"] == "developer" else m["role"], "content": _text(m.get("content"))}
        )
    if messages[-1]["role"] != "user" or not messages[-1]["content"].strip():
        raise ApiError(400, "the last message must be a non-empty user message", "invalid_value", "messages")
    if body.get("n", 1) != 1:
        raise ApiError(400, "only n=1 is supported", "invalid_value", "n")
    retrieval = body.get("retrieval")
    if retrieval is None:
        retrieval = not any(m["role"] == "system" for m in messages)
    try:
        settings = ChatSettings(
            k=int(body.get("k", ChatSettings.k)),
            temperature=float(body.get("temperature") if body.get("temperature") is not None else 0.0),
            max_new_tokens=int(
                body.get("max_completion_tokens") or body.get("max_tokens") or ChatSettings.max_new_tokens
            ),
            hybrid=body.get("hybrid"),
        )
        engine.check_settings(settings)
    except (TypeError, ValueError, RaftError) as exc:
        raise ApiError(400, str(exc), "invalid_value") from None
    return ChatRequest(str(model), messages, bool(body.get("stream")), bool(retrieval), settings)


def retrieve_for(req: ChatRequest, engine: ChatEngine) -> Retrieval | None:
    """Server-side retrieval for a retrieval-mode request (None in pass-through mode)."""
    if not req.retrieval:
        total = sum(len(m["content"]) for m in req.messages)
        limit = engine.limits.max_question_chars * 50
        if total > limit:
            raise ApiError(
                400,
                f"the messages have {total:,} characters, the limit is {limit:,}",
                "context_length_exceeded",
            )
        return None
    user_turns = [m["content"] for m in req.messages if m["role"] == "user"]
    try:
        return engine.retrieve(user_turns[-1], user_turns[:-1], req.settings)
    except RaftError as exc:
        code = "context_length_exceeded" if "limit" in str(exc) else "invalid_value"
        raise ApiError(400, str(exc), code, "messages") from None


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


def _passthrough(engine: ChatEngine, req: ChatRequest) -> Iterator[Answer]:
    from raft.generation import DecodingConfig

    cfg = DecodingConfig(max_new_tokens=req.settings.max_new_tokens, temperature=req.settings.temperature)
    raw = ""
    for delta in engine.generator(req.model).stream(req.messages, cfg):
        raw += delta
        yield Answer(req.model, raw, raw)
    yield Answer(req.model, raw, raw, done=True)


def answers(engine: ChatEngine, req: ChatRequest, retrieval: Retrieval | None) -> Iterator[Answer]:
    if retrieval is None:
        return _passthrough(engine, req)
    return engine.stream(retrieval, req.model, req.settings)


def completion_body(engine: ChatEngine, req: ChatRequest, retrieval: Retrieval | None) -> dict[str, Any]:
    """The non-streaming response."""
    final = None
    for final in answers(engine, req, retrieval):  # noqa: B007
        pass
    assert final is not None
    gen = engine.generator(req.model)
    prompt = retrieval.messages if retrieval else req.messages
    prompt_tokens = sum(gen.count_tokens(m["content"]) for m in prompt)
    completion_tokens = gen.count_tokens(final.raw) if final.raw else 0
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": req.model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": final.markdown}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "sources": sources_json(retrieval, final),
        "raft": _extra(retrieval, final),
    }


def sse_events(engine: ChatEngine, req: ChatRequest, retrieval: Retrieval | None) -> Iterator[str]:
    """`data:` lines of a streamed completion: sources first, then text deltas, then citations."""
    cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        data = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": req.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    yield chunk(
        {"role": "assistant", "content": ""}, sources=sources_json(retrieval), raft=_extra(retrieval, None)
    )
    sent, final = 0, None
    try:
        for final in answers(engine, req, retrieval):
            if len(final.markdown) > sent:
                yield chunk({"content": final.markdown[sent:]})
                sent = len(final.markdown)
    except Exception as exc:  # the stream has started: report in-band, keep the server up
        log.exception("generation failed")
        yield f"data: {json.dumps(ApiError(500, f'generation failed: {exc}', 'server_error').body())}\n\n"
        yield "data: [DONE]\n\n"
        return
    yield chunk({}, "stop", sources=sources_json(retrieval, final), raft=_extra(retrieval, final))
    yield "data: [DONE]\n\n"


def create_app(engine: ChatEngine, cfg: ServeConfig = ServeConfig()):
    """The FastAPI application."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, StreamingResponse
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException

    app = FastAPI(title="raft serve", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(HTTPException)
    async def _http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(ApiError(exc.status_code, str(exc.detail)).body(), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _server_error(_: Request, exc: Exception) -> JSONResponse:
        log.exception("request failed")
        status = 502 if isinstance(exc, RaftError) else 500
        return JSONResponse(
            ApiError(status, f"{type(exc).__name__}: {exc}", "server_error").body(), status_code=status
        )

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "models": engine.models}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "raft"} for m in engine.models]
        return {"object": "list", "data": data}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > cfg.max_body_bytes:
            raise ApiError(413, f"request body over {cfg.max_body_bytes:,} bytes", "request_too_large")
        raw = await request.body()
        if len(raw) > cfg.max_body_bytes:
            raise ApiError(413, f"request body over {cfg.max_body_bytes:,} bytes", "request_too_large")
        try:
            body = json.loads(raw or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ApiError(400, "the request body is not valid JSON", "invalid_json") from None
        req = parse_request(body, engine)
        retrieval = await run_in_threadpool(retrieve_for, req, engine)
        if req.stream:
            headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
            return StreamingResponse(
                sse_events(engine, req, retrieval), media_type="text/event-stream", headers=headers
            )
        return JSONResponse(await run_in_threadpool(completion_body, engine, req, retrieval))

    return app


def serve(engine: ChatEngine, cfg: ServeConfig = ServeConfig()) -> None:
    """Run the API until interrupted."""
    import uvicorn

    log.info("serving %s on http://%s:%d/v1", ", ".join(engine.models), cfg.host, cfg.port)
    uvicorn.run(create_app(engine, cfg), host=cfg.host, port=cfg.port, log_level="warning", access_log=False)
