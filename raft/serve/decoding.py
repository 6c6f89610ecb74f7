"""What every generator shares: decoding settings, a finished completion, the `Generator` interface,
and where an answer stops (the prompt contract's stop strings)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from raft import prompts
from raft.serve.streams import TokenStream


@dataclass(frozen=True)
class DecodingConfig:
    """Decoding settings shared by every system in a comparison."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    repetition_penalty: float = 1.0  # > 1 discourages tokens the model already generated (never the prompt's)


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    finish_reason: str = "stop"  # "length" when generation hit max_new_tokens before ending its turn


class Generator(Protocol):
    name: str

    def generate(
        self, conversations: list[list[dict]], cfg: DecodingConfig, batch_size: int = 8
    ) -> list[Completion]: ...

    def stream(self, messages: list[dict], cfg: DecodingConfig) -> Iterator[str]: ...

    def open_stream(
        self,
        messages: list[dict],
        cfg: DecodingConfig,
        stop: tuple[str, ...] = (),
        cancel: threading.Event | None = None,
    ) -> TokenStream: ...

    def count_tokens(self, text: str) -> int: ...

    def close(self) -> None:
        """Cancel every running stream and refuse new ones; a generation thread left running while the
        process exits can abort it."""
        ...


def cut_at_stop(text: str) -> tuple[str, bool]:
    """`text` up to the first stop string of the prompt contract, and whether one was found."""
    cuts = [text.find(s) for s in prompts.STOP_STRINGS if s in text]
    return (text[: min(cuts)], True) if cuts else (text, False)
