"""QA files: every supported layout, bad input with line numbers, and oracle matching."""

from __future__ import annotations

import json

import pytest
from conftest import SAMPLE_QUESTIONS, SHARED_DATASETS

from raft.data.loaders import read_qa
from raft.data.oracles import resolve_oracles
from raft.data.qa import QAItem
from raft.errors import RaftError
from raft.index.chunking import Chunk
from tests.fakes import FakeRetriever, toy_corpus


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_jsonl_with_aliases_and_line_numbers(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text(
        json.dumps({"query": "Where?", "gold_answer": "here", "document": "a/b.md"})
        + "\n\n"
        + json.dumps({"id": "x", "question": "Why?", "oracle_id": "c1", "split": "TEST"})
        + "\n"
    )
    a, b = read_qa(path)
    assert (a.question, a.answer, a.doc_ids, a.line, a.id) == ("Where?", "here", ("a/b",), 1, "q00001")
    assert (b.id, b.chunk_ids, b.split, b.answer, b.line) == ("x", ("c1",), "test", None, 3)


def test_broken_jsonl_lines_are_all_reported(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text('{"question": "ok?"}\n{"question": \n[1, 2]\n{"question": "fine?"}\n')
    with pytest.raises(RaftError, match=r"2 broken line\(s\): line 2: .*; line 3: not a JSON object"):
        read_qa(path)


def test_missing_question_column_and_rows(tmp_path):
    path = _write_jsonl(tmp_path / "qa.jsonl", [{"text": "a", "answer": "b"}])
    with pytest.raises(RaftError, match=r"no question column \(found: answer, text\)"):
        read_qa(path)
    path = _write_jsonl(
        tmp_path / "qb.jsonl", [{"question": "a?"}, {"question": ""}, {"question": "c?"}, {"question": None}]
    )
    with pytest.raises(RaftError, match=r"2 row\(s\) without a question at line\(s\) 2, 4"):
        read_qa(path)


def test_empty_unknown_and_missing_files(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(RaftError, match="holds no questions"):
        read_qa(tmp_path / "empty.jsonl")
    (tmp_path / "qa.parquet").write_text("x")
    with pytest.raises(RaftError, match="unknown QA file type"):
        read_qa(tmp_path / "qa.parquet")
    with pytest.raises(RaftError, match="does not exist"):
        read_qa(tmp_path / "nope.jsonl")


def test_csv_and_aws_layout(tmp_path):
    path = tmp_path / "QA_true.csv"
    path.write_text(
        "\ufeffQuestion,Answer_True,Yes_No_True,Document_True\n"
        "Is it on? ,It is on for all types,Yes, guide-a/page-one.md\n"
        'Which port?,"Use port 80, always",None,guide-b/net.md\n',
        encoding="utf-8",
    )
    a, b = read_qa(path)
    assert (a.question, a.answer, a.doc_ids, a.oracle_text, a.line) == (
        "Is it on?",
        "Yes",
        ("guide-a/page-one",),
        "It is on for all types",
        2,
    )
    assert (b.answer, b.doc_ids, b.oracle_text) == (
        "Use port 80, always",
        ("guide-b/net",),
        "Use port 80, always",
    )


def test_csv_too_many_fields_names_the_line(tmp_path):
    path = tmp_path / "qa.csv"
    path.write_text("question,answer\nA?,b\nC?,d,e\n")
    with pytest.raises(RaftError, match="line 3 has more fields"):
        read_qa(path)


def test_squad_skips_unanswerable(tmp_path):
    data = {
        "version": "v2.0",
        "data": [
            {
                "title": "T",
                "paragraphs": [
                    {
                        "context": "Paris is in France.",
                        "qas": [
                            {
                                "id": "s1",
                                "question": "Where is Paris?",
                                "answers": [{"text": "France", "answer_start": 12}],
                                "is_impossible": False,
                            },
                            {"id": "s2", "question": "Where is Rome?", "answers": [], "is_impossible": True},
                        ],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(data))
    (item,) = read_qa(path)
    assert (item.id, item.answer, item.oracle_text, item.doc_ids, item.group) == (
        "s1",
        "France",
        "Paris is in France.",
        ("T#0",),
        "T",
    )


def test_pubmedqa_layout_and_official_test_split(tmp_path):
    data = {
        "111": {
            "QUESTION": "Does A help?",
            "CONTEXTS": ["Background.", "Methods.", "It helped in 9 of 10.", "So it helps."],
            "LABELS": ["BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS"],
            "final_decision": "yes",
        },
        "222": {"QUESTION": "Does B hurt?", "CONTEXTS": ["Intro.", "Three."], "final_decision": "no"},
    }
    (tmp_path / "ori_pqal.json").write_text(json.dumps(data))
    (tmp_path / "test_ground_truth.json").write_text(json.dumps({"222": "no"}))
    a, b = read_qa(tmp_path / "ori_pqal.json")
    # The oracle is the sections that carry the result, not the first (background) section.
    assert (a.id, a.answer, a.doc_ids, a.oracle_text, a.split, a.group) == (
        "111", "yes", ("111-2", "111-3"), "It helped in 9 of 10.\nSo it helps.", "train", "111"
    )
    assert (b.doc_ids, b.oracle_text) == (("222-1",), "Three.")  # unlabelled: the last section
    assert b.split == "test"


def test_saved_hf_dataset_keeps_split_names(tmp_path):
    from datasets import Dataset, DatasetDict

    DatasetDict(
        {
            "train": Dataset.from_list([{"question": "A?", "answer": "a", "doc_id": "d1"}]),
            "test": Dataset.from_list([{"question": "B?", "answer": "b", "doc_id": "d2"}]),
        }
    ).save_to_disk(str(tmp_path / "ds"))
    items = read_qa(tmp_path / "ds")
    assert [(i.question, i.split) for i in items] == [("A?", "train"), ("B?", "test")]


def test_duplicate_ids_made_unique(tmp_path):
    path = _write_jsonl(tmp_path / "qa.jsonl", [{"id": "a", "question": "1?"}, {"id": "a", "question": "2?"}])
    assert [i.id for i in read_qa(path)] == ["a", "a-1"]


def test_bundled_gold_file():
    items = read_qa(SAMPLE_QUESTIONS)
    assert len(items) >= 100
    assert {i.split for i in items} == {"train", "test"}
    assert all(i.answer and i.doc_ids and i.oracle_text and i.answer in i.oracle_text for i in items)


@pytest.mark.skipif(not SHARED_DATASETS.exists(), reason="shared datasets not present")
def test_real_dataset_files():
    pubmed = read_qa(SHARED_DATASETS / "pubmedqa" / "ori_pqal.json")
    assert len(pubmed) == 1000 and sum(i.split == "test" for i in pubmed) == 500
    squad = read_qa(SHARED_DATASETS / "squad-v2-dev" / "dev-v2.0.json")
    assert len(squad) == 6078 - 3168
    aws = read_qa(SHARED_DATASETS / "aws-documentation-qa" / "QA_true.csv")
    assert len(aws) == 100 and all(
        i.doc_ids and not i.doc_ids[0].endswith(".md") and " " not in i.doc_ids[0] for i in aws
    )


# ---- resolve_oracles -----------------------------------------------------------------------


def _item(**kw) -> QAItem:
    base = dict(
        id="q",
        question="What is the reset code for the blue router model 00?",
        answer=None,
        doc_ids=(),
        chunk_ids=(),
        oracle_text=None,
        split=None,
        line=1,
    )
    base.update(kw)
    return QAItem(**base)


def test_resolve_by_chunk_doc_answer_passage_and_similarity():
    retriever, gold = toy_corpus()
    g = gold[5]
    items = [
        _item(id="by-chunk", chunk_ids=(g["chunk_id"],)),
        _item(id="by-answer", doc_ids=(g["doc_id"],), answer=g["answer"]),
        _item(id="by-passage", doc_ids=(g["doc_id"] + ".md",), oracle_text=g["passage"]),
        _item(id="by-similarity", doc_ids=(g["doc_id"],), question=g["question"]),
        _item(id="label-in-long-doc", doc_ids=(g["doc_id"],), question=g["question"], answer="yes"),
        _item(id="by-text", oracle_text=g["passage"]),
    ]
    matched, unmatched = resolve_oracles(items, retriever)
    assert unmatched == []
    assert {it.id: tuple(c.chunk_id for c in chs) for it, chs in matched} == dict.fromkeys(
        ["by-chunk", "by-answer", "by-passage", "by-similarity", "label-in-long-doc", "by-text"], (g["chunk_id"],)
    )


def test_several_oracles_per_question():
    """Multi-hop questions name several documents; chunk id lists and label answers over short documents too."""
    retriever, gold = toy_corpus(chunks_per_doc=2)
    a, b = gold[0], gold[4]
    items = [
        _item(id="two-docs", doc_ids=(a["doc_id"], b["doc_id"]), answer=a["answer"], question=a["question"]),
        _item(id="two-chunks", chunk_ids=(a["chunk_id"], b["chunk_id"])),
        _item(id="label", doc_ids=(b["doc_id"],), answer="no", question=b["question"]),
    ]
    matched, unmatched = resolve_oracles(items, retriever)
    assert unmatched == []
    got = {it.id: [c.chunk_id for c in chs] for it, chs in matched}
    assert got["two-docs"][0] == a["chunk_id"] and len(got["two-docs"]) == 2
    assert got["two-docs"][1].startswith(b["doc_id"].split("/")[-1])
    assert got["two-chunks"] == [a["chunk_id"], b["chunk_id"]]
    # A yes/no answer cannot locate a chunk: every chunk of a short named document is the oracle.
    assert got["label"] == [c.chunk_id for c in retriever.doc_chunks(b["doc_id"])]


def test_oracle_list_columns_and_split_names(tmp_path):
    path = tmp_path / "qa.jsonl"
    rows = [
        {"question": "A?", "answer": "a", "doc_ids": ["d1", "d2"], "split": "dev"},
        {"question": "B?", "answer": "b", "oracle_ids": ["c1", "c2"], "split": "Validation"},
        {"question": "C?", "answer": "c", "doc_id": "d3", "split": "train"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    a, b, c = read_qa(path)
    assert (a.doc_ids, a.split) == (("d1", "d2"), "test")
    assert (b.chunk_ids, b.split) == (("c1", "c2"), "validation")
    assert c.split == "train"
    path.write_text(json.dumps({"question": "A?", "split": "holdout-2"}))
    with pytest.raises(RaftError, match="unknown split name"):
        read_qa(path)


def test_unmatched_rows_get_reasons():
    retriever, _ = toy_corpus()
    items = [
        _item(id="a", doc_ids=("guide/nope",)),
        _item(id="b", chunk_ids=("missing#0",)),
        _item(id="c"),
        _item(id="d", oracle_text="Completely unrelated prose about gardening tomatoes in spring."),
    ]
    matched, unmatched = resolve_oracles(items, retriever)
    assert matched == []
    reasons = dict((it.id, r) for it, r in unmatched)
    assert "document 'guide/nope' is not in the index" in reasons["a"]
    assert "chunk id 'missing#0'" in reasons["b"]
    assert "no chunk_id, doc_id or passage" in reasons["c"]
    assert "oracle text not found" in reasons["d"]


def test_doc_id_groups_and_parent_folders():
    texts = {
        "123-0": "Background on aspirin.",
        "123-1": "Results: aspirin reduced pain in most patients.",
        "guide-a/doc_source/page-one": "It is on for all types.",
        "docs/x/y": "Nested doc text here.",
    }
    chunks = [Chunk(f"{d}#0", d, d, "", d, 0, len(t), t) for d, t in texts.items()]
    retriever = FakeRetriever(chunks)
    items = [
        _item(
            id="pmid",
            doc_ids=("123",),
            question="Does aspirin reduce pain?",
            oracle_text="Results: aspirin reduced pain",
        ),
        _item(id="aws", doc_ids=("guide-a/page-one",), answer="Yes"),
        _item(id="parent", doc_ids=("x/y",)),
    ]
    matched, unmatched = resolve_oracles(items, retriever)
    assert unmatched == []
    assert {it.id: chs[0].doc_id for it, chs in matched} == {
        "pmid": "123-1",
        "aws": "guide-a/doc_source/page-one",
        "parent": "docs/x/y",
    }


def test_answer_matcher_rules():
    from raft.data.qa import answer_matcher

    assert answer_matcher("yes") is None and answer_matcher("Maybe") is None
    five = answer_matcher("5")
    assert five("version 5 ships") and not five("version 15 ships")
    long = answer_matcher("Red  Cable")
    assert long("connect the red cable now") and long("the red cables")
