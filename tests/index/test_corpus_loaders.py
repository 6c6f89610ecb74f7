"""Corpus loaders: every supported format, bad files, strict mode, document ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SHARED_DATASETS

from raft.errors import RaftError
from raft.index.corpus import Corpus, Document, read_html, read_markdown


def minimal_pdf(text: str, title: str = "") -> bytes:
    """A valid one-page PDF with `text` in Helvetica (xref offsets computed)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    info = f"<< /Title ({title}) >>" if title else "<< >>"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        info.encode(),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    (root / "guides").mkdir(parents=True)
    (root / "guides" / "pairing.md").write_text("# Pairing the remote\n\nHold HOME for five seconds.\n")
    (root / "notes_on-warranty.txt").write_text("The warranty lasts two years.\n")
    (root / "returns.html").write_text(
        "<html><head><title>Returns policy</title><style>p {color: red}</style>"
        "<script>var secret = 1;</script></head><body><h1>Returns</h1><p>Return within "
        "30&nbsp;days.</p><h2>Exceptions</h2><ul><li>Opened software</li><li>Gift cards</li></ul></body></html>"
    )
    (root / "manual.pdf").write_bytes(minimal_pdf("The hub needs a 12 volt adapter.", title="Hub manual"))
    rows = [
        {"id": "faq-1", "title": "Shipping", "text": "We ship in 5 days."},
        {"text": "Free over 50 dollars."},
    ]
    (root / "faq.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (root / "colors.csv").write_text('doc_id,Name,Content\nc1,Colours,"Red, blue\nand green."\n')
    return root


def load(root: Path, **kwargs) -> tuple[dict[str, Document], Corpus]:
    corpus = Corpus(root, **kwargs)
    return {d.doc_id: d for d in corpus}, corpus


def test_every_format_loads_with_ids_titles_and_sources(corpus_dir: Path) -> None:
    docs, corpus = load(corpus_dir)
    assert corpus.skipped == []
    assert sorted(docs) == [
        "c1",
        "faq#2",
        "faq-1",
        "guides/pairing",
        "manual",
        "notes_on-warranty",
        "returns",
    ]
    assert docs["guides/pairing"].title == "Pairing the remote"
    assert docs["guides/pairing"].source == "guides/pairing.md"
    assert docs["notes_on-warranty"].title == "Notes on warranty"
    assert docs["manual"].title == "Hub manual"
    assert "12 volt adapter" in docs["manual"].text
    assert docs["faq-1"].title == "Shipping" and docs["faq#2"].text == "Free over 50 dollars."
    assert docs["c1"].title == "Colours" and docs["c1"].text == "Red, blue\nand green."


def test_html_drops_script_and_style_and_keeps_headings(corpus_dir: Path) -> None:
    docs, _ = load(corpus_dir)
    page = docs["returns"]
    assert page.title == "Returns policy"
    assert "secret" not in page.text and "color" not in page.text
    assert "# Returns" in page.text and "## Exceptions" in page.text
    assert "Return within 30 days." in page.text
    assert "Opened software\nGift cards" in page.text


def test_html_title_falls_back_to_first_heading() -> None:
    title, text = read_html("<body><h2>Only heading</h2><p>Body.</p></body>")
    assert title == "Only heading" and text.endswith("Body.")


def test_markdown_front_matter_title() -> None:
    title, _ = read_markdown('---\ntitle: "Front title"\n---\n# Other\nText\n')
    assert title == "Front title"


def test_bad_files_are_skipped_with_reasons(corpus_dir: Path) -> None:
    (corpus_dir / "blob.md").write_bytes(b"\x00\x01\x02 binary")
    (corpus_dir / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (corpus_dir / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    (corpus_dir / "empty.md").write_text("   \n")
    (corpus_dir / "image.png").write_bytes(b"\x89PNG")
    (corpus_dir / "nocol.csv").write_text("a,b\n1,2\n")
    with (corpus_dir / "faq.jsonl").open("a") as fh:
        fh.write("{not json\n[1, 2]\n")
    docs, corpus = load(corpus_dir)
    reasons = {s.path: s.reason for s in corpus.skipped}
    assert "binary" in reasons["blob.md"]
    assert "not UTF-8" in reasons["latin1.txt"]
    assert "PDF" in reasons["broken.pdf"]
    assert reasons["empty.md"] == "no text"
    assert "unsupported file type .png" in reasons["image.png"]
    assert "no text column" in reasons["nocol.csv"] and "found a, b" in reasons["nocol.csv"]
    assert "invalid JSON" in reasons["faq.jsonl:3"]
    assert reasons["faq.jsonl:4"] == "not a JSON object"
    assert len(corpus.skipped) == 8
    assert len(docs) == 7


def test_strict_makes_bad_files_fatal_but_not_other_file_types(corpus_dir: Path) -> None:
    (corpus_dir / "image.png").write_bytes(b"\x89PNG")
    docs, _ = load(corpus_dir, strict=True)
    assert len(docs) == 7
    (corpus_dir / "blob.txt").write_bytes(b"\x00\x00")
    with pytest.raises(RaftError, match=r"blob.txt: binary file .*--strict"):
        load(corpus_dir, strict=True)


def test_duplicate_doc_ids_keep_the_first(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\nfrom markdown\n")
    (tmp_path / "a.txt").write_text("from text\n")
    docs, corpus = load(tmp_path)
    assert docs["a"].source == "a.md"
    assert corpus.skipped[0].path == "a.txt" and "duplicate document id 'a'" in corpus.skipped[0].reason


def test_single_file_and_hidden_files(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config.md").write_text("hidden")
    (tmp_path / "one.md").write_text("# One\ntext\n")
    docs, _ = load(tmp_path)
    assert list(docs) == ["one"]
    docs, _ = load(tmp_path / "one.md")
    assert list(docs) == ["one"] and docs["one"].source == "one.md"


def test_missing_corpus_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(RaftError, match="does not exist"):
        Corpus(tmp_path / "nope")


def test_content_hash_changes_with_text_only(corpus_dir: Path) -> None:
    docs, _ = load(corpus_dir)
    again, _ = load(corpus_dir)
    assert docs["manual"].content_hash == again["manual"].content_hash
    (corpus_dir / "guides" / "pairing.md").write_text("# Pairing the remote\n\nHold HOME for six seconds.\n")
    changed, _ = load(corpus_dir)
    assert changed["guides/pairing"].content_hash != docs["guides/pairing"].content_hash
    assert changed["returns"].content_hash == docs["returns"].content_hash


# ---- JSON files: PubMedQA, SQuAD, lists of rows -------------------------------------------


PUBMEDQA = {
    "1001": {
        "QUESTION": "Does nightly stretching reduce calf cramps in runners?",
        "CONTEXTS": [
            "Calf cramps disturb the sleep of many amateur runners during marathon training.",
            "Forty runners stretched for ten minutes each night and logged cramps for eight weeks.",
            "Stretching runners reported half as many cramps as the control group.",
        ],
        "LABELS": ["BACKGROUND", "METHODS", "RESULTS"],
        "final_decision": "yes",
    },
    "1002": {
        "QUESTION": "Is green tea intake linked to better dental enamel in teenagers?",
        "CONTEXTS": [
            "Enamel erosion in teenagers is often blamed on acidic soft drinks and sugary snacks.",
            "A survey of 300 pupils compared weekly green tea cups with enamel scores from dentists.",
        ],
        "LABELS": ["BACKGROUND", "METHODS"],
        "final_decision": "maybe",
    },
    "1003": {
        "QUESTION": "Do standing desks lower afternoon fatigue in office staff?",
        "CONTEXTS": [
            "Office workers often describe a slump in alertness between two and four in the afternoon.",
            "Staff given standing desks rated their afternoon fatigue no differently from seated staff.",
        ],
        "LABELS": ["BACKGROUND", "RESULTS"],
        "final_decision": "no",
    },
}
SQUAD = {
    "version": "v2.0",
    "data": [
        {
            "title": "Lighthouse_keeping",
            "paragraphs": [
                {
                    "context": "The Harbour Point lighthouse was first lit in 1843 and burned whale oil "
                    "until the keepers switched to kerosene.",
                    "qas": [
                        {
                            "id": "s1",
                            "question": "When was the Harbour Point lighthouse first lit?",
                            "answers": [{"text": "1843", "answer_start": 48}],
                            "is_impossible": False,
                        },
                        {"id": "s2", "question": "Who painted it?", "answers": [], "is_impossible": True},
                    ],
                },
                {
                    "context": "Keepers climbed 212 steps every evening to trim the wick and polish the "
                    "great Fresnel lens by hand.",
                    "qas": [
                        {
                            "id": "s3",
                            "question": "How many steps did the keepers climb?",
                            "answers": [{"text": "212", "answer_start": 16}],
                        }
                    ],
                },
            ],
        },
        {
            "title": "Beekeeping",
            "paragraphs": [
                {
                    "context": "A healthy hive in summer holds around fifty thousand worker bees and a "
                    "single laying queen.",
                    "qas": [
                        {
                            "id": "s4",
                            "question": "How many worker bees does a healthy summer hive hold?",
                            "answers": [{"text": "around fifty thousand", "answer_start": 30}],
                        }
                    ],
                }
            ],
        },
    ],
}


@pytest.fixture
def qa_json_dir(tmp_path: Path) -> Path:
    """A folder with a tiny PubMedQA-shaped and a tiny SQuAD-shaped file (10 documents in all)."""
    root = tmp_path / "qa-json"
    root.mkdir()
    (root / "ori_pqal.json").write_text(json.dumps(PUBMEDQA))
    (root / "squad.json").write_text(json.dumps(SQUAD))
    return root


def test_pubmedqa_json_gives_one_document_per_section(qa_json_dir: Path) -> None:
    docs, corpus = load(qa_json_dir / "ori_pqal.json")
    assert corpus.skipped == []
    assert list(docs)[:4] == ["1001-0", "1001-1", "1001-2", "1002-0"]
    assert len(docs) == 7
    assert docs["1001-2"].text == PUBMEDQA["1001"]["CONTEXTS"][2]
    assert docs["1001-2"].title == "PubMed 1001" and docs["1001-2"].source == "ori_pqal.json"


def test_pubmedqa_record_without_contexts_is_skipped(tmp_path: Path) -> None:
    records = {**PUBMEDQA, "1004": {"QUESTION": "Empty?", "CONTEXTS": [], "LABELS": []}}
    (tmp_path / "p.json").write_text(json.dumps(records))
    docs, corpus = load(tmp_path)
    assert len(docs) == 7
    assert [(s.path, s.reason) for s in corpus.skipped] == [("p.json:1004", "no 'CONTEXTS' list")]


def test_squad_json_gives_one_document_per_paragraph(qa_json_dir: Path) -> None:
    docs, corpus = load(qa_json_dir / "squad.json")
    assert corpus.skipped == []
    assert list(docs) == ["Lighthouse_keeping#0", "Lighthouse_keeping#1", "Beekeeping#0"]
    assert docs["Lighthouse_keeping#1"].title == "Lighthouse keeping"
    assert docs["Beekeeping#0"].text == SQUAD["data"][1]["paragraphs"][0]["context"]


def test_squad_paragraph_documents_equal_the_qa_readers_oracle_text(qa_json_dir: Path) -> None:
    from raft.data.loaders import read_qa

    docs, _ = load(qa_json_dir / "squad.json")
    texts = {d.text for d in docs.values()}
    items = read_qa(qa_json_dir / "squad.json")
    assert [it.id for it in items] == ["s1", "s3", "s4"]
    assert all(it.oracle_text in texts for it in items)


def test_json_list_uses_the_row_rules(tmp_path: Path) -> None:
    rows = [{"id": "r-1", "title": "First", "text": "One."}, {"text": "Two."}, [1, 2], {"text": ""}]
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    docs, corpus = load(tmp_path)
    assert list(docs) == ["r-1", "rows#2"]
    assert docs["r-1"].title == "First" and docs["rows#2"].text == "Two."
    assert {s.path: s.reason for s in corpus.skipped} == {
        "rows.json:3": "not a JSON object",
        "rows.json:4": "empty 'text'",
    }


def test_other_json_layouts_are_skipped_with_reasons(tmp_path: Path) -> None:
    (tmp_path / "labels.json").write_text(json.dumps({"1001": "yes", "1002": "no"}))
    (tmp_path / "broken.json").write_text('{"data": [')
    (tmp_path / "keep.md").write_text("# Keep\ntext\n")
    docs, corpus = load(tmp_path)
    reasons = {s.path: s.reason for s in corpus.skipped}
    assert list(docs) == ["keep"]
    assert reasons["labels.json"].startswith("unrecognised JSON layout")
    assert reasons["broken.json"].startswith("invalid JSON at line 1")
    (tmp_path / "broken.json").unlink()
    docs, corpus = load(tmp_path, strict=True)
    assert list(docs) == ["keep"] and corpus.skipped[0].path == "labels.json"


def test_json_lines_named_json_are_read_as_rows(tmp_path: Path) -> None:
    lines = [{"id": "one", "text": "First line."}, {"text": "Second line."}]
    (tmp_path / "lines.json").write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    docs, corpus = load(tmp_path)
    assert corpus.skipped == []
    assert list(docs) == ["one", "lines#2"] and docs["lines#2"].text == "Second line."


@pytest.mark.skipif(
    not (SHARED_DATASETS / "pubmedqa" / "ori_pqal.json").is_file(), reason="PubMedQA not present"
)
def test_real_pubmedqa_file_ids() -> None:
    path = SHARED_DATASETS / "pubmedqa" / "ori_pqal.json"
    first = list(json.loads(path.read_text()).items())[:3]
    docs = []
    for doc in Corpus(path, strict=True):
        docs.append(doc)
        if len(docs) == sum(len(rec["CONTEXTS"]) for _, rec in first):
            break
    expected = [f"{pmid}-{i}" for pmid, rec in first for i in range(len(rec["CONTEXTS"]))]
    assert [d.doc_id for d in docs] == expected
    assert [d.text for d in docs] == [c for _, rec in first for c in rec["CONTEXTS"]]
    assert docs[0].title == f"PubMed {first[0][0]}"


@pytest.mark.slow
def test_pubmedqa_and_squad_questions_resolve_to_their_oracle_chunks(
    qa_json_dir: Path, tmp_path: Path
) -> None:
    from raft.data.loaders import read_qa
    from raft.data.oracles import resolve_oracles
    from raft.index.build import IndexConfig, build_index
    from raft.index.retriever import Retriever

    build_index(IndexConfig(corpus=qa_json_dir, out=tmp_path / "index"))
    retriever = Retriever.load(tmp_path / "index")
    assert len({c.doc_id for c in retriever.chunks}) == 10
    pubmed = read_qa(qa_json_dir / "ori_pqal.json")
    squad = read_qa(qa_json_dir / "squad.json")
    matched, unmatched = resolve_oracles(pubmed + squad, retriever)
    assert unmatched == []
    oracle = {it.id: chunks[0] for it, chunks in matched}
    # The result-carrying section is the oracle (RESULTS by label, else the last section), never the background.
    assert {it.id: [c.doc_id for c in chunks] for it, chunks in matched if it.id in PUBMEDQA} == {
        "1001": ["1001-2"],
        "1002": ["1002-1"],
        "1003": ["1003-1"],
    }
    assert oracle["s1"].doc_id == "Lighthouse_keeping#0"
    assert oracle["s3"].doc_id == "Lighthouse_keeping#1"
    assert oracle["s4"].doc_id == "Beekeeping#0"
    assert all(it.answer in oracle[it.id].text for it in squad)
