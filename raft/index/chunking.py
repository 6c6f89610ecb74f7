"""Token-aware chunking that prefers section, paragraph and sentence boundaries.

A document is cut into units (heading lines, sentences, lines of lists / tables / code) with
character offsets; units are packed greedily into chunks of at most `chunk_size` tokens of the
embedder's own tokenizer. A chunk closes early at a new section (unless it is still tiny), and
when it overflows it is cut at the last paragraph break if that keeps it at least half full. The
next chunk repeats up to `overlap` tokens of whole trailing units. A single unit longer than
`chunk_size` is cut into token windows that overlap by `overlap` tokens.

Every chunk keeps its document id, title, heading path (`Setup > Wi-Fi`), source path and the
character offsets of its text in the document; `text == document.text[start:end]`. Chunk ids hash
the document id, the offsets and the text, so they are stable across runs and machines.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from raft.errors import RaftError
from raft.index.corpus import Document

TokenSpans = Callable[[str], Sequence[tuple[int, int]]]

SECTION, PARAGRAPH, SENTENCE, WINDOW = 3, 2, 1, 0
HEADING_RE = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
SENTENCE_END_RE = re.compile(r"(?<=[.!?])[\"')\]]*[ \t]+")
FENCE_RE = re.compile(r"^[ \t]*(```|~~~)")


@dataclass(frozen=True)
class Chunk:
    """A retrievable piece of a document; `start`/`end` are character offsets into the document text."""

    chunk_id: str
    doc_id: str
    title: str
    heading: str
    source: str
    start: int
    end: int
    text: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Unit:
    start: int
    end: int
    level: int
    heading: str
    tokens: int = 0


def _main_heading(group: list[Unit]) -> str:
    """The heading path that holds most of a chunk's tokens (a tiny section can share a chunk)."""
    weight: dict[str, int] = {}
    for u in group:
        weight[u.heading] = weight.get(u.heading, 0) + u.tokens
    return max(weight, key=lambda h: (weight[h], h))


def chunk_id(doc_id: str, start: int, end: int, text: str) -> str:
    """Stable id of a chunk: a hash of where it comes from and what it says."""
    blob = f"{doc_id}\x00{start}\x00{end}\x00{text}".encode()
    return hashlib.sha1(blob).hexdigest()[:16]


def embedding_text(chunk: Chunk) -> str:
    """The text that gets embedded (and BM25-indexed): title and heading path, then the chunk text.

    The prefix lets a chunk that never names its product or topic still match questions about it.
    """
    first_line = chunk.text.lstrip("# ").split("\n", 1)[0]
    parts = [chunk.title] if chunk.title and chunk.title != first_line else []
    leaf = chunk.heading.rsplit(" > ", 1)[-1]
    if chunk.heading and leaf != first_line:
        parts.append(chunk.heading)
    parts.append(chunk.text)
    return "\n".join(parts)


def split_units(text: str) -> list[Unit]:
    """Units of a document with offsets, boundary strength and the heading path in force."""
    units: list[Unit] = []
    stack: list[tuple[int, str]] = []
    level, in_code, pos = SECTION, False, 0
    for line in text.splitlines(keepends=True):
        start, pos = pos, pos + len(line)
        body = line.rstrip()
        if not body.strip():
            level = max(level, PARAGRAPH)
            continue
        if FENCE_RE.match(body):
            in_code = not in_code
        heading = None if in_code else HEADING_RE.match(body)
        if heading:
            depth = len(heading.group(1))
            stack = [(d, h) for d, h in stack if d < depth] + [(depth, heading.group(2).strip())]
            level = SECTION
        path = " > ".join(h for d, h in stack if d > 1)
        if heading or in_code or FENCE_RE.match(body):
            units.append(Unit(start + len(body) - len(body.lstrip()), start + len(body), level, path))
        else:
            units.extend(_sentences(text, start, start + len(body), level, path))
        level = PARAGRAPH if heading else SENTENCE
    return units


def _sentences(text: str, start: int, end: int, level: int, heading: str) -> list[Unit]:
    out, cursor = [], start
    while cursor < end and text[cursor] in " \t":
        cursor += 1
    for m in SENTENCE_END_RE.finditer(text, cursor, end):
        if m.start() > cursor:
            out.append(Unit(cursor, m.start(), level, heading))
            level, cursor = SENTENCE, m.end()
    if cursor < end:
        out.append(Unit(cursor, end, level, heading))
    return out


