"""The questions an evaluation scores: one split of a QA file, or a RAFT dataset's validation split."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from raft import artifacts
from raft.errors import RaftError
from raft.eval.lineage import Lineage
from raft.jsonl import read_jsonl

if TYPE_CHECKING:
    from raft.data.qa import QAItem


def load_questions(
    path: Path, split: str | None, limit: int | None, held_out: Lineage | None = None, seed: int = 0
) -> list[QAItem]:
    """Questions of one split from a QA file (raft.data.loaders.read_qa) or a RAFT dataset directory's validation split.

    `limit` keeps a seeded random subset of that many questions, in file order (the first N of a file
    often cover only its first documents).

    A file without a split column has no test split of its own: `--split test` then means the questions
    `raft generate` held out for the model under test (`held_out`, from its lineage).
    """
    from raft.splits import SPLITS, TEST

    path = Path(path)
    if not path.exists():
        raise RaftError(f"question file {path} does not exist; pass --qa FILE (JSONL, CSV, SQuAD JSON, ...)")
    if split is not None and split != "all" and split not in SPLITS:
        raise RaftError(f"--split {split!r} is not one of {', '.join(SPLITS)}, all")
    if path.is_dir() and (path / artifacts.MANIFEST).is_file():
        items = _dataset_questions(path)
    else:
        from raft.data.loaders import read_qa

        items = read_qa(path)
    if any(q.split for q in items):
        split = split or TEST
        if split != "all":
            kept = [q for q in items if q.split == split]
            if not kept:
                found = ", ".join(sorted({str(q.split) for q in items}))
                raise RaftError(
                    f"no question in {path} has split {split!r} (found: {found}); pass --split NAME or --split all"
                )
            items = kept
    elif split == TEST:
        if held_out is None or not held_out.test_keys:
            raise RaftError(
                f"{path} has no split column and no model lineage names its test questions; "
                "pass --split all, or --model MODEL_DIR trained on a dataset generated from this file"
            )
        from raft.data.qa import question_key

        items = [q for q in items if question_key(q.question) in held_out.test_keys]
        if not items:
            raise RaftError(f"none of the test questions the model's dataset held out is in {path}")
    elif split not in (None, "all"):
        raise RaftError(f"{path} has no split column; pass --split all or --split test")
    if not items:
        raise RaftError(f"{path} holds no questions; pass a file with at least one question")
    if limit and limit < len(items):
        import random

        keep = sorted(random.Random(seed).sample(range(len(items)), limit))
        items = [items[i] for i in keep]
    return items


def _dataset_questions(path: Path) -> list[QAItem]:
    """One QAItem per distinct question of a `raft generate` dataset's validation split."""
    from raft.data.qa import QAItem
    from raft.splits import VALIDATION

    artifacts.read_manifest(path, "dataset", "raft generate INDEX -o DATASET_DIR")
    items, seen = [], set()
    fix = "rebuild the dataset with `raft generate INDEX -o DATASET_DIR --overwrite`"
    for line_no, row in read_jsonl(path / f"{VALIDATION}.jsonl", required=("id", "question"), fix=fix):
        if row["id"] in seen:
            continue
        seen.add(row["id"])
        items.append(
            QAItem(
                id=str(row["id"]),
                question=row["question"],
                answer=row.get("answer"),
                doc_ids=tuple(row.get("oracle_doc_ids") or ()),
                chunk_ids=tuple(row.get("oracle_ids") or ()),
                oracle_text=None,
                split=None,  # the directory's validation split, already chosen
                line=line_no,
            )
        )
    return items
