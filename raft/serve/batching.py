"""Batched streaming generation for a local model: concurrent requests share `model.generate` calls.

A single loop thread per model takes every waiting request with the same decoding settings (up to
`max_batch`), left-pads them into one batch and runs `generate`. Requests that arrive while a batch
runs join the next one. A `StoppingCriteria` sees every new token of every row at each decoding
step: it hands the row's new text to that request's `TokenStream`, and stops a row when its
end-of-sequence token, one of its stop strings, its own token budget or its cancel event (the
client went away) is reached. So a cancelled request stops within one decoding step, and a batch
whose rows are all finished releases the model at once.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from raft.serve.streams import StreamUsage, TokenStream

log = logging.getLogger(__name__)


@dataclass
class StreamRequest:
    """One request waiting for (or in) a batch."""

    prompt: str
    max_new_tokens: int
    temperature: float
    top_p: float
    seed: int | None
    stop: tuple[str, ...]
    stream: TokenStream
    ids: list[int] = field(default_factory=list)
    text: str = ""
    sent: int = 0
    done: bool = False
    prompt_tokens: int = 0

    @property
    def key(self) -> tuple:
        """Requests batch together only when `generate` would treat them the same way."""
        if self.temperature <= 0:
            return ("greedy",)
        if self.seed is not None:  # a seeded sample is reproducible only alone
            return ("seeded", id(self))
        return ("sample", self.temperature, self.top_p)


class _RowStopper:
    """The per-row StoppingCriteria: streams new text and decides which rows are finished."""

    def __init__(self, rows: list[StreamRequest], tokenizer: Any, eos: set[int], counts: Counter) -> None:
        self.rows, self.tokenizer, self.eos, self.counts = rows, tokenizer, eos, counts

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        last = input_ids[:, -1].tolist()
        flags = []
        for row, token in zip(self.rows, last, strict=True):
            if not row.done:
                self._step(row, token)
            flags.append(row.done)
        return torch.tensor(flags, dtype=torch.bool, device=input_ids.device)

    def _step(self, row: StreamRequest, token: int) -> None:
        if row.stream.cancelled:
            self._end(row, "cancelled")
            return
        row.ids.append(token)
        if token in self.eos:
            self._end(row, "stop")
            return
        text = self.tokenizer.decode(row.ids, skip_special_tokens=True)
        reason = None
        for s in row.stop:
            at = text.find(s)
            if at >= 0:
                text, reason = text[:at], "stop"
        row.text = text
        if reason is None and len(row.ids) >= row.max_new_tokens:
            reason = "length"
        if reason:
            self._end(row, reason)
            return
        hold = max((len(s) - 1 for s in row.stop), default=0)  # a stop string may be forming
        safe = len(text) - hold
        if text.endswith("\ufffd"):  # an incomplete multi-byte character
            safe = min(safe, len(text) - 1)
        if safe > row.sent:
            row.stream.put(text[row.sent : safe])
            row.sent = safe

    def _end(self, row: StreamRequest, reason: str) -> None:
        self.counts[reason] += 1
        if reason != "cancelled" and len(row.text) > row.sent:
            row.stream.put(row.text[row.sent :])
            row.sent = len(row.text)
        row.done = True
        row.stream.finish(reason, StreamUsage(row.prompt_tokens, len(row.ids)))


class BatchScheduler:
    """One loop thread per local model; `submit` returns the request's TokenStream at once."""

    def __init__(self, generator: Any, max_batch: int = 16) -> None:
        self.gen, self.max_batch = generator, max_batch
        self._pending: list[StreamRequest] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._running: list[StreamRequest] = []
        self.batches: list[int] = []  # sizes of the batches run so far (for tests and benchmarks)
        self.finished: Counter = Counter()  # finish reasons so far

    def submit(self, req: StreamRequest) -> TokenStream:
        with self._cond:
            if self._closed:
                raise RuntimeError("the batch scheduler is closed")
            self._pending.append(req)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="raft-batching", daemon=True)
                self._thread.start()
            self._cond.notify()
        return req.stream

    def close(self) -> None:
        """Cancel every stream, waiting or running (a running row stops within one decoding step), and join
        the loop thread, so that no generation runs on while the process exits."""
        with self._cond:
            self._closed = True
            for r in self._pending + self._running:
                r.stream.cancel()
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def _take(self) -> list[StreamRequest] | None:
        with self._cond:
            while not self._pending and not self._closed:
                self._cond.wait()
            if not self._pending:
                return None
            key = self._pending[0].key
            batch = [r for r in self._pending if r.key == key][: self.max_batch]
            self._pending = [r for r in self._pending if all(r is not b for b in batch)]
        return batch

    def _loop(self) -> None:
        while (taken := self._take()) is not None:
            batch = []
            for r in taken:
                if r.stream.cancelled:  # the client left while waiting: never reaches the model
                    r.done = True
                    self.finished["cancelled"] += 1
                    r.stream.finish("cancelled", StreamUsage(0, 0))
                else:
                    batch.append(r)
            if not batch:
                continue
            with self._cond:
                self._running = batch
                if self._closed:  # closed while this batch was taken: its rows are cancelled too
                    for r in batch:
                        r.stream.cancel()
            try:
                self._run(batch)
            except BaseException as exc:  # every waiting client gets the error
                log.exception("batched generation failed")
                for r in batch:
                    if not r.done:
                        r.done = True
                        r.stream.finish(None, error=exc)
            finally:
                with self._cond:
                    self._running = []

    def _run(self, batch: list[StreamRequest]) -> None:
        import torch
        from transformers import StoppingCriteriaList

        gen, tok = self.gen, self.gen.tokenizer
        enc = tok([r.prompt for r in batch], return_tensors="pt", padding=True, add_special_tokens=False)
        for i, r in enumerate(batch):
            r.prompt_tokens = int(enc["attention_mask"][i].sum())
        enc = enc.to(gen.device)
        first = batch[0]
        kwargs = {
            "max_new_tokens": max(r.max_new_tokens for r in batch),
            "eos_token_id": gen._eos,
            "pad_token_id": tok.pad_token_id,
            "stopping_criteria": StoppingCriteriaList(
                [_RowStopper(batch, tok, set(gen._eos), self.finished)]
            ),
        }
        if first.temperature > 0:
            kwargs.update(do_sample=True, temperature=first.temperature, top_p=first.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        self.batches.append(len(batch))
        with gen._lock, torch.inference_mode():
            if first.temperature > 0 and first.seed is not None:
                torch.manual_seed(first.seed)
            gen.model.generate(**enc, **kwargs)
        stopper = kwargs["stopping_criteria"][0]
        for r in batch:  # generate ended (budget reached) before a row said so
            if not r.done:
                stopper._end(r, "length")
