"""Teachers write the chain-of-thought answers (and, without a QA file, the questions) of RAFT rows.

- `DeterministicTeacher`: no model; composes the answer from the gold answer and the oracle sentence
  that contains it, in exactly the format an LLM teacher is asked for.
- `OpenAITeacher`: any OpenAI-compatible chat-completions endpoint (vLLM, SGLang, Ollama, a hosted API,
  `raft serve`), with bounded concurrency; retries with backoff live in `raft.serve.generators`.
- `LocalTeacher`: a transformers model id or path, batched generation.

A failed or malformed teacher reply is counted and skipped, never fatal (unless every call fails).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from raft.data.qa import contains, is_locating
from raft.errors import RaftError
from raft.prompts import ANSWER_TAG, BEGIN_QUOTE, END_QUOTE, format_quote

if TYPE_CHECKING:
    from raft.serve.decoding import Generator

log = logging.getLogger(__name__)

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[A-Z0-9])|\n+")
_NUMBERING = re.compile(r"^\s*(?:\d+\s*[.):-]|[-*\u2022]|q\d*\s*[:.)])\s*", re.IGNORECASE)
_WORD = re.compile(r"\w+")

# The version of `compose_answer`'s output. Raise it whenever that output changes: it is part of a dataset's
# settings fingerprint, so a resumed `raft generate` or `raft demo` rebuilds rows written in an older format.
ANSWER_FORMAT = 2


@dataclass(frozen=True)
class AnswerRequest:
    """What a teacher sees to answer one question: the oracle document and, when known, the gold answer."""

    question: str
    title: str
    oracle: str
    answer: str | None = None


class Teacher(Protocol):
    name: str
    stats: dict[str, int]

    def answers(self, requests: Sequence[AnswerRequest]) -> list[str | None]: ...

    def questions(self, chunks: Sequence[Any], n: int) -> list[list[str]]: ...


# ---- deterministic ------------------------------------------------------------------------


def sentences(text: str) -> list[str]:
    """Split text into sentences (and lines); each piece is verbatim text of `text`."""
    return [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]


def evidence_sentence(oracle: str, answer: str | None, question: str) -> str:
    """The oracle sentence containing the answer, else the one sharing most words with the question."""
    parts = sentences(oracle) or [oracle.strip()]
    if is_locating(answer):
        for s in parts:
            if contains(s, answer or ""):
                return s
    q = {w.lower() for w in _WORD.findall(question) if len(w) > 3}
    scores = [len(q & {w.lower() for w in _WORD.findall(s)}) for s in parts]
    return parts[scores.index(max(scores))]


def compose_answer(question: str, title: str, oracle: str, answer: str) -> str:
    """A short CoT answer: the supporting sentence quoted verbatim, then the answer tag.

    A yes/no/maybe answer, which the quote does not contain, gets one line saying which way the quote points.
    An answer the quote contains is not restated before the tag: the repeat cost tokens and cut long answers
    at the token limit.
    """
    sentence = evidence_sentence(oracle, answer, question)
    where = f'The document "{title}"' if title else "The document"
    if is_locating(answer):
        return f"{where} says: {format_quote(sentence)}\n{ANSWER_TAG} {answer}"
    reason = f"This supports answering {answer.rstrip('.')}."
    return f"{where} says: {format_quote(sentence)} {reason}\n{ANSWER_TAG} {answer}"


class DeterministicTeacher:
    """Composes answers from gold answers; writes no questions."""

    name = "deterministic"
    answer_format = ANSWER_FORMAT

    def __init__(self) -> None:
        self.stats = {"calls": 0, "failed": 0, "malformed": 0}

    def answers(self, requests: Sequence[AnswerRequest]) -> list[str | None]:
        out: list[str | None] = []
        for r in requests:
            self.stats["calls"] += 1
            out.append(compose_answer(r.question, r.title, r.oracle, r.answer) if r.answer else None)
        return out

    def questions(self, chunks: Sequence[Any], n: int) -> list[list[str]]:
        raise RaftError(
            "writing questions needs an LLM teacher; pass --teacher MODEL, or --qa FILE with questions"
        )


# ---- LLM teachers --------------------------------------------------------------------------

TEACHER_SYSTEM = "You write precise training data for a question-answering model. Follow the format exactly."


def answer_messages(r: AnswerRequest) -> list[dict[str, str]]:
    """The teacher prompt for one CoT answer (the gold answer, when known, is given as in the RAFT paper)."""
    gold = f"\nCorrect answer: {r.answer}" if r.answer else ""
    use = " (the correct answer above)" if r.answer else ""
    user = (
        f'Document "{r.title}":\n{r.oracle.strip()}\n\nQuestion: {r.question.strip()}{gold}\n\n'
        "Answer the question from the document. Reason in one to three sentences, copying every sentence "
        f"you rely on verbatim between {BEGIN_QUOTE} and {END_QUOTE}. End with a last line "
        f'"{ANSWER_TAG} " followed by the short answer{use}.'
    )
    return [{"role": "system", "content": TEACHER_SYSTEM}, {"role": "user", "content": user}]


def question_messages(title: str, text: str, n: int) -> list[dict[str, str]]:
    """The teacher prompt for `n` questions about one chunk."""
    user = (
        f'Document "{title}":\n{text.strip()}\n\nWrite {n} different questions that this document answers, '
        "each answerable from the document alone, as a user of this documentation would ask them. "
        "Write one question per line, with no numbering and nothing else."
    )
    return [{"role": "system", "content": TEACHER_SYSTEM}, {"role": "user", "content": user}]


def parse_answer(text: str | None) -> str | None:
    """The reply if it has at least one quote and an answer tag with text after it, else None."""
    if not text or BEGIN_QUOTE not in text or END_QUOTE not in text or ANSWER_TAG not in text:
        return None
    if not text.rsplit(ANSWER_TAG, 1)[1].strip():
        return None
    return text.strip()


def parse_questions(text: str | None, n: int) -> list[str]:
    """Up to `n` distinct questions, one per line, numbering removed."""
    out: list[str] = []
    for line in (text or "").splitlines():
        q = _NUMBERING.sub("", line).strip().strip('"')
        if len(q) >= 8 and q.endswith("?") and q not in out:
            out.append(q)
    return out[:n]


class ChatTeacher:
    """An LLM teacher over a `raft.serve.decoding.Generator` (local weights or an HTTP endpoint)."""

    def __init__(
        self, generator: Generator, concurrency: int = 1, batch_size: int = 8, max_new_tokens: int = 512
    ) -> None:
        from raft.serve.generators import DecodingConfig

        self.generator = generator
        self.name = getattr(generator, "name", "teacher")
        self.concurrency, self.batch_size = concurrency, batch_size
        self.decoding = DecodingConfig(max_new_tokens=max_new_tokens, temperature=0.0)
        self.stats = {"calls": 0, "failed": 0, "malformed": 0}
        self.last_error = ""

    def answers(self, requests: Sequence[AnswerRequest]) -> list[str | None]:
        replies = self._complete([answer_messages(r) for r in requests])
        parsed = [parse_answer(t) for t in replies]
        self.stats["malformed"] += sum(
            1 for t, p in zip(replies, parsed, strict=True) if t is not None and p is None
        )
        return parsed

    def questions(self, chunks: Sequence[Any], n: int) -> list[list[str]]:
        replies = self._complete([question_messages(c.title, c.text, n) for c in chunks])
        parsed = [parse_questions(t, n) for t in replies]
        self.stats["malformed"] += sum(
            1 for t, p in zip(replies, parsed, strict=True) if t is not None and not p
        )
        return parsed

    def _complete(self, conversations: list[list[dict[str, str]]]) -> list[str | None]:
        """Reply texts in input order; None where a call failed after its retries."""
        if not conversations:
            return []
        if self.concurrency <= 1:
            texts: list[str | None] = [
                c.text for c in self.generator.generate(conversations, self.decoding, self.batch_size)
            ]
        else:
            with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                texts = list(pool.map(self._one, conversations))
        self.stats["calls"] += len(texts)
        self.stats["failed"] += sum(t is None for t in texts)
        if self.stats["failed"] == self.stats["calls"] >= min(8, len(texts)):
            raise RaftError(
                f"every teacher call failed (last error: {self.last_error}); check --teacher/--teacher-url"
            )
        return texts

    def _one(self, conversation: list[dict[str, str]]) -> str | None:
        try:
            return self.generator.generate([conversation], self.decoding, 1)[0].text
        except (RaftError, ValueError, KeyError, IndexError, TypeError, OSError) as exc:
            self.last_error = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            log.debug("teacher call failed: %s", self.last_error)
            return None


class OpenAITeacher(ChatTeacher):
    """A teacher behind an OpenAI-compatible chat-completions endpoint; key from `api_key_env`."""

    def __init__(
        self,
        url: str,
        model: str,
        api_key_env: str | None = None,
        concurrency: int = 8,
        max_new_tokens: int = 512,
        retries: int = 4,
        timeout: float = 120.0,
    ) -> None:
        from raft.serve.openai_client import OpenAIGenerator

        key = os.environ.get(api_key_env) if api_key_env else None
        gen = OpenAIGenerator(
            url, model, api_key=key, concurrency=concurrency, retries=retries, timeout=timeout
        )
        super().__init__(gen, concurrency=max(2, concurrency), max_new_tokens=max_new_tokens)


class LocalTeacher(ChatTeacher):
    """A teacher from local transformers weights (an HF id or a directory), batched."""

    def __init__(
        self, model: str, device: str | None = None, batch_size: int = 8, max_new_tokens: int = 512
    ) -> None:
        from raft.serve.generators import load_generator

        super().__init__(
            load_generator(model, device=device), batch_size=batch_size, max_new_tokens=max_new_tokens
        )
