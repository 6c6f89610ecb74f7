"""`--engine onnx-fp32|onnx-int4`: ONNX Runtime GenAI behind the Generator interface."""

import os
import sys

import pytest

from raft.errors import RaftError
from tests.models.test_families import conversations

pytestmark = pytest.mark.slow


def test_a_missing_onnx_runtime_genai_names_the_extra(tiny_model_dir, monkeypatch):
    from raft.serve.generators import load_generator

    monkeypatch.setitem(sys.modules, "onnxruntime_genai", None)  # what an environment without it sees
    with pytest.raises(RaftError, match=r"raft-builder\[onnx\]") as err:
        load_generator(str(tiny_model_dir), device="cpu", engine="onnx-int4")
    assert "\n" not in str(err.value)


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory):
    pytest.importorskip("onnxruntime_genai")
    old = os.environ.get("RAFT_MODEL_CACHE")
    os.environ["RAFT_MODEL_CACHE"] = str(tmp_path_factory.mktemp("model-cache"))
    yield os.environ["RAFT_MODEL_CACHE"]
    if old is None:
        del os.environ["RAFT_MODEL_CACHE"]
    else:
        os.environ["RAFT_MODEL_CACHE"] = old


def test_onnx_fp32_gives_fp32_greedy_answers_and_streams_them(tiny_model_dir, model_cache):
    from pathlib import Path

    from raft.serve.generators import DecodingConfig, load_generator

    convs = conversations(3, offset=5, max_docs=2)
    cfg = DecodingConfig(max_new_tokens=12)
    reference = load_generator(str(tiny_model_dir), device="cpu").generate(convs, cfg)
    onnx = load_generator(str(tiny_model_dir), device="cpu", engine="onnx-fp32")
    got = onnx.generate(convs, cfg)
    assert [c.text for c in got] == [c.text for c in reference]
    assert [c.completion_tokens for c in got] == [min(c.completion_tokens, 12) for c in reference]
    assert "".join(onnx.stream(convs[0], cfg)).strip() == got[0].text
    built = sorted((Path(model_cache) / "onnx").iterdir())
    assert len(built) == 1 and (built[0] / "genai_config.json").is_file()
    load_generator(str(tiny_model_dir), device="cpu", engine="onnx-fp32")  # converted once, then reused
    assert sorted((Path(model_cache) / "onnx").iterdir()) == built


def test_closing_an_onnx_generator_stops_and_joins_its_streams(tiny_model_dir, model_cache):
    import threading

    from raft.serve.generators import DecodingConfig, load_generator

    gen = load_generator(str(tiny_model_dir), device="cpu", engine="onnx-fp32")
    before = set(threading.enumerate())
    streams = [gen.open_stream(m, DecodingConfig(max_new_tokens=400)) for m in conversations(2, max_docs=2)]
    gen.close()
    assert [t for t in threading.enumerate() if t not in before] == []  # no generation thread left running
    for s in streams:
        list(s)
        assert s.finish_reason == "cancelled"
    with pytest.raises(RuntimeError, match="closed"):
        gen.open_stream(conversations(1)[0], DecodingConfig())
