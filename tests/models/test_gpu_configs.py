"""The CUDA path's configuration, proven on CPU: the GPU benchmark's shapes, the QLoRA and LoRA configs
`raft train` builds, and the accelerate FSDP / DeepSpeed example configs (real GPU runs need a GPU)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "tests" / "benchmarks" / "bench_gpu_train.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_gpu_train", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("name", "billions"), [("0.5b", 0.5), ("1.5b", 1.5)])
def test_benchmark_shapes_have_the_advertised_size(bench, name, billions):
    params = bench.count_params(bench.SHAPES[name])  # on the meta device: nothing allocated
    assert abs(params["total"] / 1e9 - billions) / billions < 0.1, params
    assert params["non_embedding"] < params["total"]
    assert bench.flops_per_token(params["non_embedding"], "lora") == 4 * params["non_embedding"]
    assert bench.flops_per_token(params["non_embedding"], "full") == 6 * params["non_embedding"]


def test_peak_flops_is_known_for_the_usual_gpus(bench):
    assert bench.peak_flops("NVIDIA H200") == 989e12
    assert bench.peak_flops("NVIDIA A100-SXM4-80GB") == 312e12
    assert bench.peak_flops("Some GPU") is None and bench.peak_flops("Some GPU", 100.0) == 100e12


def test_qlora_and_lora_configs_build(bench, tmp_path):
    import torch
    from peft import LoraConfig

    from raft.train.config import TrainConfig
    from raft.train.hardware import lora_config

    q = bench.qlora_quantization_config()
    assert q.load_in_4bit and q.bnb_4bit_quant_type == "nf4" and q.bnb_4bit_compute_dtype == torch.bfloat16
    assert q.bnb_4bit_use_double_quant
    lora = lora_config(TrainConfig(dataset=tmp_path, out=tmp_path, base_model="m", qlora=True))
    assert isinstance(lora, LoraConfig) and lora.target_modules == "all-linear" and lora.r == 16


def test_qlora_on_cpu_is_refused_with_the_fix(tmp_path):
    import torch

    from raft.errors import RaftError
    from raft.train.config import TrainConfig
    from raft.train.hardware import hardware

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(RaftError, match="needs a CUDA GPU"):
        hardware(TrainConfig(dataset=tmp_path, out=tmp_path, base_model="m", qlora=True))


@pytest.mark.parametrize(
    ("name", "kind"),
    [("fsdp.yaml", "FSDP"), ("deepspeed_zero3.yaml", "DEEPSPEED"), ("ddp.yaml", "MULTI_GPU")],
)
def test_accelerate_example_configs_load(name, kind):
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(str(ROOT / "examples" / "accelerate" / name))
    assert str(cfg.distributed_type).endswith(kind) and cfg.mixed_precision == "bf16"
    if kind == "FSDP":
        assert cfg.fsdp_config["fsdp_version"] == 2
        assert cfg.fsdp_config["fsdp_state_dict_type"] == "FULL_STATE_DICT"
    if kind == "DEEPSPEED":
        assert cfg.deepspeed_config["zero_stage"] == 3 and cfg.deepspeed_config["zero3_save_16bit_model"]


def test_the_gpu_benchmark_exits_cleanly_without_cuda(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: run the benchmark itself")
    out = tmp_path / "table.md"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--out", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert "no CUDA device" in proc.stdout and not out.exists()
