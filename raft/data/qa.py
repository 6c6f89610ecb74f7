"""A question with what is known of its answer and oracle (`QAItem`), and the text tests on answers.

Readers live in raft.data.loaders (`read_qa`); matching questions to oracle chunks in raft.data.oracles.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

# Answers that label a question rather than appear in the text (PubMedQA, AWS yes/no): they never locate a chunk.
LABEL_ANSWERS = frozenset({"yes", "no", "maybe", "true", "false"})


@dataclass(frozen=True)
class QAItem:
    """One question with whatever is known about its answer and oracle; `line` locates it in the file."""

    id: str
    question: str
    answer: str | None
    doc_ids: tuple[str, ...]
    chunk_ids: tuple[str, ...]
    oracle_text: str | None
    split: str | None  # train / validation / test (raft.splits), None when the file gives none
    line: int
    group: str | None = None  # the record the oracle documents belong to (a PMID, a SQuAD article), if known


def is_locating(answer: str | None) -> bool:
    """True when the answer is text that can be searched for (not a yes/no/maybe label)."""
    return bool(answer and answer.strip()) and answer.strip().lower() not in LABEL_ANSWERS


def answer_matcher(answer: str | None) -> Callable[[str], bool] | None:
    """A test for lower-cased, whitespace-squashed text containing the answer (None for label answers).

    Answers under 4 characters ("5", "UK") must match as whole words; longer ones as substrings.
    """
    if not is_locating(answer):
        return None
    needle = _squash(answer or "")
    if len(needle) >= 4:
        return lambda text: needle in text
    pattern = re.compile(r"(?<!\w)" + re.escape(needle) + r"(?!\w)")
    return lambda text: pattern.search(text) is not None


def question_key(question: str) -> str:
    """A question's identity across files: a hash of its lower-cased words (ids differ between files)."""
    from raft.artifacts import fingerprint

    return fingerprint(" ".join(re.findall(r"\w+", question.lower())))


def contains(haystack: str, needle: str) -> bool:
    """Case- and whitespace-insensitive containment."""
    return _squash(needle) in _squash(haystack)


def _squash(text: str) -> str:
    return " ".join(text.lower().split())

