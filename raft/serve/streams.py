"""One streamed generation as an iterator of text pieces that can be cancelled, and that reports why
it ended (`finish_reason`) and how many tokens it used once it is exhausted.

Local models (`raft.serve.batching`) and OpenAI-compatible endpoints (`raft.serve.openai_client.OpenAIGenerator`)
both hand their output to the consumer through a `TokenStream`: the producer calls `put` and
`finish` from its own thread, the consumer iterates; `cancel()` (or closing the iteration early)
sets the cancel event the producer checks at every decoding step.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from raft.errors import RaftError

FINISH_REASONS = ("stop", "length", "cancelled")


class UpstreamError(RaftError):
    """An OpenAI-compatible endpoint answered with an error: its HTTP status and message, passed on."""

    def __init__(self, status: int, message: str, url: str = "", code: str | None = None) -> None:
        super().__init__(f"{url} answered HTTP {status}: {message}" if url else message)
        self.status, self.message, self.code = status, message, code


@dataclass(frozen=True)
class StreamUsage:
    """Token counts of one generation, from the model's own tokenizer (chat template included)."""

    prompt_tokens: int
    completion_tokens: int


_END = object()


class TokenStream:
    """Text deltas of one generation; `finish_reason` and `usage` are set when the iteration ends."""

    def __init__(self, cancel: threading.Event | None = None) -> None:
        self.cancel_event = cancel or threading.Event()
        self.finish_reason: str | None = None
        self.usage: StreamUsage | None = None
        self.first_token_s: float | None = None
        self._queue: queue.Queue = queue.Queue()
        self._error: BaseException | None = None
        self._t0 = time.perf_counter()

    # producer side -------------------------------------------------------------------------
    def put(self, delta: str) -> None:
        if delta:
            if self.first_token_s is None:
                self.first_token_s = time.perf_counter() - self._t0
            self._queue.put(delta)

    def finish(
        self, reason: str | None, usage: StreamUsage | None = None, error: BaseException | None = None
    ) -> None:
        self.finish_reason, self.usage, self._error = reason, usage, error
        self._queue.put(_END)

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    # consumer side -------------------------------------------------------------------------
    def cancel(self) -> None:
        """Ask the producer to stop at its next step (a client went away)."""
        self.cancel_event.set()

    def __iter__(self) -> Iterator[str]:
        try:
            while True:
                item = self._queue.get()
                if item is _END:
                    break
                yield item
        finally:
            if self.finish_reason is None:  # closed before the end: the consumer is gone
                self.cancel()
        if self._error is not None:
            raise self._error
