"""Text generation behind one interface (raft.serve.decoding): local transformers weights (+ PEFT adapter) or any
OpenAI-compatible chat-completions endpoint (raft.serve.openai_client: vLLM, SGLang, Ollama, a hosted API,
`raft serve`).

Eval, chat, serve and the LLM teacher all generate through `load_generator(spec)`.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raft import prompts
from raft.errors import RaftError
from raft.prompts import PROMPT_VERSION
from raft.serve.decoding import Completion, DecodingConfig, Generator, cut_at_stop
from raft.serve.openai_client import OpenAIGenerator
from raft.serve.streams import TokenStream, UpstreamError

log = logging.getLogger(__name__)

_OPENAI_SPEC = re.compile(r"^openai:(https?://[^/\s]+(?:/[^:\s]*)?):(.+)$")


@dataclass(frozen=True)
class ModelRef:
    """A resolved model: base weights, an optional adapter, and the prompt contract it was trained with."""

    base: str
    adapter: str | None
    prompt_version: str | None


def resolve_model(spec: str, adapter: str | Path | None = None, force_prompt: bool = False) -> ModelRef:
    """Turn a base id/path or a `raft train` MODEL_DIR (+ optional adapter) into a ModelRef, checking the prompt."""
    from raft.artifacts import MANIFEST, read_manifest
    from raft.models.loading import check_model_source

    base, adapter_dir, contract = str(spec), None, None
    adapter_hint = "raft train DATASET -o MODEL_DIR --base-model BASE"
    if adapter is not None:  # a wrong --adapter is named as such, before anything about --model
        read_manifest(Path(adapter), "model", adapter_hint)
    check_model_source(spec, "--model")
    if Path(spec).is_dir() and (Path(spec) / MANIFEST).is_file():
        kind = json.loads((Path(spec) / MANIFEST).read_text()).get("kind")
        if kind == "model":
            if adapter is not None:
                raise RaftError(f"--model {spec} is a `raft train` MODEL_DIR (it brings its own adapter); drop "
                                "--adapter, or pass the base model as --model and the trained one as --adapter")
            manifest = read_manifest(Path(spec), "model")
            contract = manifest.get("prompt") or {}
            if manifest.get("adapter"):
                base, adapter_dir = str(manifest["base_model"]), str(spec)
    if adapter is not None:
        manifest = read_manifest(Path(adapter), "model", adapter_hint)
        if not manifest.get("adapter"):
            raise RaftError(f"{adapter} holds full weights, not an adapter; pass it as the model itself")
        trained_on = str(manifest.get("base_model"))
        if _norm_model_id(trained_on) != _norm_model_id(base):
            raise RaftError(
                f"adapter {adapter} was trained on base model {trained_on}, not {base}; pass that base model"
            )
        adapter_dir, contract = str(adapter), manifest.get("prompt") or {}
    if contract is not None and not force_prompt:
        prompts.check_contract(
            contract, f"model {adapter_dir or spec}", "retrain it, or pass --force-prompt to use it anyway"
        )
    version = contract.get("version") if contract is not None else None
    return ModelRef(base=base, adapter=adapter_dir, prompt_version=version)


def _norm_model_id(ref: str) -> str:
    p = Path(ref)
    return str(p.resolve()) if p.exists() else ref.rstrip("/")


def load_generator(
    spec: str,
    adapter: str | Path | None = None,
    device: str | None = None,
    force_prompt: bool = False,
    name: str | None = None,
    trust_remote_code: bool = False,
    merge: bool = True,
    engine: str | None = None,
) -> Generator:
    """A Generator for `spec`: an HF id/path, a `raft train` MODEL_DIR, or `openai:URL:MODEL`.

    A LoRA adapter is merged into an in-memory copy of the base weights (`merge=False` keeps the
    PEFT wrapper, which generates several times slower); the files on disk are never changed.
    """
    if spec.startswith("openai:"):
        m = _OPENAI_SPEC.match(spec)
        if not m:
            raise RaftError(f"cannot parse {spec!r}; write openai:URL:MODEL, e.g. openai:http://127.0.0.1:8000/v1:raft")
        return OpenAIGenerator(m.group(1), m.group(2), name=name)
    ref = resolve_model(spec, adapter, force_prompt)
    from raft.serve.engines import ONNX_PRECISION, check_engine

    check_engine(engine)
    if engine in ONNX_PRECISION:
        if device not in (None, "cpu"):
            raise RaftError(f"--engine {engine} runs on the CPU; drop --device {device}")
        from raft.serve.ort_genai import OrtGenaiGenerator

        return OrtGenaiGenerator(ref, ONNX_PRECISION[engine], name=name, trust_remote_code=trust_remote_code)
    return LocalGenerator(
        ref, device=device, name=name, trust_remote_code=trust_remote_code, merge=merge, engine=engine
    )


class LocalGenerator:
    """transformers weights (+ PEFT adapter): batched left-padded generation and token streaming.

    Streams of concurrent requests share batches (see `raft.serve.batching`); `generate` (eval) runs its
    own batches; both hold the model lock while they decode.
    """

    def __init__(
        self,
        ref: ModelRef,
        device: str | None = None,
        name: str | None = None,
        merge: bool = True,
        trust_remote_code: bool = False,
        max_batch: int = 16,
        engine: str | None = None,
    ) -> None:
        import torch

        from raft.models.loading import load_causal_lm, load_tokenizer, stop_token_ids
        from raft.prompts import chat_adaptation
        from raft.serve.engines import engine_dtype

        self.ref = ref
        self.name = name or (Path(ref.adapter).name if ref.adapter else Path(ref.base).name or ref.base)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = engine_dtype(engine, self.device)
        tok_source = ref.adapter if ref.adapter and _has_tokenizer(Path(ref.adapter)) else ref.base
        self.tokenizer = load_tokenizer(tok_source, trust_remote_code=trust_remote_code)
        model = load_causal_lm(ref.base, trust_remote_code=trust_remote_code, dtype=dtype)
        if ref.adapter:
            from peft import PeftModel

            try:
                model = PeftModel.from_pretrained(model, ref.adapter)
            except (RuntimeError, ValueError, OSError) as exc:
                raise RaftError(
                    f"adapter {ref.adapter} does not fit base model {ref.base} ({str(exc).splitlines()[0][:160]}); "
                    "pass the base model it was trained on"
                ) from None
            if merge:  # the weights were just loaded, so this merges into our own copy
                model = model.merge_and_unload()
        self.merged = bool(ref.adapter) and merge
        if not self.tokenizer.chat_template:
            raise RaftError(f"model {tok_source} has no chat template; use an instruct/chat model")
        self.tokenizer.padding_side = "left"
        self.model = model.to(self.device).eval()
        self._lock = threading.Lock()
        self._eos = stop_token_ids(self.tokenizer, self.model.generation_config)
        self.adaptation = chat_adaptation(self.tokenizer)
        from raft.serve.batching import BatchScheduler

        self.scheduler = BatchScheduler(self, max_batch=max_batch)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def close(self) -> None:
        """Stop the streaming loop thread (streams waiting or running are cancelled)."""
        self.scheduler.close()

    def count_prompt_tokens(self, messages: list[dict]) -> int:
        """Tokens the model reads for `messages`: the chat template's own tokens included."""
        return self.count_tokens(self._render(messages))

    def _render(self, messages: list[dict]) -> str:
        from raft.prompts import render_prompt

        return render_prompt(self.tokenizer, messages, self.adaptation)

    def _gen_kwargs(self, cfg: DecodingConfig) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "max_new_tokens": cfg.max_new_tokens,
            "eos_token_id": self._eos,
            "pad_token_id": self.tokenizer.pad_token_id,
            "stop_strings": list(prompts.STOP_STRINGS),
            "tokenizer": self.tokenizer,
        }
        if cfg.temperature > 0:
            kwargs.update(do_sample=True, temperature=cfg.temperature, top_p=cfg.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        return kwargs

    def generate(
        self, conversations: list[list[dict]], cfg: DecodingConfig, batch_size: int = 8
    ) -> list[Completion]:
        """Generate for many conversations, batched by similar length (left padding), in input order."""
        import torch

        texts = [self._render(m) for m in conversations]
        lengths = [self.count_tokens(t) for t in texts]
        order = sorted(range(len(texts)), key=lambda i: lengths[i])
        results: list[Completion | None] = [None] * len(texts)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            enc = self.tokenizer(
                [texts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(self.device)
            t0 = time.perf_counter()
            with self._lock, torch.inference_mode():
                if cfg.temperature > 0:
                    torch.manual_seed(cfg.seed + start)
                out = self.model.generate(**enc, **self._gen_kwargs(cfg), **_penalty(cfg, enc["input_ids"].shape[1]))
            seconds = time.perf_counter() - t0
            new = out[:, enc["input_ids"].shape[1] :]
            for row, i in enumerate(idx):
                ids = new[row].tolist()
                ended = next((j + 1 for j, t in enumerate(ids) if t in self._eos), None)
                n = ended or len([t for t in ids if t != self.tokenizer.pad_token_id] or ids)
                text, stopped = cut_at_stop(self.tokenizer.decode(ids[:n], skip_special_tokens=True))
                reason = "stop" if ended or stopped or n < cfg.max_new_tokens else "length"
                results[i] = Completion(text.strip(), lengths[i], n, seconds / len(idx), reason)
        return [r for r in results if r is not None]

    def stream(self, messages: list[dict], cfg: DecodingConfig) -> Iterator[str]:
        """Yield text pieces as they are generated (batched with concurrent streams), up to a contract stop string."""
        yield from self.open_stream(messages, cfg, stop=prompts.STOP_STRINGS)

    def open_stream(
        self,
        messages: list[dict],
        cfg: DecodingConfig,
        stop: tuple[str, ...] = (),
        cancel: threading.Event | None = None,
        seeded: bool = False,
    ) -> TokenStream:
        """Queue one generation; the TokenStream yields its text, then tells why it ended.

        `cancel` (or closing the iteration) stops it within one decoding step. Sampling with
        `seeded=True` runs alone so that the same seed gives the same text.
        """
        from raft.serve.batching import StreamRequest

        req = StreamRequest(
            prompt=self._render(messages),
            max_new_tokens=cfg.max_new_tokens,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            seed=cfg.seed if seeded else None,
            stop=tuple(s for s in stop if s),
            stream=TokenStream(cancel),
        )
        return self.scheduler.submit(req)


def _penalty(cfg: DecodingConfig, prompt_width: int) -> dict[str, Any]:
    """The repetition penalty as a logits processor that skips the (left-padded) prompt: a quote copied
    from the documents is not a repetition, a loop of the model's own text is."""
    if cfg.repetition_penalty == 1.0:
        return {}
    from transformers import LogitsProcessorList, RepetitionPenaltyLogitsProcessor

    processor = RepetitionPenaltyLogitsProcessor(cfg.repetition_penalty, prompt_ignore_length=prompt_width)
    return {"logits_processor": LogitsProcessorList([processor])}


def _has_tokenizer(path: Path) -> bool:
    return (path / "tokenizer_config.json").is_file()


__all__ = [
    "Completion",
    "DecodingConfig",
    "Generator",
    "LocalGenerator",
    "ModelRef",
    "OpenAIGenerator",
    "PROMPT_VERSION",
    "TokenStream",
    "UpstreamError",
    "load_generator",
    "resolve_model",
]
