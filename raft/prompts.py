"""The one prompt contract: how a question and its documents become chat messages.

Dataset generation, training, evaluation, chat and serve all build prompts here, and every
artifact stores `PROMPT_VERSION`, so a model is never served with a prompt it was not trained on.
Change anything below and bump the version; `contract()["hash"]` covers every field, so a dataset or
model built with any other contract is refused even when the version string was not bumped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from raft.documents import Document

PROMPT_VERSION = "raft-prompt-v3"

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
    """The user turn: the question, the documents (if any), and the question again."""
    q = f"Question: {question.strip()}"
    blocks = [q] if docs else []
    blocks += [format_document(d, i + 1) for i, d in enumerate(docs)]
    blocks.append(q)
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
        "user_format": "Question: {question}\\n\\n{documents}\\n\\nQuestion: {question}",
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
    body = {k: v for k, v in stored.items() if k not in ("hash", "chat_adaptation")}  # adaptation is per model
    if fingerprint(body) == ours["hash"]:  # recomputed: an edited contract cannot keep its old hash
        return
    version = stored.get("version", "an unknown contract")
    detail = "" if version != ours["version"] else " (same version string, different content)"
    raise RaftError(f"{what} was built with prompt contract {version}{detail}, this raft uses {ours['version']}; {fix}")


# ---- chat-template adaptation ----------------------------------------------------------------------
# The contract's messages are [system, user(, assistant)]. Some published chat templates cannot take
# them as they are, so the prompt is adapted, in this one place, for the template of the model at hand:
#
# - "system-in-first-user": Gemma 2 raises "System role not supported", Mistral v0.1/v0.2 raise on
#   anything but strict user/assistant alternation, and a few templates drop a system message without a
#   word. For those the system prompt moves to the top of the first user turn, separated by a blank line
#   (what Gemma 3's own template does).
# - "non-thinking": templates with a thinking switch (Qwen3's `enable_thinking`) are rendered with it
#   off, so the prompt ends with the template's empty think block and the model learns and produces
#   only the answer (RAFT answers carry their reasoning in the text).
#
# The adaptation is found by rendering a probe conversation with the tokenizer's template, is recorded
# in the model's saved contract (`chat_adaptation`, parts joined by "+"), and is applied identically by
# training, eval, chat, serve and export. A template that cannot render a plain user/assistant exchange
# either is an error, never a silent fallback.

SYSTEM_IN_FIRST_USER = "system-in-first-user"
NON_THINKING = "non-thinking"
_PROBE = ("RAFT-PROBE-SYSTEM", "RAFT-PROBE-USER", "RAFT-PROBE-ANSWER")


def chat_adaptation(tokenizer: Any) -> str | None:
    """None when the tokenizer's chat template takes the contract's messages as they are, else the
    adaptation `adapt_messages` / `template_kwargs` apply (see the block comment above)."""
    from jinja2 import TemplateError

    system, user, answer = _PROBE
    plain = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    parts = []
    try:
        if system not in _render_probe(tokenizer, plain, answer, {}):
            parts.append(SYSTEM_IN_FIRST_USER)
    except TemplateError:
        parts.append(SYSTEM_IN_FIRST_USER)
    messages = adapt_messages(plain, "+".join(parts) or None)
    try:
        default = _render_probe(tokenizer, messages, answer, {})
    except TemplateError as exc:
        from raft.errors import RaftError

        raise RaftError(
            f"the chat template of this model cannot render a user/assistant exchange ({exc}); "
            "use a model whose template does, or fix its chat_template"
        ) from None
    if _render_probe(tokenizer, messages, answer, {"enable_thinking": False}) != default:
        parts.append(NON_THINKING)
    return "+".join(parts) or None


def _render_probe(tokenizer: Any, messages: list[dict[str, str]], answer: str, kwargs: dict[str, Any]) -> str:
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **kwargs)
    full = messages + [{"role": "assistant", "content": answer}]
    return str(prompt) + str(tokenizer.apply_chat_template(full, tokenize=False, **kwargs))


def _parts(adaptation: str | None) -> set[str]:
    parts = set(adaptation.split("+")) if adaptation else set()
    unknown = parts - {SYSTEM_IN_FIRST_USER, NON_THINKING}
    if unknown:
        raise ValueError(f"unknown chat adaptation {', '.join(sorted(unknown))}")
    return parts


def adapt_messages(messages: list[dict[str, str]], adaptation: str | None) -> list[dict[str, str]]:
    """`messages` mapped for a chat template that needs `adaptation` (None: unchanged)."""
    if SYSTEM_IN_FIRST_USER not in _parts(adaptation):
        return [dict(m) for m in messages]
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if system and rest and rest[0]["role"] == "user":
        rest[0]["content"] = f"{system}\n\n{rest[0]['content']}"
    elif system:
        rest.insert(0, {"role": "user", "content": system})
    return rest


def template_kwargs(adaptation: str | None) -> dict[str, Any]:
    """Extra variables for `apply_chat_template` under `adaptation` (the thinking switch)."""
    return {"enable_thinking": False} if NON_THINKING in _parts(adaptation) else {}


def render_prompt(tokenizer: Any, messages: list[dict], adaptation: str | None) -> str:
    """The text a local model reads for `messages`: adapted to its chat template, generation prompt added."""
    return tokenizer.apply_chat_template(
        adapt_messages(messages, adaptation), add_generation_prompt=True, tokenize=False,
        **template_kwargs(adaptation),
    )


def contract_with_adaptation(contract_record: dict[str, Any], adaptation: str | None) -> dict[str, Any]:
    """The saved contract of a model: the dataset's contract plus the chat adaptation, when one applies."""
    if adaptation is None:
        return dict(contract_record)
    return dict(contract_record) | {"chat_adaptation": adaptation}