class Chunker:
    """Split documents into chunks of at most `chunk_size` tokens (as counted by `token_spans`)."""

    def __init__(self, token_spans: TokenSpans, chunk_size: int = 200, overlap: int = 40) -> None:
        if chunk_size < 16:
            raise RaftError(f"--chunk-size {chunk_size} is too small; use at least 16 tokens")
        if not 0 <= overlap < chunk_size // 2:
            raise RaftError(
                f"--overlap {overlap} must be >= 0 and less than half of --chunk-size {chunk_size}"
            )
        self.token_spans = token_spans
        self.chunk_size = chunk_size
        self.overlap = overlap
        self.min_tokens = chunk_size // 4

    def split(self, doc: Document) -> list[Chunk]:
        """The chunks of one document, in document order."""
        spans = list(self.token_spans(doc.text))
        starts = [s for s, _ in spans]
        units: list[Unit] = []
        for u in split_units(doc.text):
            n = bisect_left(starts, u.end) - bisect_left(starts, u.start)
            if n > self.chunk_size:
                units.extend(self._windows(u, spans, starts))
            elif n:
                units.append(Unit(u.start, u.end, u.level, u.heading, n))
        return [self._make(doc, group) for group in self._pack(units)]

    def _windows(self, u: Unit, spans: list[tuple[int, int]], starts: list[int]) -> list[Unit]:
        """Cut an over-long unit into overlapping windows of whole tokens."""
        first, last = bisect_left(starts, u.start), bisect_left(starts, u.end)
        step = self.chunk_size - self.overlap
        out = []
        for i in range(first, last, step):
            j = min(i + self.chunk_size, last)
            level = u.level if i == first else WINDOW
            out.append(Unit(max(spans[i][0], u.start), min(spans[j - 1][1], u.end), level, u.heading, j - i))
            if j == last:
                break
        return out

    def _pack(self, units: list[Unit]) -> list[list[Unit]]:
        groups: list[list[Unit]] = []
        cur: list[Unit] = []
        for u in units:
            while cur and self._must_close(cur, u):
                cut = self._cut_point(cur) if u.level < SECTION else len(cur)
                groups.append(cur[:cut])
                cur = cur[cut:] if cut < len(cur) else self._tail(cur, u)
            cur.append(u)
        if cur:
            groups.append(cur)
        return groups

    def _must_close(self, cur: list[Unit], u: Unit) -> bool:
        size = sum(x.tokens for x in cur)
        if u.level == SECTION and size >= self.min_tokens:
            return True
        return size + u.tokens > self.chunk_size

    def _cut_point(self, cur: list[Unit]) -> int:
        """Index to cut `cur` at: the last paragraph start that keeps the chunk half full, else the end."""
        total = 0
        best = len(cur)
        for i, u in enumerate(cur):
            if i and u.level >= PARAGRAPH and total >= self.chunk_size // 2:
                best = i
            total += u.tokens
        return best

    def _tail(self, cur: list[Unit], nxt: Unit) -> list[Unit]:
        """Trailing whole units of a closed chunk to repeat (not across a section break or window)."""
        if nxt.level in (SECTION, WINDOW):
            return []
        tail: list[Unit] = []
        budget = min(self.overlap, self.chunk_size - nxt.tokens)
        for u in reversed(cur):
            if u.tokens > budget or u.level == SECTION:
                break
            tail.insert(0, u)
            budget -= u.tokens
        return tail

    def _make(self, doc: Document, group: list[Unit]) -> Chunk:
        start, end = group[0].start, group[-1].end
        text = doc.text[start:end]
        return Chunk(
            chunk_id=chunk_id(doc.doc_id, start, end, text),
            doc_id=doc.doc_id,
            title=doc.title,
            heading=_main_heading(group),
            source=doc.source,
            start=start,
            end=end,
            text=text,
        )


def unchanged(record: dict | None, doc: Document, chunks: list[Chunk]) -> bool:
    """Whether a document record of a previous index build still holds `doc` cut into `chunks`."""
    return (
        bool(record)
        and record["hash"] == doc.content_hash
        and record["chunk_ids"] == [c.chunk_id for c in chunks]
    )
