"""Index building: layout, manifest last, atomic rebuilds, --update equivalence, index types, errors."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from raft import artifacts
from raft.errors import RaftError
from raft.index.build import IndexConfig, build_index, choose_index_type
from raft.index.retriever import Retriever


class HashEmbedder:
    """Deterministic bag-of-words vectors: a fast stand-in for a sentence-transformers model."""

    def __init__(self, name: str = "fake-hash", dim: int = 64, salt: str = "") -> None:
        self.name, self.dim, self.salt = name, dim, salt
        self.encoded = 0

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in re.finditer(r"\w+|[^\w\s]", text)]

    def encode(self, texts, batch_size: int = 64) -> np.ndarray:
        self.encoded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                h = int(hashlib.md5((self.salt + word).encode()).hexdigest(), 16)
                out[i, h % self.dim] += 1.0 if (h >> 8) % 2 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)


TOPICS = [
    "battery charging",
    "wifi pairing",
    "warranty claims",
    "firmware update",
    "screen cleaning",
    "order returns",
    "password reset",
    "bluetooth speaker",
    "parental controls",
    "data export",
]


def write_corpus(root: Path, n: int = 10) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        body = "\n\n".join(
            f"## Part {j}\n\nThis note covers {topic} step {j}. Follow the {topic} guide carefully."
            for j in range(3)
        )
        (root / f"doc{i:02d}.md").write_text(f"# Guide to {topic} {i}\n\n{body}\n")
    return root


def build(corpus: Path, out: Path, embedder=None, **kwargs) -> dict:
    cfg = IndexConfig(corpus=corpus, out=out, chunk_size=kwargs.pop("chunk_size", 32), overlap=4, **kwargs)
    return build_index(cfg, embedder=embedder or HashEmbedder())


def read_vectors(index_dir: Path) -> np.ndarray:
    import faiss

    index = faiss.read_index(str(index_dir / "index.faiss"))
    if "ivf" in type(index).__name__.lower():
        faiss.extract_index_ivf(index).make_direct_map()
    return index.reconstruct_n(0, index.ntotal)


def test_layout_and_manifest(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "c")
    (corpus / "junk.txt").write_bytes(b"\x00\x00")
    manifest = build(corpus, tmp_path / "idx")
    files = {p.name for p in (tmp_path / "idx").iterdir()}
    assert files == {"chunks.jsonl", "documents.jsonl", "index.faiss", "manifest.json"}
    assert manifest == artifacts.read_manifest(tmp_path / "idx", "index")
    assert manifest["embedder"] == "fake-hash" and manifest["embedding_dim"] == 64
    assert manifest["index_type"] == "flat" and manifest["normalized"] is True
    assert manifest["chunking"]["chunk_size"] == 32
    assert manifest["counts"]["documents"] == 10 and manifest["counts"]["skipped"] == 1
    assert manifest["skipped"] == [{"path": "junk.txt", "reason": "binary file (NUL bytes)"}]
    chunks = [json.loads(line) for line in (tmp_path / "idx" / "chunks.jsonl").open()]
    assert len(chunks) == manifest["counts"]["chunks"] == len(read_vectors(tmp_path / "idx"))
    mtimes = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "idx").iterdir()}
    assert mtimes["manifest.json"] == max(mtimes.values())
    assert not list(tmp_path.glob(".idx.*"))


def test_crash_mid_build_keeps_previous_index(tmp_path: Path, monkeypatch) -> None:
    corpus = write_corpus(tmp_path / "c")
    out = tmp_path / "idx"
    build(corpus, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    class Boom(HashEmbedder):
        def encode(self, texts, batch_size=64):
            raise KeyboardInterrupt  # like Ctrl-C half-way through embedding

    (corpus / "doc00.md").write_text("# Changed\n\nNew text.\n")
    with pytest.raises(KeyboardInterrupt):
        build(corpus, out, embedder=Boom(), overwrite=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    import faiss

    def broken_write(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(faiss, "write_index", broken_write)
    with pytest.raises(OSError, match="disk full"):
        build(corpus, out, update=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_unfinished_directory_is_not_an_index(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "c")
    build(corpus, tmp_path / "idx")
    (tmp_path / "idx" / "manifest.json").unlink()
    with pytest.raises(RaftError, match="not a finished index"):
        Retriever.load(tmp_path / "idx", embedder=HashEmbedder())


def test_update_equals_fresh_build_and_reuses_vectors(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "c")
    out = tmp_path / "idx"
    build(corpus, out)
    (corpus / "doc03.md").write_text("# Guide changed\n\nEverything about the new charging dock.\n")
    (corpus / "doc04.md").unlink()
    (corpus / "sub").mkdir()
    (corpus / "sub" / "new.md").write_text("# New\n\nA brand new page about cables.\n")
    embedder = HashEmbedder()
    updated = build(corpus, out, embedder=embedder, update=True)
    fresh = build(corpus, tmp_path / "fresh")
    for name in ("chunks.jsonl", "documents.jsonl"):
        assert (out / name).read_bytes() == (tmp_path / "fresh" / name).read_bytes()
    np.testing.assert_allclose(read_vectors(out), read_vectors(tmp_path / "fresh"), atol=1e-6)
    assert updated["corpus_fingerprint"] == fresh["corpus_fingerprint"]
    assert updated["counts"]["embedded"] == embedder.encoded - 1  # minus the probe sentence
    assert updated["counts"]["embedded"] == 2  # doc03 and sub/new: one chunk each
    assert updated["counts"]["reused"] == updated["counts"]["chunks"] - 2
    assert "doc04" not in {json.loads(line)["doc_id"] for line in (out / "chunks.jsonl").open()}


def test_update_with_new_chunking_reembeds_everything(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "c", n=3)
    build(corpus, tmp_path / "idx")
    manifest = build(corpus, tmp_path / "idx", update=True, chunk_size=64)
    assert manifest["counts"]["reused"] == 0 and manifest["chunking"]["chunk_size"] == 64


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_forced_index_types_search_like_flat(tmp_path: Path, kind: str) -> None:
    corpus = write_corpus(tmp_path / "c", n=30)
    build(corpus, tmp_path / "flat")
    manifest = build(corpus, tmp_path / kind, index_type=kind)
    assert manifest["index_type"] == kind
    queries = [f"how does {t} work" for t in TOPICS]
    flat = Retriever.load(tmp_path / "flat", embedder=HashEmbedder()).search_batch(queries, k=1)
    other = Retriever.load(tmp_path / kind, embedder=HashEmbedder()).search_batch(queries, k=1)
    agree = sum(a[0].score == pytest.approx(b[0].score, abs=1e-5) for a, b in zip(flat, other, strict=True))
    assert agree >= 8
    (corpus / "doc00.md").write_text("# Changed\n\nNew text.\n")
    updated = build(corpus, tmp_path / kind, index_type=kind, update=True)
    assert updated["counts"]["reused"] > 0


def test_auto_index_type_thresholds() -> None:
    assert choose_index_type(10) == "flat"
    assert choose_index_type(100_000) == "flat"
    assert choose_index_type(100_001) == "hnsw"
    assert choose_index_type(5_000_000) == "ivf"
    assert choose_index_type(10, "ivf") == "ivf"


def test_user_errors(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "c", n=2)
    with pytest.raises(RaftError) as err:
        build(tmp_path / "missing", tmp_path / "idx", index_type="annoy", batch_size=0)
    assert (
        "does not exist" in str(err.value)
        and "--index-type" in str(err.value)
        and "--batch-size" in str(err.value)
    )
    build(corpus, tmp_path / "idx")
    with pytest.raises(RaftError, match="--overwrite"):
        build(corpus, tmp_path / "idx")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "bad.md").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(RaftError, match=r"no documents with text found .*bad.md: binary"):
        build(tmp_path / "empty", tmp_path / "idx2")
    assert not (tmp_path / "idx2").exists()
    (tmp_path / "notindex").mkdir()
    (tmp_path / "notindex" / "x").write_text("x")
    with pytest.raises(RaftError, match="not a finished index"):
        build(corpus, tmp_path / "notindex", update=True)


def test_hybrid_builds_bm25(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "c")
    manifest = build(corpus, tmp_path / "idx", hybrid=True)
    assert manifest["hybrid"] is True and (tmp_path / "idx" / "bm25").is_dir()


@pytest.mark.slow
def test_real_minilm_single_and_multi_process_agree(tmp_path: Path) -> None:
    from raft.index.embedders import load_embedder

    corpus = write_corpus(tmp_path / "c", n=4)
    one = build_index(IndexConfig(corpus=corpus, out=tmp_path / "one", backend="torch"))
    assert one["embedding_dim"] == 384 and one["embedder"] == "sentence-transformers/all-MiniLM-L6-v2"
    vectors = read_vectors(tmp_path / "one")
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    pooled = load_embedder(processes=2)
    assert pooled.pool_devices == ["cpu", "cpu"]
    build_index(IndexConfig(corpus=corpus, out=tmp_path / "two", processes=2), embedder=pooled)
    assert (tmp_path / "one" / "chunks.jsonl").read_bytes() == (
        tmp_path / "two" / "chunks.jsonl"
    ).read_bytes()
    np.testing.assert_allclose(read_vectors(tmp_path / "two"), vectors, atol=1e-5)
