"""Evaluation metrics: answer quality, retrieval, grounding, and paired bootstrap confidence intervals.

Answers are scored on the text after `<ANSWER>:` (the prompt contract's answer tag) with SQuAD's
normalisation; yes/no/maybe data (PubMedQA) is scored by label accuracy.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Collection, Sequence
from typing import Any

from raft import prompts

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


def oracle_rank(retrieved_doc_ids: Sequence[str], oracle_doc_ids: Collection[str]) -> int | None:
    """1-based rank of the first retrieved chunk from an oracle document, None when none was retrieved."""
    for rank, doc_id in enumerate(retrieved_doc_ids, start=1):
        if doc_id in oracle_doc_ids:
            return rank
    return None


def recall_at_k(rank: int | None, k: int) -> float:
    return float(rank is not None and rank <= k)


def reciprocal_rank(rank: int | None) -> float:
    return 0.0 if rank is None else 1.0 / rank


def _squash(text: str) -> str:
    return " ".join((text or "").split())


def quote_validity(quotes: Sequence[str], context_texts: Sequence[str]) -> float | None:
    """Share of quotes found verbatim (whitespace-normalised) in any given document; None without quotes."""
    quotes = [q for q in quotes if _squash(q)]
    if not quotes:
        return None
    docs = [_squash(t) for t in context_texts]
    return sum(any(_squash(q) in d for d in docs) for q in quotes) / len(quotes)


def citation_precision(quotes: Sequence[str], oracle_texts: Sequence[str]) -> float | None:
    """Share of quotes taken verbatim from the oracle's chunks in the context; None without quotes or oracle."""
    quotes = [q for q in quotes if _squash(q)]
    if not quotes or not oracle_texts:
        return None
    oracle = [_squash(t) for t in oracle_texts]
    return sum(any(_squash(q) in o for o in oracle) for q in quotes) / len(quotes)


def score_output(
    raw: str,
    gold: str | None,
    context_texts: Sequence[str],
    oracle_texts: Sequence[str],
    labels: bool = False,
) -> dict[str, Any]:
    """Every per-question score of one model output.

    `oracle_texts` are the context chunks that belong to the oracle document (empty when it is
    absent); `labels` turns on yes/no/maybe accuracy. Answer scores are None without a gold answer.
    """
    answer = prompts.extract_answer(raw)
    quotes = prompts.extract_quotes(raw)
    scores: dict[str, Any] = {
        "answer": answer,
        "em": None if gold is None else exact_match(answer, gold),
        "f1": None if gold is None else token_f1(answer, gold),
        "format": float(answer is not None),
        "quotes": len(quotes),
        "quote_validity": quote_validity(quotes, context_texts),
        "citation_precision": citation_precision(quotes, oracle_texts),
        "abstained": float(prompts.is_abstention(answer)),
    }
    if labels:
        scores["accuracy"] = None if gold is None else label_accuracy(answer, gold)
    return scores


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
