"""Shared test setup: offline, quiet, deterministic."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CORPUS = ROOT / "corpora" / "helpdesk"
SAMPLE_DOCS = SAMPLE_CORPUS / "docs"
SAMPLE_QUESTIONS = SAMPLE_CORPUS / "questions.jsonl"
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"


@pytest.fixture(scope="session", autouse=True)
def embedder_cache(tmp_path_factory) -> Path:
    """ONNX exports of the embedder go to a per-session directory (RAFT_CACHE_DIR), unless one is set."""
    if not os.environ.get("RAFT_CACHE_DIR"):
        os.environ["RAFT_CACHE_DIR"] = str(tmp_path_factory.mktemp("raft-cache"))
    return Path(os.environ["RAFT_CACHE_DIR"])


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory) -> Path:
    """The bundled corpus indexed with the real MiniLM embedder (built once per test session)."""
    from raft.index.build import IndexConfig, build_index

    out = tmp_path_factory.mktemp("sample-index") / "index"
    build_index(IndexConfig(corpus=SAMPLE_DOCS, out=out))
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny Llama-shaped base model with a tokenizer trained on the bundled corpus (brief pretraining)."""
    from raft.models.tiny import TinyModelConfig, build_tiny_model

    out = tmp_path_factory.mktemp("tiny-model") / "model"
    build_tiny_model(TinyModelConfig(out=out, corpus=SAMPLE_DOCS, pretrain_steps=30, seed=0))
    return out
