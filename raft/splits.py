"""The one list of split names, and the one rule that splits questions by document.

Three splits, always by oracle document, never by row: `train` (training rows), `validation` (early
stopping, best checkpoint, search; carved from training documents) and `test` (held out: its questions
and oracle documents never reach training rows, not even as distractors, nor model selection). A QA
file's own split column wins; its names map onto these three.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping

TRAIN, VALIDATION, TEST = "train", "validation", "test"
SPLITS = (TRAIN, VALIDATION, TEST)
DATASET_SPLITS = (TRAIN, VALIDATION)  # what a `raft generate` dataset holds; test stays out

# A QA file's split names, mapped onto ours.
ALIASES = {
    "train": TRAIN,
    "training": TRAIN,
    "validation": VALIDATION,
    "valid": VALIDATION,
    "val": VALIDATION,
    "dev": TEST,
    "test": TEST,
    "eval": TEST,
    "evaluation": TEST,
    "heldout": TEST,
    "held_out": TEST,
}


def canonical(name: str | None) -> str | None:
    """Our split name for a QA file's split value (None when the file gives none or an unknown name)."""
    if name is None:
        return None
    return ALIASES.get(str(name).strip().lower())


def split_groups(
    declared: Mapping[str, set[str]],
    groups: Iterable[str],
    seed: int,
    validation_fraction: float,
    test_fraction: float,
) -> tuple[dict[str, str], int]:
    """Assign every document group a split; returns (group -> split, conflicts).

    `declared[group]` holds the splits a QA file gave the group's questions. A group declared in
    several splits goes to the most held-out one (test > validation > train; counted as a conflict).
    When the file declares no test split, `test_fraction` of the undeclared groups (shuffled by seed)
    become test; when it declares no validation split, `validation_fraction` of the training groups
    become validation. Everything else is train.
    """
    rank = {TRAIN: 0, VALIDATION: 1, TEST: 2}
    side: dict[str, str] = {}
    conflicts = 0
    for group, sides in declared.items():
        if sides:
            side[group] = max(sides, key=rank.__getitem__)
            conflicts += len(sides) > 1
    rng = random.Random(f"{seed}:split")
    free = sorted(set(groups) - set(side))
    rng.shuffle(free)
    if TEST not in side.values():
        n_test = _count(test_fraction, len(free))
        side.update(dict.fromkeys(free[:n_test], TEST))
        free = free[n_test:]
    side.update(dict.fromkeys(free, TRAIN))
    if VALIDATION not in side.values():
        train = sorted(g for g, s in side.items() if s == TRAIN)
        rng.shuffle(train)
        side.update(dict.fromkeys(train[: _count(validation_fraction, len(train))], VALIDATION))
    return side, conflicts


def _count(fraction: float, n: int) -> int:
    """round(fraction * n), but at least 1 when fraction > 0 and 2+ groups remain (never all of them)."""
    if fraction <= 0 or n < 2:
        return 0
    return min(n - 1, max(1, round(fraction * n)))
