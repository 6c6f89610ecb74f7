"""Evaluation metrics: answer quality, refusals, retrieval, grounding, and paired bootstrap CIs.

Answers are scored twice with SQuAD's normalisation: strict on the text after `<ANSWER>:` (a missing
tag scores 0) and lenient on the tagged answer if present, else the output's last non-empty line, so a
model that answers right without the tag is not counted wrong. yes/no/maybe data (PubMedQA) is scored
by label accuracy. Grounding is judged against the context chunks that hold the answer (quotes must be
verbatim by raft.quotes' rule); refusals against whether any chunk in the context holds the answer.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Collection, Sequence
from typing import Any

from raft import prompts
from raft.quotes import quote_span

LABELS = ("yes", "no", "maybe")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)


def normalize_answer(text: str | None) -> str:
    """SQuAD normalisation: lower case, drop punctuation and articles, collapse whitespace."""
    text = (text or "").lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str | None, gold: str | None) -> float:
    """1.0 when the normalised prediction equals the normalised gold answer (a missing prediction scores 0)."""
    if prediction is None or gold is None:
        return 0.0
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str | None, gold: str | None) -> float:
    """SQuAD token F1; when either side normalises to nothing, 1.0 only if both do."""
    if prediction is None or gold is None:
        return 0.0
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def label_of(text: str | None) -> str | None:
    """The yes/no/maybe label an answer starts with ("Yes, because ..." -> "yes"), else None."""
    words = normalize_answer(text).split()
    return words[0] if words and words[0] in LABELS else None


def label_accuracy(prediction: str | None, gold: str | None) -> float:
    """1.0 when the prediction's leading yes/no/maybe equals the gold label."""
    pred, ref = label_of(prediction), label_of(gold)
    return float(pred is not None and pred == ref)


def is_label_set(golds: Sequence[str | None]) -> bool:
    """True when every gold answer is exactly yes, no or maybe (PubMedQA-style data)."""
    return bool(golds) and all(normalize_answer(g) in LABELS for g in golds)


def oracle_rank(retrieved_ids: Sequence[str], answer_ids: Collection[str]) -> int | None:
    """1-based rank of the first retrieved chunk that holds the answer, None when none was retrieved."""
    for rank, chunk_id in enumerate(retrieved_ids, start=1):
        if chunk_id in answer_ids:
            return rank
    return None


def recall_at_k(rank: int | None, k: int) -> float:
    return float(rank is not None and rank <= k)


def reciprocal_rank(rank: int | None) -> float:
    return 0.0 if rank is None else 1.0 / rank


def quote_validity(quotes: Sequence[str], context_texts: Sequence[str]) -> float | None:
    """Share of quotes found verbatim in any given document; None without quotes."""
    quotes = [q for q in quotes if q.strip()]
    if not quotes:
        return None
    return sum(any(quote_span(q, d) for d in context_texts) for q in quotes) / len(quotes)


def citation_precision(quotes: Sequence[str], answer_texts: Sequence[str]) -> float | None:
    """Share of quotes taken verbatim from the context chunks that hold the answer; None without either."""
    quotes = [q for q in quotes if q.strip()]
    if not quotes or not answer_texts:
        return None
    return sum(any(quote_span(q, o) for o in answer_texts) for q in quotes) / len(quotes)


def truthfulness(correct: bool, abstained: bool) -> float:
    """CRAG's score of one answer: +1 correct, 0 abstained, -1 wrong (a confident error costs a point)."""
    return 1.0 if correct else (0.0 if abstained else -1.0)


def score_output(
    raw: str,
    gold: str | None,
    context_texts: Sequence[str],
    answer_texts: Sequence[str],
    labels: bool = False,
    finish_reason: str = "stop",
) -> dict[str, Any]:
    """Every per-question score of one model output.

    `answer_texts` are the context chunks that hold the answer (empty when none does); `labels` turns on
    yes/no/maybe accuracy. Answer scores are None without a gold answer.
    """
    strict, lenient = prompts.extract_answer(raw), prompts.lenient_answer(raw)
    quotes = prompts.extract_quotes(raw)
    abstained = prompts.is_abstention(lenient)
    scores: dict[str, Any] = {
        "answer": strict,
        "answer_lenient": lenient,
        "format": float(strict is not None),
        "truncated": float(finish_reason == "length"),
        "quotes": len(quotes),
        "quote_validity": quote_validity(quotes, context_texts),
        "citation_precision": citation_precision(quotes, answer_texts),
        "abstained": float(abstained),
        "answer_in_context": bool(answer_texts),
    }
    for mode, answer in (("strict", strict), ("lenient", lenient)):
        scores[f"em_{mode}"] = None if gold is None else exact_match(answer, gold)
        scores[f"f1_{mode}"] = None if gold is None else token_f1(answer, gold)
        if labels:
            scores[f"accuracy_{mode}"] = None if gold is None else label_accuracy(answer, gold)
    correct = scores["accuracy_lenient" if labels else "em_lenient"]
    scores["truthfulness"] = None if correct is None else truthfulness(bool(correct), abstained)
    return scores


def refusal_scores(abstained: Sequence[bool], answerable: Sequence[bool]) -> dict[str, float | None]:
    """Refusal precision (abstentions where no context chunk held the answer) and recall (of those cases)."""
    pairs = list(zip(abstained, answerable, strict=True))
    refused = [a for r, a in pairs if r]
    unanswerable = [r for r, a in pairs if not a]
    return {
        "refusal_precision": mean([float(not a) for a in refused]),
        "refusal_recall": mean([float(r) for r in unanswerable]),
    }


def mean(values: Sequence[float | None]) -> float | None:
    """Mean of the values that are not None; None when there are none."""
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def bootstrap_ci(
    values: Sequence[float], n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of a mean."""
    import numpy as np

    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_resamples, x.size))].mean(axis=1)
    alpha = (1 - confidence) / 2
    return (float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha)))


def paired_bootstrap(
    a: Sequence[float],
    b: Sequence[float],
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, float]:
    """Mean of a − b over paired per-question scores, with a percentile bootstrap CI.

    Questions are resampled jointly for both systems, so the interval reflects the paired design.
    `p_le_0` is the share of resamples where the difference is not positive.
    """
    import numpy as np

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"paired scores differ in length: {x.size} vs {y.size}")
    if x.size == 0:
        nan = float("nan")
        return {"diff": nan, "low": nan, "high": nan, "p_le_0": nan, "n": 0}
    d = x - y
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(n_resamples, d.size))].mean(axis=1)
    alpha = (1 - confidence) / 2
    return {
        "diff": float(d.mean()),
        "low": float(np.quantile(means, alpha)),
        "high": float(np.quantile(means, 1 - alpha)),
        "p_le_0": float((means <= 0).mean()),
        "n": int(d.size),
    }
