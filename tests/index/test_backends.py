"""Embedding backends: the ONNX export against torch, its cache, the manifest fields and the query check."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import SAMPLE_DOCS

from raft.cli import cli as main
from raft.errors import RaftError
from raft.index import backends
from raft.index.backends import Backend, check_exportable, parse_backend
from raft.index.build import IndexConfig, build_index
from raft.index.retriever import Retriever

TEXTS = [
    "How do I reset the router to factory settings?",
    "Refunds are issued within 14 days of the return being received. " * 6,
    "Short.",
]


def small_corpus(root: Path, n: int = 8) -> Path:
    """The first `n` files of the bundled corpus, copied (so a test may edit them)."""
    files = sorted(SAMPLE_DOCS.rglob("*.md"))[:n]
    for f in files:
        target = root / f.relative_to(SAMPLE_DOCS)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, target)
    return root


def vectors(index_dir: Path) -> np.ndarray:
    import faiss

    index = faiss.read_index(str(index_dir / "index.faiss"))
    return index.reconstruct_n(0, index.ntotal)


def chunk_ids(index_dir: Path) -> list[str]:
    with (index_dir / "chunks.jsonl").open() as fh:
        return [json.loads(line)["chunk_id"] for line in fh]


def test_parse_backend() -> None:
    assert parse_backend("onnx-int8") == Backend("onnx", "int8")
    assert parse_backend("openvino").name == "openvino"
    assert parse_backend(None, bundled=True).name == backends.DEFAULT_BACKEND
    assert parse_backend("auto", bundled=False) == Backend("torch", "none")


def test_auto_is_torch_for_a_pool_or_a_gpu() -> None:
    from raft.index.embedders import load_embedder

    assert load_embedder(None, processes=2).backend == Backend("torch", "none")
    with pytest.raises(RaftError, match="is not one of"):
        parse_backend("tensorrt")


@pytest.fixture(scope="module")
def torch_embedder():
    from raft.index.embedders import load_embedder

    return load_embedder(None, backend="torch")


@pytest.mark.parametrize("name", ["onnx", "openvino"])
def test_fp32_export_matches_torch(torch_embedder, name: str) -> None:
    from raft.index.embedders import load_embedder

    pytest.importorskip("openvino" if name == "openvino" else "onnxruntime")
    fast = load_embedder(None, backend=name)
    assert fast.dim == torch_embedder.dim == 384
    assert np.abs(fast.encode(TEXTS, batch_size=2) - torch_embedder.encode(TEXTS)).max() < 1e-5
    for text in TEXTS:
        assert fast.token_spans(text) == torch_embedder.token_spans(text)


def test_int8_is_close_to_torch(torch_embedder) -> None:
    from raft.index.embedders import load_embedder

    quantized = load_embedder(None, backend="onnx-int8")
    cosines = (quantized.encode(TEXTS) * torch_embedder.encode(TEXTS)).sum(axis=1)
    assert cosines.min() > 0.95
    assert sorted(Path(backends.cache_root()).glob("*/model-int8.onnx"))


def test_export_is_cached_and_not_redone(monkeypatch, tmp_path: Path) -> None:
    from raft.index.embedders import load_embedder

    load_embedder(None, backend="onnx")  # exported (or found) in the session cache
    monkeypatch.setattr(backends, "export_onnx", lambda *a: (_ for _ in ()).throw(AssertionError("re-exported")))
    load_embedder(None, backend="onnx")
    cache = backends.cache_root()
    assert not [p for p in cache.iterdir() if p.name.startswith(".")], "a staging directory was left behind"
    # a different cache dir starts empty: the export runs there (and is refused here by the patch)
    monkeypatch.setenv(backends.CACHE_ENV, str(tmp_path))
    with pytest.raises(AssertionError, match="re-exported"):
        load_embedder(None, backend="onnx")
    assert not list((tmp_path / "embedders").glob("*/model.onnx")), "a failed export must publish nothing"


def test_missing_runtime_names_the_extra(monkeypatch) -> None:
    from raft.index.embedders import load_embedder

    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(RaftError, match=r"raft-builder\[openvino\]"):
        load_embedder(None, backend="openvino")


def test_only_mean_pooling_models_export(tmp_path: Path) -> None:
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "tokenizer.json").write_text("{}")
    (tmp_path / "modules.json").write_text(json.dumps([
        {"path": "", "type": "sentence_transformers.models.Transformer"},
        {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]))
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    with pytest.raises(RaftError, match="use --backend torch"):
        check_exportable(tmp_path)


def test_manifest_records_backend_and_query_must_match(tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "docs", 4)
    out = tmp_path / "index"
    manifest = build_index(IndexConfig(corpus=corpus, out=out, backend="onnx-int8"))
    assert (manifest["backend"], manifest["quantization"], manifest["engine"]) == ("onnx", "int8", "local")
    retriever = Retriever.load(out)
    assert retriever.embedder.backend == Backend("onnx", "int8")
    assert retriever.search("reset the password", k=1)
    with pytest.raises(RaftError, match="built with backend onnx-int8, not torch"):
        Retriever.load(out, backend="torch")
    proc = subprocess.run(
        [sys.executable, "-m", "raft", "search", str(out), "password", "--backend", "onnx"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("Error: ")
    assert "built with backend onnx-int8, not onnx" in proc.stderr


def test_update_with_each_backend_reuses_and_matches_a_fresh_build(tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "docs", 6)
    out, fresh = tmp_path / "index", tmp_path / "fresh"
    first = build_index(IndexConfig(corpus=corpus, out=out, backend="onnx"))
    edited = sorted(corpus.rglob("*.md"))[0]
    edited.write_text(edited.read_text() + "\n\nA new closing paragraph about warranty claims.\n")
    updated = build_index(IndexConfig(corpus=corpus, out=out, backend="onnx", update=True))
    assert 0 < updated["counts"]["embedded"] < first["counts"]["chunks"]
    assert updated["counts"]["reused"] == updated["counts"]["chunks"] - updated["counts"]["embedded"]
    build_index(IndexConfig(corpus=corpus, out=fresh, backend="onnx"))
    assert chunk_ids(out) == chunk_ids(fresh)
    assert np.abs(vectors(out) - vectors(fresh)).max() < 1e-5
    switched = build_index(IndexConfig(corpus=corpus, out=out, backend="torch", update=True))
    assert switched["counts"]["reused"] == 0 and switched["backend"] == "torch"
    assert np.abs(vectors(out) - vectors(fresh)).max() < 1e-5  # fp32 ONNX and torch agree


def test_cli_index_backend_and_bad_value(tmp_path: Path) -> None:
    corpus = small_corpus(tmp_path / "docs", 3)
    runner = CliRunner()
    ok = runner.invoke(main, ["index", str(corpus), "-o", str(tmp_path / "i"), "--backend", "onnx"])
    assert ok.exit_code == 0, ok.output
    assert json.loads((tmp_path / "i" / "manifest.json").read_text())["backend"] == "onnx"
    bad = runner.invoke(main, ["index", str(corpus), "-o", str(tmp_path / "j"), "--backend", "onnx-int8",
                               "--processes", "2"])
    assert isinstance(bad.exception, RaftError) and "runs on the CPU in one process" in str(bad.exception)
    assert not (tmp_path / "j").exists()
