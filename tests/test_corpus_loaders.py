"""Corpus loaders: every supported format, bad files, strict mode, document ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raft.corpus import Corpus, Document, read_html, read_markdown
from raft.errors import RaftError


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
