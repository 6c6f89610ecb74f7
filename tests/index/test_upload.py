"""Uploads: type, size and name checks, malformed files, and a real incremental index update."""

import shutil

import pytest

from raft.errors import RaftError
from raft.index.upload import UploadPolicy, check_upload, safe_name
from tests.conftest import SAMPLE_DOCS


@pytest.mark.parametrize(
    "name, expected",
    [
        ("notes.md", "notes.md"),
        ("../../etc/passwd.txt", "passwd.txt"),
        ("C:\\Users\\me\\My Report (final).PDF", "My_Report_final.pdf"),
        ("weird; rm -rf $HOME.md", "weird_rm_-rf_HOME.md"),
    ],
)
def test_safe_name_keeps_only_a_plain_file_name(name, expected):
    assert safe_name(name) == expected


@pytest.mark.parametrize(
    "name, message",
    [
        (".bashrc.md", "not a plain file name"),
        ("..", "not a plain file name"),
        ("script.py", "type .py is not accepted"),
        ("archive.tar.gz", "type .gz is not accepted"),
        ("noext", "type (none) is not accepted"),
    ],
)
def test_bad_names_and_types_are_refused(name, message):
    with pytest.raises(RaftError, match=message.replace("(", r"\(").replace(")", r"\)")):
        safe_name(name)


def test_content_and_size_checks(tmp_path):
    good = tmp_path / "good.md"
    good.write_text("# Title\n\nSome text about printers.\n")
    assert check_upload(good) == "good.md"
    fake_pdf = tmp_path / "broken.pdf"
    fake_pdf.write_bytes(b"this is not a pdf at all")
    with pytest.raises(RaftError, match="broken.pdf"):
        check_upload(fake_pdf)
    binary = tmp_path / "blob.txt"
    binary.write_bytes(bytes(range(256)) * 50)
    with pytest.raises(RaftError, match="blob.txt"):
        check_upload(binary)
    with pytest.raises(RaftError, match="limit is"):
        check_upload(good, UploadPolicy(max_bytes=10))
    empty = tmp_path / "empty.md"
    empty.write_text("")
    with pytest.raises(RaftError, match="empty"):
        check_upload(empty)
    link = tmp_path / "link.md"
    link.symlink_to(good)
    with pytest.raises(RaftError, match="not a regular file"):
        check_upload(link)


@pytest.mark.slow
def test_upload_updates_the_index_incrementally(tmp_path):
    from raft.index.build import IndexConfig, build_index
    from raft.index.retriever import Retriever
    from raft.serve.engine import ChatEngine

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for path in sorted(SAMPLE_DOCS.rglob("*.md"))[:3]:
        shutil.copy(path, corpus / path.name)
    build_index(IndexConfig(corpus=corpus, out=tmp_path / "index"))
    engine = ChatEngine(Retriever.load(tmp_path / "index"), {})
    before = len(engine.retriever.chunks)
    doc = tmp_path / "upload" / "Zebra policy.md"
    doc.parent.mkdir()
    doc.write_text("# Zebra crossing policy\n\nStaff must walk zebras across the car park at 9 am sharp.\n")
    bad = tmp_path / "upload" / "bad.pdf"
    bad.write_bytes(b"%PDF-1.4 truncated")
    with pytest.raises(RaftError, match="bad.pdf"):
        engine.add_documents([doc, bad])
    assert not (tmp_path / "index" / "uploads" / "Zebra_policy.md").exists()  # nothing written: a file was bad
    assert engine.add_documents([doc]) == ["uploads/Zebra_policy"]
    assert len(engine.retriever.chunks) > before
    assert engine.retriever.manifest["counts"]["reused"] == before
    hit = engine.retriever.search("who walks zebras across the car park?", k=1)[0]
    assert hit.doc_id == "uploads/Zebra_policy"
    assert sorted(p.name for p in corpus.iterdir()) == sorted(p.name for p in sorted(SAMPLE_DOCS.rglob("*.md"))[:3])

    doc.write_text("# Zebra crossing policy\n\nFrom May, zebras cross the car park at 10 am instead.\n")
    assert engine.add_documents([doc]) == ["uploads/Zebra_policy.v2"]  # same name: a new version, both kept
    stored = sorted(p.name for p in (tmp_path / "index" / "uploads").iterdir())
    assert stored == ["Zebra_policy.md", "Zebra_policy.v2.md"]
    assert "9 am" in (tmp_path / "index" / "uploads" / "Zebra_policy.md").read_text()
    ids = {c.doc_id for c in engine.retriever.chunks}
    assert {"uploads/Zebra_policy", "uploads/Zebra_policy.v2"} <= ids
    # a later `raft index --update` keeps the uploads
    build_index(IndexConfig(corpus=corpus, out=tmp_path / "index", update=True))
    assert {"uploads/Zebra_policy", "uploads/Zebra_policy.v2"} <= {c.doc_id for c in Retriever.load(tmp_path / "index").chunks}


def _tree_digest(root):
    import hashlib

    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.mark.slow
def test_an_upload_never_changes_the_repository_checkout(sample_index, tmp_path):
    """The bundled index points at corpora/helpdesk/docs: uploads land in the index folder, not there."""
    from raft.index.retriever import Retriever
    from raft.serve.engine import ChatEngine

    index = tmp_path / "index"
    shutil.copytree(sample_index, index)
    assert Retriever.load(index).manifest["corpus"] == str(SAMPLE_DOCS.resolve())
    before = _tree_digest(SAMPLE_DOCS)
    doc = tmp_path / "faq.md"
    doc.write_text("# Parking FAQ\n\nVisitors park on level minus two and register at the front desk.\n")
    engine = ChatEngine(Retriever.load(index), {})
    assert engine.add_documents([doc]) == ["uploads/faq"]
    assert (index / "uploads" / "faq.md").is_file()
    assert _tree_digest(SAMPLE_DOCS) == before
    assert not (SAMPLE_DOCS / "uploads").exists()
