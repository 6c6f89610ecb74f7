"""A generic reading stage for the offline base model: self-supervised questions about the corpus text.

A real instruct model can already read: given documents and a question, it finds the sentence that
answers and copies from it. The offline tiny model learns that skill here, before it sees any gold
question. Every task is made from the corpus text alone:

- `cloze`: a sentence with a span blanked ("Fill in the blank: ... ____ ..."), answer = the span;
- `keywords`: a terse question from some of the sentence's words, in order ("How long verification
  link expires?"), answer = the span (the analogue of a paraphrased question);
- `which-doc`: "Which document says: <sentence>?", answer = the document's title.

Spans are numbers with units, codes, counts, capitalised names, menu paths and clause endings. The
oracle chunk is always in the context, with 0..K distractor chunks that share words with the question
(more of them as training goes on). The answer uses the RAFT chain-of-thought format of
`raft.data.teacher.compose_answer`, so the base model knows the prompt contract before any fine-tuning.
Documents listed in `exclude` (for the demo: every test document) never reach a task.
"""

from __future__ import annotations

import logging
import math
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raft import prompts
from raft.data.teacher import sentences

log = logging.getLogger(__name__)

KINDS = ("cloze", "keywords", "which-doc")
BLANK = "____"
_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"[\w'’-]+")
STOPWORDS = frozenset(
    "a an the and or but if of to in on at by for with from into onto over under about as is are was were be "
    "been being it its this that these those there their they them you your we our he she his her not no do "
    "does did can could will would should may might must has have had than then so such also only up out off "
    "when while which who what where how after before until once each every any all some more most".split()
)
NUMBER_WORDS = (
    "one two three four five six seven eight nine ten eleven twelve fifteen twenty thirty forty fifty "
    "hundred"
).split()
_UNIT_TIME = re.compile(r"\b(seconds?|minutes?|hours?|days?|weeks?|months?|years?)\b", re.IGNORECASE)
# Typed spans: money / numbers with an optional unit word, codes, number words, menu paths, names.
_SPANS = [
    re.compile(r"[$€£]?\d+(?:[.,:]\d+)*(?:\s?%|\s?°\s?[CF])?(?:\s(?!(?:" + "|".join(STOPWORDS) + r")\b)[a-zA-Z]+)?"),
    re.compile(r"\b[A-Z]{1,3}-?\d{2,5}[A-Z]?\b"),
    re.compile(r"\b(?:" + "|".join(NUMBER_WORDS) + r")\b(?:\s[a-z]+)?"),
    re.compile(r"\b[A-Z][\w-]*(?:\s[A-Z][\w-]*)*(?:\s>\s[A-Z][\w -]*?)+(?=[.,;]|\s(?:and|or|to|in)\b|$)"),
    re.compile(r"\b[A-Z][a-z]+(?:\s(?:[A-Z][\w-]*|\d+[A-Z]*))+"),
]
_CLAUSE_END = re.compile(r"(?:\b(?:a|an|the)\s)?(?:[\w°%$-]+\s){0,2}[\w°%$-]+(?=[,;.!?]|$)")


@dataclass(frozen=True)
class ReadingConfig:
    """The reading stage: how many tasks, their mix, and the optimiser (0 steps: no reading stage)."""

    steps: int = 0
    batch_size: int = 8
    lr: float = 2e-3
    max_distractors: int = 3
    chunk_size: int = 128
    overlap: int = 24
    answer_only_loss: bool = True
    kinds: tuple[str, ...] = KINDS
    weights: tuple[float, ...] = (0.45, 0.4, 0.15)
    seed: int = 0
    bf16: bool = False  # bf16 autocast for the matmuls (weights and optimiser stay fp32)


@dataclass(frozen=True)
class Passage:
    """A chunk of one document, as a RAFT context shows it."""

    doc_id: str
    title: str
    text: str


@dataclass(frozen=True)
class ReadingTask:
    """One synthetic question with its context; `answer` is verbatim in `sentence`, which is in the oracle."""

    kind: str
    question: str
    docs: tuple[Passage, ...]
    oracle_index: int
    sentence: str
    answer: str
    cot_answer: str

    def messages(self) -> list[dict[str, str]]:
        docs = [prompts.Document(d.title, d.text) for d in self.docs]
        return [*prompts.build_messages(self.question, docs), {"role": "assistant", "content": self.cot_answer}]


def cot_answer(title: str, sentence: str, answer: str) -> str:
    """The RAFT chain-of-thought answer, exactly as `raft.data.teacher.compose_answer` writes it."""
    where = f'The document "{title}"' if title else "The document"
    reason = f"It states the answer directly, so the answer is {answer.rstrip('.')}."
    return f"{where} says: {prompts.format_quote(sentence)} {reason}\n{prompts.ANSWER_TAG} {answer}"


def _norm_id(value: str) -> str:
    value = value.strip().replace("\\", "/").removeprefix("./")
    return re.sub(r"\.(md|markdown|txt|html?|pdf|json|jsonl|csv)$", "", value, flags=re.IGNORECASE)


def is_excluded(doc: Any, exclude: Iterable[str]) -> bool:
    """True when the document's id or source path (with or without its suffix) is listed."""
    names = {_norm_id(x) for x in exclude}
    return _norm_id(doc.doc_id) in names or _norm_id(doc.source) in names


def token_spans(text: str) -> list[tuple[int, int]]:
    """Word/punctuation spans: an approximate token count for chunking without an embedder."""
    return [m.span() for m in _TOKEN.finditer(text)]


