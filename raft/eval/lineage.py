"""What the systems under test trained or were selected on (their `lineage.json` files), and the
overlap check that refuses to score those questions unless `--allow-overlap`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from raft import artifacts
from raft.errors import RaftError
from raft.eval.cases import Case
from raft.eval.systems import SystemSpec


@dataclass(frozen=True)
class Lineage:
    """What the systems under test trained or were selected on, from their lineage files."""

    trained_keys: frozenset[str] = frozenset()  # question keys of training and validation rows
    trained_docs: frozenset[str] = frozenset()  # oracle and context documents of those rows
    test_keys: frozenset[str] = frozenset()  # questions a dataset held out for test
    sources: tuple[str, ...] = ()


def read_lineage(specs: Sequence[SystemSpec]) -> dict[str, Lineage]:
    """Each local system's lineage: its model dir, its adapter dir, and its base model dir."""
    out = {}
    for spec in specs:
        dirs = [Path(spec.model)]
        if spec.adapter:
            dirs.append(Path(spec.adapter))
        for d in list(dirs):
            manifest = d / artifacts.MANIFEST
            if manifest.is_file():
                base = json.loads(manifest.read_text()).get("base_model")
                if base and Path(base).is_dir():
                    dirs.append(Path(base))
        out[spec.name] = _merge_lineage([d / "lineage.json" for d in dirs if (d / "lineage.json").is_file()])
    return out


def _merge_lineage(files: Sequence[Path]) -> Lineage:
    from raft.splits import TEST

    keys: set[str] = set()
    docs: set[str] = set()
    test: set[str] = set()
    for f in files:
        data = json.loads(f.read_text())
        for name, part in (data.get("splits") or {}).items():
            if name == TEST:
                test.update(part.get("question_keys", []))
                continue
            keys.update(part.get("question_keys", []))
            docs.update(part.get("oracle_docs", []))
            docs.update(part.get("context_docs", []))
    return Lineage(frozenset(keys), frozenset(docs), frozenset(test), tuple(map(str, files)))


def overlap_flags(cases: Sequence[Case], lineages: dict[str, Lineage]) -> list[list[str]]:
    """Per case: the systems that trained or were selected on it or on its oracle document."""
    from raft.data.qa import question_key

    flags = []
    for case in cases:
        key = question_key(case.item.question)
        trained = [n for n, lin in lineages.items() if key in lin.trained_keys or case.oracle_docs & lin.trained_docs]
        flags.append(trained)
    return flags


def check_overlap(flags: Sequence[list[str]], allow: bool) -> None:
    """Refuse to score questions a system trained or was selected on, unless allowed."""
    counts: dict[str, int] = {}
    for f in flags:
        for name in f:
            counts[name] = counts.get(name, 0) + 1
    if counts and not allow:
        worst = max(counts, key=counts.__getitem__)
        raise RaftError(
            f"{counts[worst]} of {len(flags)} questions (or their oracle documents) were used to train or select "
            f"system {worst!r}; evaluate on held-out questions (--split test), or pass --allow-overlap to score "
            "them anyway (the report flags them)"
        )
