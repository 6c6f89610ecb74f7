"""`--engine`: the weights' dtype of the local generator, chosen per command."""

import pytest

from raft.errors import RaftError


def test_bf16_engine_loads_bf16_weights_and_still_answers(tiny_model_dir):
    import torch

    from raft.serve.generators import DecodingConfig, load_generator

    messages = [{"role": "system", "content": "Answer."}, {"role": "user", "content": "What is RAFT?"}]
    fp32 = load_generator(str(tiny_model_dir), device="cpu")
    bf16 = load_generator(str(tiny_model_dir), device="cpu", engine="torch-bf16")
    assert next(fp32.model.parameters()).dtype == torch.float32
    assert next(bf16.model.parameters()).dtype == torch.bfloat16
    done = bf16.generate([messages], DecodingConfig(max_new_tokens=8))[0]
    assert 0 < done.completion_tokens <= 8
    assert "".join(bf16.stream(messages, DecodingConfig(max_new_tokens=4)))  # the batched stream path too


def test_an_unknown_engine_is_one_line():
    from raft.serve.engines import engine_dtype

    with pytest.raises(RaftError, match="unknown engine 'onnx'; choose one of torch-fp32, torch-bf16, onnx-fp32, onnx-int4"):
        engine_dtype("onnx", "cpu")


def test_eval_passes_the_engine_to_local_systems_only(tmp_path):
    from pathlib import Path

    from raft.eval.config import EvalConfig
    from raft.eval.systems import SystemSpec, run_systems
    from raft.serve.generators import Completion

    seen = {}

    class Recorder:
        def generate(self, conversations, cfg, batch_size=8):
            return [Completion("x", 1, 1, 0.0) for _ in conversations]

        def close(self):
            pass

    def loader(model, **kwargs):
        seen[model] = kwargs.get("engine")
        return Recorder()

    cfg = EvalConfig(index=Path("i"), qa=Path("q"), out=tmp_path, engine="torch-bf16", ttft_samples=0)
    specs = [SystemSpec("rag", "base-model"), SystemSpec("api", "openai:http://127.0.0.1:1/v1:m")]
    run_systems(specs, {"retrieved": [[{"role": "user", "content": "q"}]]}, cfg, loader=loader)
    assert seen == {"base-model": "torch-bf16", "openai:http://127.0.0.1:1/v1:m": None}