def passages(documents: Sequence[Any], chunk_size: int = 128, overlap: int = 24) -> list[Passage]:
    """Chunk documents the way `raft index` does (same chunker, word-level token counts)."""
    from raft.index.chunking import Chunker

    chunker = Chunker(token_spans, chunk_size, overlap)
    return [Passage(c.doc_id, c.title, c.text) for d in documents for c in chunker.split(d)]


def answer_spans(sentence: str) -> list[str]:
    """Candidate answer spans of a sentence (verbatim substrings): typed spans, else clause endings."""
    return _spans(sentence, _SPANS) or _spans(sentence, [_CLAUSE_END])


def _spans(sentence: str, patterns: Sequence[re.Pattern[str]]) -> list[str]:
    found: list[str] = []
    for pattern in patterns:
        for m in pattern.finditer(sentence):
            span = m.group(0).strip(" ,;.")
            words = _WORD.findall(span.lower())
            if span and span != sentence.strip(" .") and any(w not in STOPWORDS for w in words):
                found.append(span)
    return list(dict.fromkeys(found))


def _content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text) if w.lower() not in STOPWORDS and len(w) > 1]


def _wh(answer: str) -> str:
    if re.search(r"[$€£%]", answer):
        return "How much"
    if _UNIT_TIME.search(answer) and re.search(r"\d|" + "|".join(NUMBER_WORDS), answer):
        return "How long"
    if re.fullmatch(r"\d+|" + "|".join(NUMBER_WORDS), answer.split()[0]) and len(answer.split()) > 1:
        return "How many"
    if re.fullmatch(r"[A-Z]{1,3}-?\d{2,5}[A-Z]?", answer):
        return "Which code"
    return "What"


def _question(kind: str, sentence: str, answer: str, rng: random.Random) -> str:
    if kind == "which-doc":
        return f'Which document says: "{sentence}"'
    i = sentence.index(answer)
    before, after = sentence[:i], sentence[i + len(answer) :]
    if kind == "cloze":
        return f"Fill in the blank: {before}{BLANK}{after}"
    words = _content_words(before + " " + after)
    keep = [w for w in words if rng.random() < 0.7]
    if len(keep) < 3:
        keep = words[:4]
    return f"{_wh(answer)} {' '.join(keep)}?"


class TaskMaker:
    """Makes reading tasks from passages with a seeded random generator."""

    def __init__(self, pool: Sequence[Passage], cfg: ReadingConfig) -> None:
        if len(pool) < 2:
            raise ValueError("the reading stage needs at least two passages")
        self.pool = list(pool)
        self.cfg = cfg
        self.words = [{w.lower() for w in _content_words(p.text)} for p in self.pool]
        self.items = [
            (i, s)
            for i, p in enumerate(self.pool)
            for s in sentences(p.text)
            if not s.startswith("#") and len(s.split()) >= 5
        ]
        if not self.items:
            raise ValueError("the corpus has no sentences to make reading tasks from")

    def task(self, rng: random.Random, n_distractors: int) -> ReadingTask | None:
        """One task, or None when the drawn sentence has no usable span."""
        idx, sentence = self.items[rng.randrange(len(self.items))]
        oracle = self.pool[idx]
        kind = rng.choices(self.cfg.kinds, weights=self.cfg.weights[: len(self.cfg.kinds)])[0]
        if kind == "which-doc":
            answer = oracle.title
            if not answer or sum(p.title == answer for p in self.pool) == len(self.pool):
                return None
        else:
            spans = [s for s in answer_spans(sentence) if oracle.text.count(s) == 1]
            if not spans:
                return None
            answer = rng.choice(spans)
        if sentences(oracle.text).count(sentence) != 1:
            return None
        question = _question(kind, sentence, answer, rng)
        others = self._distractors(idx, question, sentence, answer, kind, n_distractors, rng)
        docs = [oracle, *others]
        rng.shuffle(docs)
        return ReadingTask(
            kind, question, tuple(docs), docs.index(oracle), sentence, answer, cot_answer(oracle.title, sentence, answer)
        )

    def _distractors(
        self, idx: int, question: str, sentence: str, answer: str, kind: str, n: int, rng: random.Random
    ) -> list[Passage]:
        """Passages sharing the most words with the question (a random pick among the top ones)."""
        if n <= 0:
            return []
        q = {w.lower() for w in _content_words(question)}
        title = self.pool[idx].title
        ranked = sorted(
            (j for j in range(len(self.pool)) if j != idx),
            key=lambda j: (-len(q & self.words[j]), rng.random()),
        )
        ok = [
            j
            for j in ranked
            if sentence not in self.pool[j].text and (kind != "which-doc" or self.pool[j].title != title)
        ]
        top = ok[: max(3 * n, 8)]
        return [self.pool[j] for j in rng.sample(top, min(n, len(top)))]

    def tasks(self, n: int, seed: int) -> list[ReadingTask]:
        """`n` tasks; distractors ramp from 0 to `max_distractors` over the first half (a curriculum)."""
        rng = random.Random(f"{seed}:reading")
        out: list[ReadingTask] = []
        tries = 0
        while len(out) < n and tries < 20 * n + 100:
            tries += 1
            ramp = min(1.0, 2 * len(out) / max(1, n))
            k = rng.randint(0, math.ceil(self.cfg.max_distractors * ramp))
            t = self.task(rng, k)
            if t is not None:
                out.append(t)
        if len(out) < n:
            raise ValueError(f"made only {len(out)} of {n} reading tasks from this corpus")
        return out


def reading_documents(corpus: Path, exclude: Iterable[str]) -> list[Any]:
    """The corpus documents minus the excluded ones (by doc id or source path)."""
    from raft.index.corpus import Corpus

    names = list(exclude)
    return [d for d in Corpus(Path(corpus)) if d.text.strip() and not is_excluded(d, names)]
