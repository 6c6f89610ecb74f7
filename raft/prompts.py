"""The one prompt contract: how a question and its documents become chat messages.

Dataset generation, training, evaluation, chat and serve all build prompts here, and every
artifact stores `PROMPT_VERSION`, so a model is never served with a prompt it was not trained on.
Change anything below and bump the version.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

PROMPT_VERSION = "raft-prompt-v1"

BEGIN_QUOTE = "##begin_quote##"
END_QUOTE = "##end_quote##"
ANSWER_TAG = "<ANSWER>:"
ABSTAIN_ANSWER = "The documents do not contain the answer."

SYSTEM_PROMPT = (
    "Answer the question using the documents. Reason step by step, quote the supporting text "
    f"verbatim between {BEGIN_QUOTE} and {END_QUOTE}, and finish with {ANSWER_TAG} and a short answer. "
    f"If no document answers it, finish with {ANSWER_TAG} {ABSTAIN_ANSWER}"
)

_QUOTE_RE = re.compile(re.escape(BEGIN_QUOTE) + r"(.*?)" + re.escape(END_QUOTE), re.DOTALL)


@dataclass(frozen=True)
class Document:
    """A document as shown to the model: a title and its text."""

    title: str
    text: str


def _as_document(doc: Any) -> Document:
    if isinstance(doc, Document):
        return doc
    if isinstance(doc, dict):
        return Document(title=str(doc.get("title") or ""), text=str(doc.get("text") or ""))
    return Document(title=str(getattr(doc, "title", "") or ""), text=str(getattr(doc, "text", "")))


def format_document(doc: Any, number: int) -> str:
    """One document block, numbered from 1 in context order."""
    d = _as_document(doc)
    return f"<DOCUMENT {number}: {d.title}>\n{d.text.strip()}\n</DOCUMENT>"


def build_user_prompt(question: str, docs: Sequence[Any]) -> str:
    """The user turn: the documents (if any) followed by the question."""
    blocks = [format_document(d, i + 1) for i, d in enumerate(docs)]
    blocks.append(f"Question: {question.strip()}")
    return "\n\n".join(blocks)


def build_messages(question: str, docs: Sequence[Any]) -> list[dict[str, str]]:
    """System + user messages for one question over `docs` (an empty list gives a closed-book prompt)."""
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": build_user_prompt(question, docs)},
    ]


def format_quote(text: str) -> str:
    return f"{BEGIN_QUOTE}{text}{END_QUOTE}"


def extract_quotes(text: str) -> list[str]:
    """The spans a model quoted between the quote markers, in order."""
    return [m.group(1).strip() for m in _QUOTE_RE.finditer(text or "")]


def extract_answer(text: str) -> str | None:
    """The text after the last `<ANSWER>:` tag, or None when the tag is missing."""
    if not text or ANSWER_TAG not in text:
        return None
    answer = text.rsplit(ANSWER_TAG, 1)[1]
    answer = answer.split("<|im_end|>")[0].split("</s>")[0]
    return answer.strip()


def is_abstention(answer: str | None) -> bool:
    """True when an extracted answer says the documents do not contain it."""
    if not answer:
        return False
    a = answer.lower()
    return "do not contain" in a or "does not contain" in a or "not in the documents" in a


def contract() -> dict[str, Any]:
    """Everything that defines the prompt, stored in dataset, model and report manifests."""
    return {
        "version": PROMPT_VERSION,
        "system_prompt": SYSTEM_PROMPT,
        "document_format": "<DOCUMENT {number}: {title}>\\n{text}\\n</DOCUMENT>",
        "begin_quote": BEGIN_QUOTE,
        "end_quote": END_QUOTE,
        "answer_tag": ANSWER_TAG,
        "abstain_answer": ABSTAIN_ANSWER,
    }
