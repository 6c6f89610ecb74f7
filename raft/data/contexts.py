"""RAFT context assembly: pick distractors, place the oracle, fit the token budget.

Invariants (tested as properties over many seeds): no chunk appears twice in a context; an oracle chunk
is never a distractor; no distractor comes from an oracle document, a held-out (validation or test)
document, or contains the answer (case-insensitive; answers under 4 characters as whole words;
yes/no/maybe labels cannot be searched, which the dataset counts as unchecked rows).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from raft.data.qa import answer_matcher

if TYPE_CHECKING:
    from raft.index.retriever import Retriever

STRATEGIES = ("hard", "random", "mixed")
ORDERS = ("shuffle", "retrieval")  # documents at random slots, or as the retriever ranks them


class ChunkPool:
    """The index's chunks with the lookups mixing needs (position by id, lower-cased text)."""

    def __init__(self, chunks: Sequence[Any]) -> None:
        self.chunks = list(chunks)
        self.position = {str(c.chunk_id): i for i, c in enumerate(self.chunks)}
        self.lower = [" ".join(c.text.lower().split()) for c in self.chunks]

    def __len__(self) -> int:
        return len(self.chunks)

    def excluder(self, docs: set[str] | frozenset[str], answer: str | None) -> Callable[[int], bool]:
        """A test for chunk positions that may not be distractors: from `docs`, or containing the answer."""
        has_answer = answer_matcher(answer)

        def excluded(i: int) -> bool:
            return self.chunks[i].doc_id in docs or (has_answer is not None and has_answer(self.lower[i]))

        return excluded


@dataclass(frozen=True)
class Context:
    """Chunk positions in context order, the slots holding oracle chunks (empty if absent), mining shortfall."""

    positions: list[int]
    oracle_slots: list[int]
    shortfall: int


def mine_hard(pool: ChunkPool, retriever: Retriever, questions: list[str], k: int, depth: int) -> list[list[int]]:
    """Ranked candidate positions per question from one batched FAISS search (`depth` deep)."""
    hits = retriever.search_batch(questions, k=min(depth, len(pool)))
    return [[pool.position[str(h.chunk_id)] for h in row] for row in hits]


def sample_random(
    pool: ChunkPool, n: int, excluded: Callable[[int], bool], taken: set[int], rng: random.Random
) -> list[int]:
    """`n` distinct positions drawn uniformly from the chunks not excluded and not taken."""
    out: list[int] = []
    for _ in range(n * 20):
        if len(out) == n:
            break
        i = rng.randrange(len(pool))
        if i not in taken and not excluded(i):
            taken.add(i)
            out.append(i)
    if len(out) == n:
        return out
    rest = [i for i in range(len(pool)) if i not in taken and not excluded(i)]
    extra = rng.sample(rest, min(n - len(out), len(rest)))
    taken.update(extra)
    return out + extra


def assemble(
    pool: ChunkPool,
    oracles: list[int],
    candidates: list[int],
    excluded: Callable[[int], bool],
    k: int,
    p_oracle: float,
    strategy: str,
    rng: random.Random,
    order: str = "shuffle",
) -> Context:
    """K distractors (hard, random or half of each) plus, with probability P, every oracle chunk at uniform slots.

    `order="retrieval"` then sorts the documents by their rank in `candidates` (the question's search
    results), as a retriever would show them; the chunks chosen are the same as with "shuffle".
    """
    n_hard = {"hard": k, "random": 0, "mixed": (k + 1) // 2}[strategy]
    taken = set(oracles)
    hard = []
    for i in candidates:
        if len(hard) == n_hard:
            break
        if i not in taken and not excluded(i):
            taken.add(i)
            hard.append(i)
    shortfall = n_hard - len(hard)
    distractors = hard + sample_random(pool, k - len(hard), excluded, taken, rng)
    rng.shuffle(distractors)
    positions = list(distractors)
    present = rng.random() < p_oracle
    if present:
        for oracle in oracles:
            positions.insert(rng.randint(0, len(positions)), oracle)
    if order == "retrieval":
        rank = {i: r for r, i in enumerate(candidates)}
        positions.sort(key=lambda i: rank.get(i, len(rank)))
    oracle_set = set(oracles) if present else set()
    slots = [n for n, i in enumerate(positions) if i in oracle_set]
    return Context(positions, slots, shortfall)


# ---- token budget --------------------------------------------------------------------------


class TokenBudget:
    """Trims document texts (never the answer) so that prompt plus completion fit `max_tokens`."""

    def __init__(self, tokenizer: Any, max_tokens: int) -> None:
        self.tok, self.max_tokens = tokenizer, max_tokens

    def count(self, messages: list[dict[str, str]]) -> int:
        if getattr(self.tok, "chat_template", None):
            enc = self.tok.apply_chat_template(messages, tokenize=True)
            ids = enc["input_ids"] if hasattr(enc, "keys") else enc
            return len(ids)
        return sum(len(self.tok(m["content"], add_special_tokens=False)["input_ids"]) + 4 for m in messages)

    def fit(
        self,
        build: Callable[[list[str]], list[dict[str, str]]],
        texts: list[str],
        keep: dict[int, tuple[int, int]],
    ) -> tuple[list[str], bool] | None:
        """Shorten `texts` until `build(texts)` fits; `keep[i]` is a char span of text i that must stay whole.

        Returns (texts, trimmed) or None when even the kept spans do not fit.
        """
        total = self.count(build(texts))
        if total <= self.max_tokens:
            return texts, False
        overhead = self.count(build([""] * len(texts)))
        offsets = [self._offsets(t) for t in texts]
        sizes = [len(o) for o in offsets]
        floors = [self._span_tokens(offsets[i], keep[i]) if i in keep else 0 for i in range(len(texts))]
        budget = self.max_tokens - overhead
        for _ in range(4):
            caps = _water_fill(sizes, floors, budget)
            if caps is None:
                return None
            cut = [self._cut(t, offsets[i], caps[i], keep.get(i)) for i, t in enumerate(texts)]
            over = self.count(build(cut)) - self.max_tokens
            if over <= 0:
                return cut, True
            budget -= over + 2
        return None

    def _offsets(self, text: str) -> list[tuple[int, int]]:
        return list(self.tok(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"])

    @staticmethod
    def _span_tokens(offsets: list[tuple[int, int]], span: tuple[int, int]) -> int:
        return sum(1 for s, e in offsets if e > span[0] and s < span[1])

    @staticmethod
    def _cut(text: str, offsets: list[tuple[int, int]], cap: int, keep: tuple[int, int] | None) -> str:
        """The first `cap` tokens of text, or a `cap`-token window around the kept span (verbatim)."""
        if cap >= len(offsets):
            return text
        if cap <= 0:
            return ""
        first = 0
        if keep is not None:
            inside = [i for i, (s, e) in enumerate(offsets) if e > keep[0] and s < keep[1]]
            lo, hi = inside[0], inside[-1]
            first = max(0, min(lo - (cap - (hi - lo + 1)) // 2, len(offsets) - cap))
        start = offsets[first][0] if first > 0 else 0
        end = offsets[first + cap - 1][1]
        return text[start:end].strip()


def _water_fill(sizes: list[int], floors: list[int], budget: int) -> list[int] | None:
    """Per-text token caps: a common cap, raised to each floor, summing to at most `budget`."""
    if sum(floors) > budget:
        return None
    lo, hi = 0, max(sizes, default=0)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if sum(min(s, max(mid, f)) for s, f in zip(sizes, floors, strict=True)) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return [min(s, max(lo, f)) for s, f in zip(sizes, floors, strict=True)]
