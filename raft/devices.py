"""The one rule for `--device`, shared by every command that takes it (index, search, generate, eval,
chat, serve): checked before any model loads, so a typo or a missing GPU is one line, not a traceback."""

from __future__ import annotations

import re

from raft.errors import RaftError

_DEVICE = re.compile(r"^(cpu|mps|(cuda|xpu)(:\d+)?)$")


def device_problem(device: str | None, several: bool = False) -> str | None:
    """What is wrong with `device` on this machine (None when it is usable or unset).

    `several` allows a comma-separated list (the encoding pool of `raft index`)."""
    if device is None:
        return None
    names = [d.strip() for d in device.split(",")] if several else [device.strip()]
    if not all(names) or (len(names) > 1 and not several):
        return f"--device {device!r} is not a device; use cpu, cuda or cuda:N"
    for name in names:
        if not _DEVICE.match(name):
            return f"--device {name!r} is not a device; use cpu, cuda, cuda:N or mps"
    return _availability(device, names)


def _availability(device: str, names: list[str]) -> str | None:
    import torch

    for name in names:
        kind, _, index = name.partition(":")
        if kind == "cuda":
            count = torch.cuda.device_count() if torch.cuda.is_available() else 0
            if count == 0:
                return f"--device {name}: torch sees no CUDA GPU on this machine; use --device cpu"
            if index and int(index) >= count:
                return f"--device {name}: torch sees {count} CUDA GPU(s) (cuda:0 to cuda:{count - 1}); pick one of them"
        elif kind == "mps" and not torch.backends.mps.is_available():
            return f"--device {name}: MPS is not available on this machine; use --device cpu"
        elif kind == "xpu" and not (hasattr(torch, "xpu") and torch.xpu.is_available()):
            return f"--device {name}: torch sees no XPU on this machine; use --device cpu"
    return None


def check_device(device: str | None, several: bool = False) -> None:
    """Raise the one-line RaftError for an unusable `device` (see `device_problem`)."""
    problem = device_problem(device, several)
    if problem:
        raise RaftError(problem)
