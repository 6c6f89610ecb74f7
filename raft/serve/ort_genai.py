"""`--engine onnx-int4|onnx-fp32`: generation with ONNX Runtime GenAI on CPU, behind the Generator interface.

The model (a LoRA run merged first, with `raft.models.export.export`) is converted once with ONNX Runtime
GenAI's own model builder (`python -m onnxruntime_genai.models.builder -p int4|fp32 -e cpu`) into a cache
directory keyed by the weights' files (`$RAFT_MODEL_CACHE/onnx`, default `~/.cache/raft/models/onnx`).
Prompts are rendered by the model's own tokenizer and chat template, exactly as `LocalGenerator` renders
them; generation stops at every stop id of the contract and at its stop strings. Requests run one at a
time (no batching); `onnx-fp32` gives fp32's greedy answers, `onnx-int4` trades some of them for speed.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from raft.errors import RaftError
from raft.serve.decoding import Completion, DecodingConfig
from raft.serve.streams import StreamUsage, TokenStream

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'raft-builder[onnx]' (ONNX Runtime GenAI)"


def _import_og() -> Any:
    try:
        import onnxruntime_genai as og
    except ImportError:
        raise RaftError(f"the onnx engines need ONNX Runtime GenAI: {INSTALL_HINT}") from None
    return og


def onnx_model_dir(ref: Any, precision: str, trust_remote_code: bool = False) -> Path:
    """The ONNX Runtime GenAI export of `ref` (base or merged LoRA run), built once and cached."""
    from raft import artifacts
    from raft.models.offline import cache_dir, resolve

    source = Path(ref.adapter) if ref.adapter else Path(resolve(ref.base))
    if not source.is_dir():
        raise RaftError(f"the onnx engines need a local model directory, not {ref.base!r}")
    files = sorted(p for p in source.iterdir() if p.suffix in (".safetensors", ".json"))
    key = artifacts.fingerprint([precision, str(source.resolve())] + [(p.name, p.stat().st_mtime_ns) for p in files])
    out = cache_dir() / "onnx" / f"{source.name}-{precision}-{key}"
    if (out / "genai_config.json").is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.tmp-", dir=out.parent) as tmp:
        hf_dir = source
        if ref.adapter:  # fold the adapter in first: the builder reads plain Hugging Face weights
            from raft.models.export import export

            hf_dir = export(source, Path(tmp) / "merged", trust_remote_code=trust_remote_code)
        log.info("converting %s for ONNX Runtime GenAI (%s, once)", source, precision)
        cmd = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(hf_dir), "-o",
               str(Path(tmp) / "onnx"), "-p", precision, "-e", "cpu", "-c", str(Path(tmp) / "cache")]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1][:200]
            raise RaftError(f"ONNX Runtime GenAI cannot convert {source} ({last})")
        (Path(tmp) / "onnx").replace(out)
    return out


class OrtGenaiGenerator:
    """One ONNX Runtime GenAI model: greedy or sampled generation, one request at a time."""

    def __init__(self, ref: Any, precision: str, name: str | None = None, trust_remote_code: bool = False) -> None:
        from transformers import GenerationConfig

        from raft.models.loading import load_tokenizer, stop_token_ids
        from raft.prompts import chat_adaptation

        og = _import_og()
        self.ref, self.device = ref, "cpu"
        self.name = name or Path(ref.adapter or ref.base).name
        tok_source = ref.adapter if ref.adapter else ref.base
        self.tokenizer = load_tokenizer(tok_source, trust_remote_code=trust_remote_code)
        if not self.tokenizer.chat_template:
            raise RaftError(f"model {tok_source} has no chat template; use an instruct/chat model")
        self.model = og.Model(str(onnx_model_dir(ref, precision, trust_remote_code)))
        self._og = og
        try:
            gen_cfg = GenerationConfig.from_pretrained(ref.base)
        except OSError:
            gen_cfg = None
        self._eos = stop_token_ids(self.tokenizer, gen_cfg)
        self.adaptation = chat_adaptation(self.tokenizer)
        self._lock = threading.Lock()
        self._streams: dict[threading.Thread, TokenStream] = {}  # pump thread -> its stream, while it runs
        self._streams_lock = threading.Lock()
        self._closed = False

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def count_prompt_tokens(self, messages: list[dict]) -> int:
        return self.count_tokens(self._render(messages))

    def _render(self, messages: list[dict]) -> str:
        from raft.prompts import render_prompt

        return render_prompt(self.tokenizer, messages, self.adaptation)

    def _run(
        self, prompt: str, cfg: DecodingConfig, stop: tuple[str, ...], on_text: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> tuple[str, int, int, str]:  # fmt: skip
        """(text up to a stop, prompt tokens, new tokens, finish reason) for one prompt."""
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        params = self._og.GeneratorParams(self.model)
        options: dict[str, Any] = {"max_length": len(ids) + cfg.max_new_tokens, "do_sample": cfg.temperature > 0}
        if cfg.temperature > 0:
            options.update(temperature=cfg.temperature, top_p=cfg.top_p, random_seed=cfg.seed)
        params.set_search_options(**options)
        new: list[int] = []
        text, sent, reason = "", 0, "length"
        with self._lock:
            if cancel is not None and cancel.is_set():  # cancelled while queued behind another: no prefill
                return text, len(ids), 0, "cancelled"
            gen = self._og.Generator(self.model, params)
            gen.append_tokens(ids)
            while len(new) < cfg.max_new_tokens and not gen.is_done():
                if cancel is not None and cancel.is_set():
                    reason = "cancelled"
                    break
                gen.generate_next_token()
                token = int(gen.get_next_tokens()[0])
                if token in self._eos:
                    reason = "stop"
                    break
                new.append(token)
                text = self.tokenizer.decode(new, skip_special_tokens=True)
                cuts = [text.find(s) for s in stop if s in text]
                if cuts:
                    text, reason = text[: min(cuts)], "stop"
                elif text.endswith("\ufffd"):
                    continue  # half of a multi-byte character: wait for the rest
                if on_text is not None and len(text) > sent:
                    on_text(text[sent:])
                    sent = len(text)
                if reason == "stop":
                    break
            else:
                reason = "stop" if gen.is_done() and len(new) < cfg.max_new_tokens else reason
        return text, len(ids), len(new), reason

    def generate(
        self, conversations: list[list[dict]], cfg: DecodingConfig, batch_size: int = 8
    ) -> list[Completion]:
        """Generate for each conversation in turn (`batch_size` is accepted and unused)."""
        from raft import prompts

        out = []
        for messages in conversations:
            t0 = time.perf_counter()
            text, n_prompt, n_new, reason = self._run(self._render(messages), cfg, prompts.STOP_STRINGS)
            out.append(Completion(text.strip(), n_prompt, n_new, time.perf_counter() - t0, reason))
        return out

    def stream(self, messages: list[dict], cfg: DecodingConfig) -> Iterator[str]:
        from raft import prompts

        yield from self.open_stream(messages, cfg, stop=prompts.STOP_STRINGS)

    def open_stream(
        self,
        messages: list[dict],
        cfg: DecodingConfig,
        stop: tuple[str, ...] = (),
        cancel: threading.Event | None = None,
        seeded: bool = False,
    ) -> TokenStream:
        """Generate in a thread; the TokenStream yields the text, then tells why it ended."""
        out = TokenStream(cancel)
        prompt = self._render(messages)

        def pump() -> None:
            try:
                _, n_prompt, n_new, reason = self._run(prompt, cfg, tuple(s for s in stop if s), out.put, out.cancel_event)
                out.finish(reason, StreamUsage(n_prompt, n_new))
            except BaseException as exc:  # handed to the consumer
                out.finish(None, error=exc)
            finally:
                with self._streams_lock:
                    self._streams.pop(threading.current_thread(), None)

        thread = threading.Thread(target=pump, name="raft-onnx-stream", daemon=True)
        with self._streams_lock:
            if self._closed:
                raise RuntimeError("the generator is closed")
            self._streams[thread] = out
        thread.start()
        return out

    def close(self) -> None:
        """Cancel every running stream (each stops within one token) and join its thread."""
        with self._streams_lock:
            self._closed = True
            running = list(self._streams.items())
        for _, stream in running:
            stream.cancel()
        for thread, _ in running:
            if thread is not threading.current_thread():
                thread.join()
