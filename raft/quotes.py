"""The one rule for "verbatim": a quote matches a text when the same characters occur in it, in the
same case, with any run of whitespace matching any other run of whitespace.

`raft generate` checks teacher quotes with it (a whitespace slip is repaired to the exact oracle span,
anything else drops the row), `raft eval` scores quote validity and citation precision with it, and
the chat app links and highlights citations with it, so a citation the app shows is one eval counts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from raft.prompts import BEGIN_QUOTE, END_QUOTE

_SPAN = re.compile(re.escape(BEGIN_QUOTE) + r"(.*?)" + re.escape(END_QUOTE), re.DOTALL)

EXACT, REPAIRED, INVALID, NO_QUOTE = "exact", "repaired", "invalid", "no_quote"


def _pattern(quote: str) -> re.Pattern[str] | None:
    words = quote.split()
    if not words:
        return None
    return re.compile(r"\s+".join(re.escape(w) for w in words))


def quote_span(quote: str, text: str) -> tuple[int, int] | None:
    """Where `quote` occurs verbatim in `text` (whitespace-tolerant, case-sensitive); None if it does not."""
    pattern = _pattern(quote)
    match = pattern.search(text or "") if pattern else None
    return (match.start(), match.end()) if match else None


def locate_quote(quote: str, texts: Sequence[str]) -> int | None:
    """The 1-based number of the first text that holds `quote` verbatim, or None."""
    for number, text in enumerate(texts, start=1):
        if quote_span(quote, text):
            return number
    return None


def find_span(quote: str, oracle: str) -> str | None:
    """The exact oracle text that `quote` matches (see the module rule), or None."""
    span = quote_span(quote, oracle)
    return oracle[span[0] : span[1]] if span else None


@dataclass(frozen=True)
class QuoteCheck:
    """The answer with repaired quotes (None when invalid) and a status: exact, repaired, invalid, no_quote."""

    text: str | None
    status: str
    quotes: int


def check_quotes(answer: str, oracles: str | Sequence[str]) -> QuoteCheck:
    """Verify (and repair) every quote in `answer`: each must be verbatim in one of the oracle texts."""
    texts = [oracles] if isinstance(oracles, str) else list(oracles)
    spans = list(_SPAN.finditer(answer))
    if not spans:
        return QuoteCheck(answer, NO_QUOTE, 0)
    status = EXACT
    pieces, last = [], 0
    for m in spans:
        quote = m.group(1).strip()
        fixed = next((f for f in (find_span(quote, t) for t in texts) if f is not None), None)
        if fixed is None:
            return QuoteCheck(None, INVALID, len(spans))
        if fixed != quote:
            status = REPAIRED
        pieces.append(answer[last : m.start()] + BEGIN_QUOTE + fixed + END_QUOTE)
        last = m.end()
    pieces.append(answer[last:])
    return QuoteCheck("".join(pieces), status, len(spans))
