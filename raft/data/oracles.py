"""Match each question to its oracle chunks in an index.

One or more per question: a multi-hop question names several documents, a PubMedQA record's result
sections are several chunks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from raft.data.qa import QAItem, contains, is_locating

if TYPE_CHECKING:
    from raft.index.chunking import Chunk
    from raft.index.retriever import Retriever

# A label answer whose named documents hold at most this many chunks takes them all as its oracle.
MAX_LABEL_ORACLE_CHUNKS = 3


def doc_group(doc_id: str, doc_ids: set[str], by_prefix: dict[str, list[str]]) -> list[str]:
    """The index documents a QA doc id names, by the first rule that matches:

    1. the exact id; 2. ids that extend it with `-`, `#` or `/` (`<pmid>-<i>` rows, `<file>#<row>`,
    a folder); 3. ids ending in `/<doc_id>` (indexed from a parent folder); 4. ids with the same first
    and last path segment (AWS `<guide>/<page>` -> `<guide>/doc_source/<page>`).
    """
    if doc_id in doc_ids:
        return [doc_id]
    group = [d for d in by_prefix.get(doc_id, []) if d[len(doc_id)] in "-#/"]
    if group:
        return sorted(group)
    tail = [d for d in doc_ids if d.endswith("/" + doc_id)]
    if tail:
        return sorted(tail)
    parts = doc_id.split("/")
    if len(parts) >= 2:
        return sorted(d for d in doc_ids if d.split("/")[0] == parts[0] and d.split("/")[-1] == parts[-1])
    return []


def prefix_map(doc_ids: Iterable[str]) -> dict[str, list[str]]:
    """Map every prefix ending just before a `-`, `#` or `/` to the ids that extend it."""
    out: dict[str, list[str]] = {}
    for d in doc_ids:
        for m in re.finditer(r"[-#/]", d):
            out.setdefault(d[: m.start()], []).append(d)
    return out


def resolve_oracles(
    items: list[QAItem], retriever: Retriever
) -> tuple[list[tuple[QAItem, tuple[Chunk, ...]]], list[tuple[QAItem, str]]]:
    """Match each item to its oracle chunks; return (matched, unmatched-with-reason), both in input order.

    Oracle chunks = the chunks named by chunk_ids; else, for each named document, the chunk containing the
    passage or the answer, or, for a yes/no/maybe answer, all of the document's chunks (when they are at
    most MAX_LABEL_ORACLE_CHUNKS), else its chunk most similar to the question; else the chunk that best
    matches oracle_text.
    """
    doc_ids = {c.doc_id for c in retriever.chunks}
    by_prefix = prefix_map(doc_ids)
    by_id = {str(c.chunk_id): c for c in retriever.chunks}
    found: list[list[Any]] = [[] for _ in items]
    failed: list[str | None] = [None] * len(items)
    need_sim: list[tuple[int, list[Any]]] = []
    need_text: list[int] = []
    for i, it in enumerate(items):
        chunks, reason, pending = _resolve_direct(it, by_id, retriever, doc_ids, by_prefix)
        found[i].extend(chunks)
        need_sim.extend((i, cands) for cands in pending)
        if reason == _USE_TEXT:
            need_text.append(i)
        elif reason is not None:
            failed[i] = reason
    _most_similar(items, need_sim, retriever, found)
    _match_text(items, need_text, retriever, by_id, found, failed)
    matched, unmatched = [], []
    for it, chunks, reason in zip(items, found, failed, strict=True):
        if reason is None and chunks:
            matched.append((it, tuple({str(c.chunk_id): c for c in chunks}.values())))
        else:
            unmatched.append((it, reason or "no oracle found"))
    return matched, unmatched


_USE_TEXT = "use oracle text"


def _resolve_direct(
    it: QAItem, by_id: dict[str, Chunk], retriever: Retriever, doc_ids: set[str], by_prefix: dict[str, list[str]]
) -> tuple[list[Any], str | None, list[list[Any]]]:
    """(chunks decided, failure reason or _USE_TEXT, candidate lists that similarity must decide)."""
    if it.chunk_ids:
        missing = [c for c in it.chunk_ids if c not in by_id]
        if not missing:
            return [by_id[c] for c in it.chunk_ids], None, []
        if not it.doc_ids and not it.oracle_text:
            return [], f"chunk id {missing[0]!r} is not in the index", []
    if not it.doc_ids:
        if it.oracle_text:
            return [], _USE_TEXT, []
        return [], "no chunk_id, doc_id or passage to find the oracle", []
    chunks: list[Any] = []
    pending: list[list[Any]] = []
    needles = [n for n in (it.oracle_text, it.answer if is_locating(it.answer) else None) if n]
    for doc_id in it.doc_ids:
        group = doc_group(doc_id, doc_ids, by_prefix)
        if not group:
            reason = _USE_TEXT if it.oracle_text else f"document {doc_id!r} is not in the index"
            return [], reason, []
        candidates = [c for d in group for c in retriever.doc_chunks(d)]
        hit = _first_containing(candidates, needles)
        if hit is not None:
            chunks.append(hit)
        elif not is_locating(it.answer) and it.answer and len(candidates) <= MAX_LABEL_ORACLE_CHUNKS:
            chunks.extend(candidates)
        elif len(candidates) == 1:
            chunks.append(candidates[0])
        else:
            pending.append(candidates)
    return chunks, None, pending


def _first_containing(candidates: list[Any], needles: list[str]) -> Any:
    """A whole passage or the answer beats a passage's first sentence."""
    for first_sentence in (False, True):
        for needle in needles:
            hit = _containing(candidates, needle, first_sentence)
            if hit is not None:
                return hit
    return None


