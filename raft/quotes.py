"""Quote checking: every `##begin_quote##...##end_quote##` span must be verbatim oracle text.

A quote that matches exactly is kept; one that differs from the oracle only in whitespace is
replaced by the exact oracle span ("repaired"); anything else makes the answer invalid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from raft.prompts import BEGIN_QUOTE, END_QUOTE

_SPAN = re.compile(re.escape(BEGIN_QUOTE) + r"(.*?)" + re.escape(END_QUOTE), re.DOTALL)

EXACT, REPAIRED, INVALID, NO_QUOTE = "exact", "repaired", "invalid", "no_quote"


@dataclass(frozen=True)
class QuoteCheck:
    """The answer with repaired quotes (None when invalid) and a status: exact, repaired, invalid, no_quote."""

    text: str | None
    status: str
    quotes: int


def find_span(quote: str, oracle: str) -> str | None:
    """The exact oracle text equal to `quote` up to whitespace, or None."""
    words = quote.split()
    if not words:
        return None
    pattern = r"\s+".join(re.escape(w) for w in words)
    m = re.search(pattern, oracle)
    return m.group(0) if m else None


def check_quotes(answer: str, oracle: str) -> QuoteCheck:
    """Verify (and repair) every quote in `answer` against `oracle`."""
    spans = list(_SPAN.finditer(answer))
    if not spans:
        return QuoteCheck(answer, NO_QUOTE, 0)
    status = EXACT
    pieces, last = [], 0
    for m in spans:
        quote = m.group(1).strip()
        if quote and quote in oracle:
            fixed = quote
        else:
            fixed = find_span(quote, oracle)
            if fixed is None:
                return QuoteCheck(None, INVALID, len(spans))
            status = REPAIRED
        pieces.append(answer[last : m.start()] + BEGIN_QUOTE + fixed + END_QUOTE)
        last = m.end()
    pieces.append(answer[last:])
    return QuoteCheck("".join(pieces), status, len(spans))
