"""The chat engine shared by `raft chat` (Gradio) and `raft serve` (OpenAI-compatible API).

One turn: condense a follow-up into a self-contained retrieval query, retrieve, build the prompt
with `raft.prompts.build_messages` (the model sees only the current question and the retrieved
documents, exactly as in training), stream the answer through `Generator.stream`, and render the
model's verbatim quotes as citations of the chunks that contain them.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raft.errors import RaftError
from raft.prompts import build_messages, extract_answer
from raft.serve.citations import Citation, CitationRenderer

if TYPE_CHECKING:
    from raft.index.retriever import Retriever
    from raft.serve.decoding import Generator

log = logging.getLogger(__name__)

# Follow-up detection (see `condense_query`): anaphora that point back to an earlier turn.
_FOLLOW_UP_WORDS = frozenset(
    "it its it's this that these those they them their theirs there he she his her him one ones same "
    "former latter above".split()
)
_FOLLOW_UP_STARTS = ("and ", "also ", "what about", "how about", "but ", "then ", "so ")
_STOPWORDS = (
    frozenset(
        "a an the and or but if of to in on at by for with from as is are was were be been being do does did "
        "can could should would will shall may might must have has had i you we my your our me us what which "
        "who whom whose when where why how about into over under again more most some any no not only own "
        "same so than too very just also please tell explain show give get make there here".split()
    )
    | _FOLLOW_UP_WORDS
)
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_'.-]*[A-Za-z0-9]|[A-Za-z0-9]")
MAX_CARRIED_TERMS = 8


def key_terms(text: str) -> list[str]:
    """Content words of `text` in order, without stopwords or repeats (case-insensitive)."""
    seen: set[str] = set()
    terms = []
    for word in _WORD.findall(text):
        low = word.lower()
        if low in _STOPWORDS or low in seen:
            continue
        seen.add(low)
        terms.append(word)
    return terms


def is_follow_up(question: str) -> bool:
    """A message that cannot stand alone: short (<= 3 content words), anaphoric, or starting like 'and …'."""
    low = question.lower().strip()
    words = set(re.findall(r"[a-z']+", low))
    return (
        len(key_terms(question)) <= 3 or bool(words & _FOLLOW_UP_WORDS) or low.startswith(_FOLLOW_UP_STARTS)
    )


def condense_query(question: str, previous: Sequence[str] = ()) -> str:
    """A self-contained retrieval query for `question` given the earlier user questions (oldest first).

    Deterministic rule, applied turn by turn: a follow-up (see `is_follow_up`) is prefixed with the key
    terms (up to 8) of the previous turn's query that it does not already contain; any other message
    stands alone and starts a new topic.
    """
    query = ""
    for text in [*previous, question]:
        text = text.strip()
        if query and is_follow_up(text):
            have = {t.lower() for t in key_terms(text)}
            carried = [t for t in key_terms(query) if t.lower() not in have][:MAX_CARRIED_TERMS]
            text = " ".join([*carried, text]) if carried else text
        query = text
    return query


@dataclass(frozen=True)
class ChatSettings:
    """Per-request knobs (the app's settings panel, the API's request fields)."""

    k: int = 4
    temperature: float = 0.0
    max_new_tokens: int = 256
    hybrid: bool | None = None  # None: the index's own default
    top_p: float = 1.0
    seed: int | None = None  # set: sampling is reproducible (the request runs in a batch of its own)
    stop: tuple[str, ...] = ()  # the answer ends before the first of these strings


@dataclass(frozen=True)
class EngineLimits:
    """Input bounds; anything beyond them is refused with a clear message."""

    max_question_chars: int = 4000
    max_k: int = 20
    max_new_tokens: int = 2048
    max_temperature: float = 2.0
    max_stop: int = 4

    def check(self, settings: ChatSettings) -> None:
        """RaftError naming every setting outside these bounds."""
        problems = []
        if not 1 <= settings.k <= self.max_k:
            problems.append(f"k must be between 1 and {self.max_k} (got {settings.k})")
        if not 0.0 <= settings.temperature <= self.max_temperature:
            problems.append(
                f"temperature must be between 0 and {self.max_temperature} (got {settings.temperature})"
            )
        if not 1 <= settings.max_new_tokens <= self.max_new_tokens:
            problems.append(
                f"max new tokens must be between 1 and {self.max_new_tokens} (got {settings.max_new_tokens})"
            )
        if not 0.0 < settings.top_p <= 1.0:
            problems.append(f"top_p must be in (0, 1] (got {settings.top_p})")
        if len(settings.stop) > self.max_stop or any(not s for s in settings.stop):
            problems.append(f"stop takes up to {self.max_stop} non-empty strings")
        if problems:
            raise RaftError("; ".join(problems))


class MessageTooLong(RaftError):
    """The question is over the engine's length limit."""


@dataclass(frozen=True)
class Retrieval:
    """What one question retrieved and the exact messages the model will see."""

    question: str
    query: str
    hits: tuple[Any, ...]
    messages: list[dict[str, str]]
    overhead_s: float

    @property
    def chunk_ids(self) -> list[str]:
        return [h.chunk_id for h in self.hits]


