"""Retriever: real MiniLM search, batching, hybrid fusion, embedder mismatch refusal, sample recall."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLE_QUESTIONS

from raft.errors import RaftError
from raft.index.build import IndexConfig, build_index
from raft.index.retriever import Chunk, Hit, Retriever, rrf_fuse

DOCS = {
    "remote/pairing.md": "# Pairing the remote\n\nHold the HOME button for five seconds until the light blinks blue.",
    "power/adapter.md": "# Power adapter\n\nThe hub needs a 12 volt adapter. Never use a USB charger.",
    "policies/warranty.md": "# Warranty\n\nEvery device has a two year warranty against manufacturing faults.",
    "policies/returns.md": "# Returns\n\nYou can return a product within 30 days of delivery for a refund.",
    "app/notifications.md": "# Notifications\n\nTurn notifications off in Settings, then Alerts.",
}


@pytest.fixture(scope="module")
def small_index(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("docs")
    for rel, text in DOCS.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text + "\n")
    out = root.parent / "small-index"
    build_index(IndexConfig(corpus=root, out=out, hybrid=True))
    return out


@pytest.fixture(scope="module")
def retriever(small_index: Path) -> Retriever:
    return Retriever.load(small_index)


def test_dense_search_finds_the_right_document(retriever: Retriever) -> None:
    hits = retriever.search("what voltage power supply does the hub use", k=3, hybrid=False)
    assert isinstance(hits[0], Hit) and hits[0].doc_id == "power/adapter"
    assert [h.rank for h in hits] == [1, 2, 3]
    assert hits[0].score >= hits[1].score >= hits[2].score
    assert hits[0].title == "Power adapter" and hits[0].source == "power/adapter.md"


def test_search_batch_matches_single_searches(retriever: Retriever) -> None:
    queries = ["how long is the warranty", "how do I pair my remote", "can I send it back"]
    batch = retriever.search_batch(queries, k=2, hybrid=False)
    assert [b[0].doc_id for b in batch] == ["policies/warranty", "remote/pairing", "policies/returns"]
    for q, hits in zip(queries, batch, strict=True):
        single = retriever.search(q, k=2, hybrid=False)
        assert [h.chunk_id for h in single] == [h.chunk_id for h in hits]
        assert [h.score for h in single] == pytest.approx([h.score for h in hits], abs=1e-5)


def test_hybrid_is_the_default_when_built_and_fuses_by_rank(retriever: Retriever) -> None:
    hits = retriever.search("12 volt adapter", k=5)
    assert hits[0].doc_id == "power/adapter"
    assert hits[0].score == pytest.approx(2 / 61)  # first in both rankings
    assert len(hits) == 5
    assert retriever.search_batch([], k=3) == []


def test_k_larger_than_the_index_and_lookups(retriever: Retriever) -> None:
    hits = retriever.search("anything", k=50, hybrid=False)
    assert len(hits) == len(retriever.chunks) == 5
    first = retriever.chunks[0]
    assert isinstance(first, Chunk) and retriever.get(first.chunk_id) == first
    assert retriever.doc_chunks("policies/returns")[0].text.startswith("# Returns")
    assert retriever.doc_chunks("nope") == []
    vecs = retriever.embed(["a", "b"])
    assert vecs.dtype == np.float32 and vecs.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    with pytest.raises(RaftError, match="-k 0"):
        retriever.search("x", k=0)


def test_rrf_fuse() -> None:
    fused = rrf_fuse([[3, 1, 2], [1, 4]], k=3)
    assert [row for row, _ in fused] == [1, 3, 4]
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)


def test_embedder_mismatch_is_refused(small_index: Path) -> None:
    with pytest.raises(RaftError, match="built with embedder .* not 'other/model'.*--embedder other/model"):
        Retriever.load(small_index, embedder="other/model")

    class Fake:
        def __init__(self, name: str, dim: int) -> None:
            self.name, self.dim = name, dim

        def encode(self, texts, batch_size=64):
            return np.ones((len(texts), self.dim), dtype=np.float32) / np.sqrt(self.dim)

    with pytest.raises(RaftError, match="384-d vectors .* makes 64-d"):
        Retriever.load(small_index, embedder=Fake("sentence-transformers/all-MiniLM-L6-v2", 64))
    with pytest.raises(RaftError, match="weights changed"):
        Retriever.load(small_index, embedder=Fake("sentence-transformers/all-MiniLM-L6-v2", 384))


def test_hybrid_on_a_dense_only_index_is_refused(tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "a.md").write_text("# A\n\nSome text.\n")
    build_index(IndexConfig(corpus=tmp_path / "c", out=tmp_path / "idx"))
    retriever = Retriever.load(tmp_path / "idx")
    assert retriever.search("text", k=1)[0].doc_id == "a"
    with pytest.raises(RaftError, match="no BM25 index; rebuild it with .*--hybrid"):
        retriever.search("text", hybrid=True)


def test_sample_recall_at_5(sample_index: Path) -> None:
    retriever = Retriever.load(sample_index)
    test = [json.loads(line) for line in SAMPLE_QUESTIONS.open()]
    test = [q for q in test if q["split"] == "test"]
    assert len(test) >= 100
    results = retriever.search_batch([q["question"] for q in test], k=5, hybrid=False)
    found = sum(q["doc_id"] in {h.doc_id for h in hits} for q, hits in zip(test, results, strict=True))
    assert found / len(test) >= 0.8
