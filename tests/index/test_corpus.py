"""Checks on the bundled Korvane help-center corpus and its gold questions."""

from __future__ import annotations

import importlib.util
import json
import re
from collections import defaultdict

import pytest

from tests.conftest import ROOT, SAMPLE_CORPUS, SAMPLE_DOCS, SAMPLE_QUESTIONS

FIELDS = {"id", "question", "answer", "doc_id", "passage", "split"}


def _load_builder():
    spec = importlib.util.spec_from_file_location("build_helpdesk", ROOT / "corpora" / "build_helpdesk.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def docs() -> dict[str, str]:
    return {
        p.relative_to(SAMPLE_DOCS).with_suffix("").as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(SAMPLE_DOCS.rglob("*.md"))
    }


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    lines = SAMPLE_QUESTIONS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_docs_are_titled_markdown_with_sections(docs):
    assert len(docs) >= 100
    for doc_id, text in docs.items():
        assert text.startswith("# ") and len(text.splitlines()[0]) > 2, doc_id
        assert "\n## " in text, doc_id
        assert 150 <= len(text.split()) <= 600, (doc_id, len(text.split()))
    assert {d.split("/")[0] for d in docs} >= {
        "products",
        "how-to",
        "troubleshooting",
        "policies",
        "accounts",
    }


def test_questions_follow_the_schema(rows):
    assert len(rows) >= 1000
    for row in rows:
        assert set(row) == FIELDS, row
        assert all(isinstance(row[f], str) and row[f].strip() for f in FIELDS), row
        assert re.fullmatch(r"q\d{5}", row["id"]), row["id"]
        assert row["split"] in {"train", "test"}, row
        assert row["question"].endswith("?"), row["question"]
        assert len(row["answer"].split()) <= 12, row["answer"]


def test_ids_are_unique(rows):
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids))


def test_answers_are_verbatim_in_passage_and_passage_in_doc(rows, docs):
    for row in rows:
        assert row["doc_id"] in docs, row["doc_id"]
        assert row["answer"] in row["passage"], row["id"]
        assert row["passage"] in docs[row["doc_id"]], row["id"]


def test_split_is_by_document_with_a_real_test_set(rows, docs):
    splits = defaultdict(set)
    for row in rows:
        splits[row["doc_id"]].add(row["split"])
    assert all(len(s) == 1 for s in splits.values()), [d for d, s in splits.items() if len(s) > 1]
    test_docs = [d for d, s in splits.items() if s == {"test"}]
    test_rows = [row for row in rows if row["split"] == "test"]
    assert 0.15 <= len(test_docs) / len(splits) <= 0.3
    assert len(test_rows) >= 250
    assert {d.split("/")[0] for d in test_docs} == {d.split("/")[0] for d in docs}


def test_attribute_values_overlap_across_documents(rows, docs):
    """Near-miss distractors: many answers also occur in some other document."""
    shared = sum(sum(row["answer"] in text for text in docs.values()) > 1 for row in rows)
    assert shared / len(rows) > 0.3


def test_generator_is_deterministic(tmp_path):
    counts = _load_builder().build(tmp_path)
    built = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    shipped = sorted(p.relative_to(SAMPLE_CORPUS).as_posix() for p in SAMPLE_DOCS.rglob("*") if p.is_file())
    assert built == shipped + ["questions.jsonl"]
    for rel in built:
        assert (tmp_path / rel).read_bytes() == (SAMPLE_CORPUS / rel).read_bytes(), rel
    assert counts["docs"] == len(shipped) and counts["train"] + counts["test"] == counts["questions"]


def test_render_extracts_facts_and_rejects_unpaired_markup():
    render = _load_builder().render
    text, facts = render("# T\n## S\nIt runs for [[90 minutes]] on a charge.<<How long does it run?>> Done.")
    assert text == "# T\n\n## S\n\nIt runs for 90 minutes on a charge. Done.\n"
    assert facts == [
        {
            "answer": "90 minutes",
            "passage": "It runs for 90 minutes on a charge.",
            "questions": ["How long does it run?"],
        }
    ]
    with pytest.raises(ValueError, match="unpaired"):
        render("# T\n## S\nIt runs for [[90 minutes]].")
