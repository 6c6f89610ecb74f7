"""Which local engine runs a model's weights on this machine: the `--engine` of eval, chat and serve.

The torch engines are transformers with the KV cache and batching; they differ in the weights' dtype.
`torch-fp32` is the reference. `torch-bf16` halves the memory read per token and runs matrix products
in bfloat16 (fast on CPUs with AVX512-BF16 or AMX; greedy answers may differ from fp32 in a few tokens).
The onnx engines run ONNX Runtime GenAI's own CPU export of the model (`raft.serve.ort_genai`, the
optional extra `onnx`), in fp32 or with int4 weights. The figures behind the default are in
tests/benchmarks/RESULTS.md (tests/benchmarks/bench_engines.py).
"""

from __future__ import annotations

from typing import Any

from raft.errors import RaftError

ENGINES = ("torch-fp32", "torch-bf16", "onnx-fp32", "onnx-int4")
ONNX_PRECISION = {"onnx-fp32": "fp32", "onnx-int4": "int4"}  # raft.serve.ort_genai (ONNX Runtime GenAI, CPU)
# The default until a measurement on the target machine says otherwise (bench_engines.py): fp32 keeps
# eval's greedy answers identical to every earlier report.
DEFAULT_CPU_ENGINE = "torch-fp32"


def check_engine(engine: str | None) -> None:
    if engine is not None and engine not in ENGINES:
        raise RaftError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")


def engine_dtype(engine: str | None, device: str) -> Any:
    """The torch dtype of the weights for `engine` on `device` (None: bf16 on a bf16 GPU, else the CPU default)."""
    import torch

    check_engine(engine)
    if engine in ONNX_PRECISION:
        raise RaftError(f"{engine} has no torch dtype; it runs through raft.serve.ort_genai")
    if engine is None:
        if device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        engine = DEFAULT_CPU_ENGINE
    return torch.bfloat16 if engine == "torch-bf16" else torch.float32
