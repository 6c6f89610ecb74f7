"""The systems under test: parse `--system` specs, check them before any weights load, and run them."""

from __future__ import annotations

import gc
import logging
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raft import artifacts
from raft.errors import RaftError
from raft.eval.config import PENALTY_TORCH_ONLY, EvalConfig
from raft.serve.generators import DecodingConfig

if TYPE_CHECKING:
    from raft.serve.decoding import Generator

log = logging.getLogger(__name__)


_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


_OPENAI = re.compile(r"^openai:https?://[^/\s:]+(:\d+)?(/[^:\s]*)?:\S+$")


_HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")


@dataclass(frozen=True)
class SystemSpec:
    """One system under test: a name and the model it generates with."""

    name: str
    model: str
    adapter: str | None = None

    def describe(self) -> str:
        return f"{self.model} + {self.adapter}" if self.adapter else self.model


def parse_system(text: str) -> SystemSpec:
    """Parse `name=BASE`, `name=BASE:ADAPTER_DIR`, `name=MODEL_DIR` or `name=openai:URL:MODEL`."""
    fix = "write NAME=MODEL, NAME=BASE:ADAPTER_DIR, NAME=MODEL_DIR or NAME=openai:URL:MODEL"
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name or not value:
        raise RaftError(f"cannot parse system {text!r}; {fix}")
    if not _NAME.match(name):
        raise RaftError(f"system name {name!r} may hold only letters, digits, '_', '-' and '.'; {fix}")
    if value.startswith("openai:"):
        if not _OPENAI.match(value):
            raise RaftError(
                f"cannot parse {value!r}; write openai:URL:MODEL, e.g. openai:http://127.0.0.1:8000/v1:raft"
            )
        return SystemSpec(name, value)
    if Path(value).expanduser().exists() or ":" not in value:
        return SystemSpec(name, value)
    base, _, adapter = value.rpartition(":")
    if not base or not adapter:
        raise RaftError(f"cannot parse system {text!r}; {fix}")
    return SystemSpec(name, base, adapter)


def resolve_systems(cfg: EvalConfig) -> list[SystemSpec]:
    """The systems to compare, checked before any weights load (all problems reported at once)."""
    from raft.serve.generators import resolve_model

    specs: list[SystemSpec] = []
    if cfg.model is not None:
        manifest = artifacts.read_manifest(
            cfg.model, "model", "raft train DATASET -o MODEL_DIR --base-model BASE"
        )
        specs += [SystemSpec("rag", str(manifest["base_model"])), SystemSpec("raft", str(cfg.model))]
    specs += [parse_system(s) for s in cfg.systems]
    if not specs:
        raise RaftError("no system to evaluate; pass --model MODEL_DIR or one or more --system NAME=MODEL")
    problems = []
    names = [s.name for s in specs]
    problems += [f"system name {n!r} is used twice" for n in sorted({n for n in names if names.count(n) > 1})]
    for spec in specs:
        if spec.model.startswith("openai:"):
            if cfg.decoding.repetition_penalty != 1.0:  # the endpoint would apply its own rule, or none
                problems.append(f"{spec.name}: {PENALTY_TORCH_ONLY}")
            continue
        if not Path(spec.model).expanduser().exists() and not _HUB_ID.match(spec.model):
            problems.append(f"{spec.name}: model {spec.model} does not exist")
            continue
        try:
            resolve_model(spec.model, spec.adapter, force_prompt=cfg.force_prompt)
        except RaftError as exc:
            problems.append(f"{spec.name}: {exc}")
    if problems:
        raise RaftError("; ".join(problems))
    return specs


def _ttft(generator: Generator, conversations: Sequence[list[dict]], decoding: DecodingConfig) -> float | None:
    """Median seconds to the first streamed text piece over a few questions, one at a time; each stream is
    closed at its first piece (closing stops the generation), so measuring costs no whole answers."""
    times = []
    for messages in conversations:
        t0 = time.perf_counter()
        stream = generator.stream(messages, decoding)
        try:
            for _piece in stream:
                times.append(time.perf_counter() - t0)
                break
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
    return statistics.median(times) if times else None


def run_systems(
    specs: Sequence[SystemSpec],
    convs: dict[str, list[list[dict]]],
    cfg: EvalConfig,
    loader: Callable[..., Any] | None = None,
) -> tuple[dict, dict]:
    """Generate with every system under every condition; returns (outputs, cost) keyed by system."""
    from raft.serve.generators import load_generator

    loader = loader or load_generator
    outputs: dict[str, dict[str, list[str]]] = {}
    cost: dict[str, dict[str, Any]] = {}
    for spec in specs:
        log.info("loading %s (%s)", spec.name, spec.describe())
        remote = {"trust_remote_code": True} if cfg.trust_remote_code else {}
        if cfg.engine is not None and not spec.model.startswith("openai:"):
            remote["engine"] = cfg.engine
        gen = loader(
            spec.model, adapter=spec.adapter, device=cfg.device, force_prompt=cfg.force_prompt, name=spec.name,
            **remote,
        )
        outputs[spec.name], cost[spec.name] = {}, {"conditions": {}}
        for condition, conversations in convs.items():
            log.info("%s / %s: %d questions", spec.name, condition, len(conversations))
            t0 = time.perf_counter()
            done = gen.generate(conversations, cfg.decoding, batch_size=cfg.batch_size)
            seconds = time.perf_counter() - t0
            tokens = sum(c.completion_tokens for c in done)
            outputs[spec.name][condition] = [(c.text, c.finish_reason) for c in done]
            cost[spec.name]["conditions"][condition] = {
                "seconds": seconds,
                "completion_tokens": tokens,
                "prompt_tokens": sum(c.prompt_tokens for c in done),
                "tokens_per_s": tokens / seconds if seconds > 0 else None,
            }
        first = next(iter(convs.values()))[: cfg.ttft_samples]
        cost[spec.name]["ttft_s"] = _ttft(gen, first, cfg.decoding)
        cost[spec.name]["ttft_samples"] = len(first)
        cost[spec.name]["total_s"] = sum(c["seconds"] for c in cost[spec.name]["conditions"].values())
        gen.close()  # no generation thread outlives its system (one left running can abort the exit)
        del gen
        gc.collect()
    return outputs, cost
