"""Which local engine runs a model's weights on this machine: the `--engine` of eval, chat and serve.

Both engines are transformers with the KV cache; they differ in the weights' dtype. `torch-fp32` is
the reference. `torch-bf16` halves the memory read per token and runs matrix products in bfloat16
(fast on CPUs with AVX512-BF16 or AMX; greedy answers may differ from fp32 in a few tokens). The
figures behind the default are in tests/benchmarks/RESULTS.md (tests/benchmarks/bench_engines.py).
"""

from __future__ import annotations

from typing import Any

from raft.errors import RaftError

ENGINES = ("torch-fp32", "torch-bf16")
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
    if engine is None:
        if device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        engine = DEFAULT_CPU_ENGINE
    return torch.bfloat16 if engine == "torch-bf16" else torch.float32
