"""`raft index --ray`: Ray Data on a local two-worker Ray started by the test gives the local build's index."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from test_backends import chunk_ids, small_corpus, vectors

from raft.cli import cli as main
from raft.errors import RaftError
from raft.index.build import IndexConfig, build_index

BACKEND = "onnx"  # fp32: vectors comparable to 1e-5 across batchings (int8 quantizes activations per batch)


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.mark.timeout(180)
def test_ray_build_and_update_match_a_local_build(ray_cluster, tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "docs", 6)
    (corpus / "notes.bin").write_bytes(b"\x00\x01")  # skipped the same way by both engines
    local, distributed = tmp_path / "local", tmp_path / "ray"
    a = build_index(IndexConfig(corpus=corpus, out=local, backend=BACKEND))
    b = build_index(IndexConfig(corpus=corpus, out=distributed, backend=BACKEND, ray="local"))
    assert chunk_ids(distributed) == chunk_ids(local)
    assert np.abs(vectors(distributed) - vectors(local)).max() < 1e-5
    assert (b["engine"], a["engine"]) == ("ray", "local")
    assert {k for k in a if a[k] != b[k]} == {"engine", "created"}
    assert (tmp_path / "ray" / "documents.jsonl").read_text() == (local / "documents.jsonl").read_text()

    edited = sorted(corpus.rglob("*.md"))[-1]
    edited.write_text(edited.read_text() + "\n\nOne more paragraph on battery care.\n")
    (sorted(corpus.rglob("*.md"))[0]).unlink()
    updated = build_index(IndexConfig(corpus=corpus, out=distributed, backend=BACKEND, ray="local", update=True))
    assert 0 < updated["counts"]["embedded"] < updated["counts"]["chunks"]
    build_index(IndexConfig(corpus=corpus, out=local, backend=BACKEND, overwrite=True))
    assert chunk_ids(distributed) == chunk_ids(local)
    assert np.abs(vectors(distributed) - vectors(local)).max() < 1e-5
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")], "staging directory left behind"


def test_ray_missing_names_the_extra(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "ray.data", None)
    corpus = small_corpus(tmp_path / "docs", 2)
    result = CliRunner().invoke(main, ["index", str(corpus), "-o", str(tmp_path / "i"), "--ray"])
    assert isinstance(result.exception, RaftError) and "raft-builder[ray]" in str(result.exception)
    assert not (tmp_path / "i").exists()


def test_ray_and_processes_exclude_each_other(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["index", str(tmp_path), "-o", str(tmp_path / "i"), "--ray", "--processes", "2"])
    assert isinstance(result.exception, RaftError)
    assert "--ray and --processes exclude each other" in str(result.exception)
