"""The request side of `raft serve`'s OpenAI-compatible API: strict pydantic models of the body, their
validation into a `ChatRequest`, OpenAI-style errors, and server-side retrieval for a request.

Strict types on every field (`"hybrid": "false"` is refused, not truthy); unknown fields are refused
with a 400 that names them; `stop`, `top_p`, `seed` and `stream_options.include_usage` are honoured.
"""

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from raft.errors import RaftError
from raft.serve.engine import ChatEngine, ChatSettings, MessageTooLong, Retrieval


class ApiError(Exception):
    """An error answered as an OpenAI-style JSON body."""

    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param

    def body(self) -> dict[str, Any]:
        kinds = {401: "authentication_error", 404: "invalid_request_error", 429: "rate_limit_error"}
        kind = kinds.get(self.status, "invalid_request_error" if self.status < 500 else "server_error")
        return {"error": {"message": self.message, "type": kind, "param": self.param, "code": self.code}}


_STRICT = ConfigDict(strict=True, extra="forbid")


class TextPart(BaseModel):
    model_config = _STRICT
    type: Literal["text"]
    text: str


class Message(BaseModel):
    model_config = _STRICT
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]
    name: str | None = None


class StreamOptions(BaseModel):
    model_config = _STRICT
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """The accepted body of POST /v1/chat/completions (OpenAI fields plus raft's k/hybrid/retrieval)."""

    model_config = _STRICT
    model: str
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1)  # 0 is refused, as OpenAI does
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    n: int = 1
    user: str | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    k: int | None = None
    hybrid: bool | None = None
    retrieval: bool | None = None


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[dict[str, str]]
    stream: bool
    retrieval: bool
    settings: ChatSettings
    include_usage: bool = False


def _text(content: str | list[TextPart]) -> str:
    return content if isinstance(content, str) else "".join(p.text for p in content)


def _validation_error(exc: ValidationError) -> ApiError:
    problems, param = [], None
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"])
        param = param or str(err["loc"][0]) if err["loc"] else param
        if loc == "messages" and err["type"] == "too_short":
            problems.append("'messages' must be a non-empty list")
        elif err["type"] == "extra_forbidden":
            problems.append(f"'{loc}' is not supported by this server")
        else:
            problems.append(f"{loc}: {err['msg']}")
    return ApiError(400, "; ".join(problems), "invalid_value", param)


def parse_request(body: dict[str, Any] | bytes, engine: ChatEngine) -> ChatRequest:
    """Validate a chat-completions body; ApiError with the OpenAI status and code otherwise."""
    try:
        if isinstance(body, bytes | str):
            parsed = ChatCompletionRequest.model_validate_json(body)
        elif isinstance(body, dict):
            parsed = ChatCompletionRequest.model_validate(body)
        else:
            raise ApiError(400, "the request body must be a JSON object", "invalid_json")
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise ApiError(400, "the request body is not valid JSON", "invalid_json") from None
        if any(e["type"] == "model_type" and not e["loc"] for e in exc.errors()):
            raise ApiError(400, "the request body must be a JSON object", "invalid_json") from None
        raise _validation_error(exc) from None
    if parsed.model not in engine.generators:
        raise ApiError(
            404,
            f"The model {parsed.model!r} does not exist; available: {', '.join(engine.models)}",
            "model_not_found",
            "model",
        )
    messages = [
        {"role": "system" if m.role == "developer" else m.role, "content": _text(m.content)}
        for m in parsed.messages
    ]
    if messages[-1]["role"] != "user" or not messages[-1]["content"].strip():
        raise ApiError(400, "the last message must be a non-empty user message", "invalid_value", "messages")
    if parsed.n != 1:
        raise ApiError(400, "only n=1 is supported", "invalid_value", "n")
    for name in ("presence_penalty", "frequency_penalty"):
        if getattr(parsed, name) not in (None, 0, 0.0):
            raise ApiError(
                400, f"{name} is not supported by this server; leave it unset or 0", "invalid_value", name
            )
    if parsed.stream_options is not None and not parsed.stream:
        raise ApiError(
            400, "stream_options is only allowed with stream=true", "invalid_value", "stream_options"
        )
    retrieval = parsed.retrieval
    if retrieval is None:
        retrieval = not any(m["role"] == "system" for m in messages)
    stop = (parsed.stop,) if isinstance(parsed.stop, str) else tuple(parsed.stop or ())
    try:
        settings = ChatSettings(
            k=parsed.k if parsed.k is not None else engine.defaults.k,
            temperature=parsed.temperature if parsed.temperature is not None else 0.0,
            max_new_tokens=parsed.max_completion_tokens or parsed.max_tokens or ChatSettings.max_new_tokens,
            hybrid=parsed.hybrid,
            top_p=parsed.top_p if parsed.top_p is not None else 1.0,
            seed=parsed.seed,
            stop=stop,
        )
        engine.check_settings(settings)
    except RaftError as exc:
        raise ApiError(400, str(exc), "invalid_value") from None
    include_usage = bool(parsed.stream_options and parsed.stream_options.include_usage)
    return ChatRequest(parsed.model, messages, parsed.stream, retrieval, settings, include_usage)


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
    except MessageTooLong as exc:
        raise ApiError(400, str(exc), "context_length_exceeded", "messages") from None
    except RaftError as exc:
        raise ApiError(400, str(exc), "invalid_value", "messages") from None