@dataclass(frozen=True)
class Answer:
    """A (possibly partial) answer: raw model text, rendered Markdown and the citations found so far."""

    model: str
    raw: str
    markdown: str
    citations: tuple[Citation, ...] = ()
    done: bool = False
    seconds: float = 0.0
    answer: str | None = None
    finish_reason: str | None = None  # stop, length or cancelled (final answer only)
    prompt_tokens: int | None = None  # from the model's tokenizer, chat template included
    completion_tokens: int | None = None
    first_token_s: float | None = None

    def cited_sources(self) -> dict[int, list[str]]:
        """Source number (1-based) -> the quotes found in it."""
        found: dict[int, list[str]] = {}
        for c in self.citations:
            if c.source:
                found.setdefault(c.source, []).append(c.quote)
        return found


@dataclass
class ChatEngine:
    """Retrieval + prompt + streaming generation + citations; safe to call from many threads.

    `generators` maps the public model names (`rag` for the base model, `raft` for the tuned one) to
    Generators. Each Generator serialises or parallelises its own work; the engine holds no per-request
    state, and a document upload swaps the retriever atomically under a lock.
    """

    retriever: Retriever
    generators: dict[str, Generator]
    limits: EngineLimits = field(default_factory=EngineLimits)
    defaults: ChatSettings = field(default_factory=ChatSettings)  # what a request that sets nothing gets
    _upload_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def models(self) -> list[str]:
        return list(self.generators)

    def check_question(self, question: str) -> str:
        """The question stripped, or a RaftError saying why it cannot be answered."""
        text = (question or "").strip()
        if not text:
            raise RaftError("the message is empty; type a question")
        if len(text) > self.limits.max_question_chars:
            raise MessageTooLong(
                f"the message has {len(text):,} characters, the limit is {self.limits.max_question_chars:,}; "
                "ask a shorter question"
            )
        return text

    def check_settings(self, settings: ChatSettings) -> None:
        self.limits.check(settings)

    def generator(self, model: str) -> Any:
        if model not in self.generators:
            raise RaftError(f"unknown model {model!r}; choose one of: {', '.join(self.generators)}")
        return self.generators[model]

    def retrieve(
        self, question: str, previous: Sequence[str] = (), settings: ChatSettings | None = None
    ) -> Retrieval:
        """Validate, condense, retrieve and build the prompt, timing everything before generation."""
        settings = settings or ChatSettings()
        t0 = time.perf_counter()
        question = self.check_question(question)
        self.check_settings(settings)
        query = condense_query(question, [p for p in previous if p and p.strip()])
        hits = tuple(self.retriever.search(query, k=settings.k, hybrid=settings.hybrid))
        messages = build_messages(question, hits)
        return Retrieval(question, query, hits, messages, time.perf_counter() - t0)

    def stream(
        self,
        retrieval: Retrieval,
        model: str,
        settings: ChatSettings | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[Answer]:
        """Partial answers as tokens arrive (Markdown only grows), then a final one with `done=True`.

        Setting `cancel` (or closing this iterator) stops the generation within one decoding step.
        """
        settings = settings or ChatSettings()
        renderer = CitationRenderer([h.text for h in retrieval.hits])
        raw, t0 = "", time.perf_counter()
        tokens = open_tokens(self.generator(model), retrieval.messages, settings, cancel)
        try:
            for delta in tokens:
                raw += delta
                if renderer.feed(delta):
                    yield Answer(model, raw, renderer.rendered, tuple(renderer.citations))
        except GeneratorExit:  # the consumer stopped reading: stop the model too
            if hasattr(tokens, "cancel"):
                tokens.cancel()
            raise
        renderer.finish()
        usage = getattr(tokens, "usage", None)
        yield Answer(
            model,
            raw,
            renderer.rendered.strip(),
            tuple(renderer.citations),
            done=True,
            seconds=time.perf_counter() - t0,
            answer=extract_answer(raw),
            finish_reason=getattr(tokens, "finish_reason", "stop"),
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            first_token_s=getattr(tokens, "first_token_s", None),
        )

    def answer(self, retrieval: Retrieval, model: str, settings: ChatSettings | None = None) -> Answer:
        """The final answer, without the intermediate updates."""
        final = None
        for final in self.stream(retrieval, model, settings):  # noqa: B007
            pass
        assert final is not None
        return final

    def compare(
        self,
        retrieval: Retrieval,
        models: Sequence[str],
        settings: ChatSettings | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[dict[str, Answer]]:
        """Stream several models over the same retrieved chunks at once; yields the latest answer of each.

        Closing this iterator early (the client went away) cancels every model's generation.
        """
        for m in models:
            self.generator(m)
        cancel = cancel or threading.Event()
        updates: queue.Queue = queue.Queue()
        latest = {m: Answer(m, "", "") for m in models}

        def run(model: str) -> None:
            try:
                for ans in self.stream(retrieval, model, settings, cancel):
                    updates.put((model, ans))
            except Exception as exc:  # reported to the consumer, which re-raises
                updates.put((model, exc))
            updates.put((model, None))

        for m in models:
            threading.Thread(target=run, args=(m,), daemon=True).start()
        running = len(models)
        try:
            while running:
                model, item = updates.get()
                if item is None:
                    running -= 1
                    continue
                if isinstance(item, Exception):
                    raise item
                latest[model] = item
                yield dict(latest)
        finally:
            if running:  # stopped early: no one reads the other models any more
                cancel.set()

    def add_documents(self, files: Sequence[Path], names: Sequence[str] | None = None) -> list[str]:
        """Add uploaded files to the index (see `raft.index.upload`) and swap in the updated retriever."""
        from raft.index.upload import add_documents

        with self._upload_lock:
            added, self.retriever = add_documents(self.retriever, files, names=names)
        log.info("added %d document(s): %s", len(added), ", ".join(added))
        return added

    @property
    def has_bm25(self) -> bool:
        return getattr(self.retriever, "bm25", None) is not None


def open_tokens(gen: Any, messages: list[dict], settings: ChatSettings, cancel: threading.Event | None = None):
    """The generator's TokenStream for `messages` (a plain `stream` iterator for simple generators)."""
    from raft.serve.generators import DecodingConfig

    cfg = DecodingConfig(
        max_new_tokens=settings.max_new_tokens,
        temperature=settings.temperature,
        top_p=settings.top_p,
        seed=settings.seed if settings.seed is not None else DecodingConfig.seed,
    )
    if hasattr(gen, "open_stream"):
        return gen.open_stream(messages, cfg, stop=settings.stop, cancel=cancel, seeded=settings.seed is not None)
    if settings.stop:
        raise RaftError(f"model {getattr(gen, 'name', '?')} does not support stop strings")
    return gen.stream(messages, cfg)


def load_generators(
    model: str,
    adapter: str | Path | None = None,
    rag_model: str | None = None,
    device: str | None = None,
    trust_remote_code: bool = False,
    merge: bool = True,
    engine: str | None = None,
) -> dict[str, Any]:
    """The `rag` (base) and `raft` (tuned) generators for the CLI's --model/--adapter/--rag-model.

    `--model BASE --adapter MODEL_DIR` gives both; `--model MODEL_DIR` (from `raft train`) gives `raft`
    plus `rag` from its base model when that loads; `--model BASE` alone gives `rag`; an
    `openai:URL:MODEL` endpoint is the tuned model `raft`. `--rag-model` sets or overrides `rag`.
    """
    from functools import partial

    from raft.serve.generators import load_generator

    load_generator = partial(load_generator, trust_remote_code=trust_remote_code, engine=engine)
    gens: dict[str, Any] = {}
    if rag_model:
        gens["rag"] = load_generator(rag_model, device=device, name="rag")
    if adapter is not None:
        gens.setdefault("rag", load_generator(model, device=device, name="rag"))
        gens["raft"] = load_generator(model, adapter=adapter, device=device, name="raft", merge=merge)
    elif model.startswith("openai:"):
        gens["raft"] = load_generator(model, device=device, name="raft")
    elif _model_kind(Path(model)) == "model":
        gens["raft"] = load_generator(model, device=device, name="raft", merge=merge)
        base = json.loads((Path(model) / "manifest.json").read_text()).get("base_model")
        if "rag" not in gens and base:
            try:
                gens["rag"] = load_generator(str(base), device=device, name="rag")
            except RaftError as exc:
                log.warning("no base model to compare with (%s)", exc)
    else:
        gens.setdefault("rag", load_generator(model, device=device, name="rag"))
    return dict(sorted(gens.items()))


def _model_kind(path: Path) -> str | None:
    manifest = path / "manifest.json"
    if not manifest.is_file():
        return None
    try:
        return json.loads(manifest.read_text()).get("kind")
    except (OSError, json.JSONDecodeError):
        return None


def build_engine(
    index_dir: Path,
    model: str,
    adapter: str | Path | None = None,
    rag_model: str | None = None,
    device: str | None = None,
    trust_remote_code: bool = False,
    merge: bool = True,
    engine: str | None = None,
    backend: str | None = None,
    k: int | None = None,
) -> ChatEngine:
    """Load the index and the generators behind `raft chat` and `raft serve`; `k`: documents per request by default."""
    from raft.index.retriever import Retriever
    from raft.serve.generators import resolve_model

    defaults = ChatSettings() if k is None else ChatSettings(k=k)
    EngineLimits().check(defaults)

    for spec, spec_adapter in ((model, adapter), (rag_model, None)):  # wrong models fail before anything loads
        if spec and not spec.startswith("openai:"):
            resolve_model(spec, spec_adapter)
    retriever = Retriever.load(Path(index_dir), device=device, backend=backend)
    generators = load_generators(model, adapter, rag_model, device, trust_remote_code, merge, engine)
    return ChatEngine(retriever, generators, defaults=defaults)
