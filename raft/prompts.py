"""The one prompt contract: how a question and its documents become chat messages.

Dataset generation, training, evaluation, chat and serve all build prompts here, and every
artifact stores `PROMPT_VERSION`, so a model is never served with a prompt it was not trained on.
Change anything below and bump the version; `contract()["hash"]` covers every field, so a dataset or
model built with any other contract is refused even when the version string was not bumped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

PROMPT_VERSION = "raft-prompt-v2"

BEGIN_QUOTE = "##begin_quote##"
END_QUOTE = "##end_quote##"
ANSWER_TAG = "<ANSWER>:"
ABSTAIN_ANSWER = "The documents do not contain the answer."

SYSTEM_PROMPT = (
    "Answer the question using the documents. Reason step by step, quote the supporting text "
    f"verbatim between {BEGIN_QUOTE} and {END_QUOTE}, and finish with {ANSWER_TAG} and a short answer. "
    f"If no document answers it, finish with {ANSWER_TAG} {ABSTAIN_ANSWER}"
)

# Generation stops at any of these: a model that starts another document or question has finished its answer.
STOP_STRINGS = ("\n<DOCUMENT", "\nQuestion:")

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
    """True when an extracted answer is the contract's abstention (ignoring case, spaces and punctuation).

    Only the whole answer counts: "Bags do not contain lithium" is an answer, not an abstention.
    """
    return bool(answer) and _plain(answer) == _plain(ABSTAIN_ANSWER)


def _plain(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def lenient_answer(text: str | None) -> str | None:
    """The tagged answer when the tag is present, else the last non-empty line (None for empty output)."""
    tagged = extract_answer(text)
    if tagged is not None:
        return tagged
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1] if lines else None


def contract() -> dict[str, Any]:
    """Everything that defines the prompt, with a hash of it all; stored in dataset, model and report manifests."""
    from raft.artifacts import fingerprint

    body = {
        "version": PROMPT_VERSION,
        "system_prompt": SYSTEM_PROMPT,
        "document_format": "<DOCUMENT {number}: {title}>\\n{text}\\n</DOCUMENT>",
        "user_format": "{documents}\\n\\nQuestion: {question}",
        "begin_quote": BEGIN_QUOTE,
        "end_quote": END_QUOTE,
        "answer_tag": ANSWER_TAG,
        "abstain_answer": ABSTAIN_ANSWER,
        "stop": list(STOP_STRINGS),
    }
    return {**body, "hash": fingerprint(body)}


def check_contract(found: Any, what: str, fix: str) -> None:
    """RaftError unless `found` (a stored contract) is exactly this build's contract (compared by hash)."""
    from raft.artifacts import fingerprint
    from raft.errors import RaftError

    ours = contract()
    stored = found if isinstance(found, dict) else {}
    body = {k: v for k, v in stored.items() if k != "hash"}
    if fingerprint(body) == ours["hash"]:  # recomputed: an edited contract cannot keep its old hash
        return
    version = stored.get("version", "an unknown contract")
    detail = "" if version != ours["version"] else " (same version string, different content)"
    raise RaftError(f"{what} was built with prompt contract {version}{detail}, this raft uses {ours['version']}; {fix}")
