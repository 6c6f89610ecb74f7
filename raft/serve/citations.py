"""Citations from the model's own verbatim quotes.

A RAFT model quotes its evidence between `##begin_quote##` and `##end_quote##` and ends with
`<ANSWER>: ...`. This module finds the retrieved chunk that contains each quote, renders the raw
output as clean Markdown (quotes become “…” [n] with n the source number, the answer tag becomes a
bold **Answer:** line, raw markers are never shown) and highlights the quoted passages in the
sources. The renderer is append-only, so a token stream can be shown as it arrives.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

from raft.prompts import ANSWER_TAG, BEGIN_QUOTE, END_QUOTE
from raft.quotes import locate_quote, quote_span

MARKERS = (BEGIN_QUOTE, END_QUOTE, ANSWER_TAG)
ANSWER_LABEL = "\n\n**Answer:** "
UNVERIFIED = " [not in sources]"
_SPECIAL_TOKENS = re.compile(r"<\|[a-z_]+\|>|</s>")


@dataclass(frozen=True)
class Citation:
    """One quote of the model and the source (1-based, in retrieval order) it was found in, if any."""

    quote: str
    source: int | None


def highlight_html(text: str, quotes: Sequence[str]) -> str:
    """`text` HTML-escaped, with every quoted passage it contains wrapped in <mark>."""
    spans = sorted(s for s in (quote_span(q, text) for q in quotes) if s)
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, pos = [], 0
    for start, end in merged:
        out += [html.escape(text[pos:start]), "<mark>", html.escape(text[start:end]), "</mark>"]
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _held_back(buffer: str) -> int:
    """Length of the longest tail of `buffer` that could be the start of a marker (kept until it resolves)."""
    for size in range(min(len(buffer), max(len(m) for m in MARKERS) - 1), 0, -1):
        tail = buffer[-size:]
        if any(m.startswith(tail) for m in MARKERS):
            return size
    return 0


class CitationRenderer:
    """Turns raw model output into Markdown with citations, incrementally and append-only.

    `feed(delta)` returns the newly renderable Markdown; `finish()` flushes the rest. `citations`
    lists every quote with the source it was found in.
    """

    def __init__(self, source_texts: Sequence[str]) -> None:
        self.source_texts = list(source_texts)
        self.citations: list[Citation] = []
        self.rendered = ""
        self._buffer = ""
        self._quote: list[str] | None = None
        self._answered = False
        self._strip_next = False

    def feed(self, delta: str) -> str:
        self._buffer += delta
        out: list[str] = []
        while True:
            hits = [(self._buffer.find(m), m) for m in MARKERS]
            hits = [(i, m) for i, m in hits if i >= 0]
            if not hits:
                break
            index, marker = min(hits)
            out.append(self._text(self._buffer[:index]))
            out.append(self._marker(marker))
            self._buffer = self._buffer[index + len(marker) :]
        keep = _held_back(self._buffer)
        out.append(self._text(self._buffer[: len(self._buffer) - keep]))
        self._buffer = self._buffer[len(self._buffer) - keep :]
        return self._emit("".join(out))

    def finish(self) -> str:
        """Close an open quote; a cut-off marker left at the end (output truncated) is dropped."""
        out = []
        self._buffer = ""
        if self._quote is not None:
            out.append(self._marker(END_QUOTE))
        return self._emit("".join(out))

    def _emit(self, text: str) -> str:
        self.rendered += text
        return text

    def _text(self, text: str) -> str:
        text = _SPECIAL_TOKENS.sub("", text)
        if self._strip_next:
            text = text.lstrip()
            self._strip_next = not text
        if self._quote is not None:
            if not self._quote:
                text = text.lstrip()
            self._quote.append(text)
        return text

    def _marker(self, marker: str) -> str:
        if marker == BEGIN_QUOTE:
            if self._quote is not None:
                return ""
            self._quote = []
            return "“"
        if marker == END_QUOTE:
            if self._quote is None:
                return ""
            quote = "".join(self._quote).strip()
            self._quote = None
            if not quote:
                return "”"
            source = locate_quote(quote, self.source_texts)
            self.citations.append(Citation(quote, source))
            return "” " + (f"[{source}]" if source else UNVERIFIED.strip())
        closing = self._marker(END_QUOTE) if self._quote is not None else ""
        if self._answered:
            return closing
        self._answered = self._strip_next = True
        return closing + ANSWER_LABEL


def render_answer(raw: str, source_texts: Sequence[str]) -> tuple[str, list[Citation]]:
    """The whole raw output rendered at once: (Markdown, citations)."""
    renderer = CitationRenderer(source_texts)
    renderer.feed(raw)
    renderer.finish()
    return renderer.rendered.strip(), renderer.citations