def _containing(chunks: list[Any], needle: str, first_sentence: bool = True) -> Any:
    """The first chunk containing `needle` (or, for long needles, its first sentence)."""
    for c in chunks:
        if contains(c.text, needle):
            return c
    if not first_sentence:
        return None
    first = re.split(r"(?<=[.!?])\s+", needle.strip())[0]
    if len(first) >= 40 and first != needle.strip():
        for c in chunks:
            if contains(c.text, first):
                return c
    return None


def _most_similar(
    items: list[QAItem], pending: list[tuple[int, list[Chunk]]], retriever: Retriever, found: list[list[Chunk]]
) -> None:
    """Within each candidate list, the chunk closest to its item's question (one embed call per side)."""
    if not pending:
        return
    unique = {str(c.chunk_id): c for _, cands in pending for c in cands}
    row_of = {cid: n for n, cid in enumerate(unique)}
    vectors = retriever.embed([c.text for c in unique.values()])
    questions = retriever.embed([items[i].question for i, _ in pending])
    for q, (i, cands) in zip(questions, pending, strict=True):
        scores = [float(vectors[row_of[str(c.chunk_id)]] @ q) for c in cands]
        found[i].append(cands[scores.index(max(scores))])


def _match_text(
    items: list[QAItem],
    pending: list[int],
    retriever: Retriever,
    by_id: dict[str, Chunk],
    found: list[list[Chunk]],
    failed: list[str | None],
    k: int = 10,
) -> None:
    """Oracle text -> the retrieved chunk containing it (or contained in it), else the top hit if close enough."""
    if not pending:
        return
    hits = retriever.search_batch([items[i].oracle_text[:2000] for i in pending], k=k)
    for i, row in zip(pending, hits, strict=True):
        text = items[i].oracle_text or ""
        best = next((h for h in row if contains(h.text, text) or contains(text, h.text)), None)
        if best is None and row and row[0].score >= 0.8:
            best = row[0]
        if best is None:
            score = f"{row[0].score:.2f}" if row else "n/a"
            failed[i] = f"oracle text not found in the index (best similarity {score})"
        else:
            found[i].append(by_id[str(best.chunk_id)])
