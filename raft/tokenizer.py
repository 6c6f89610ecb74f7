"""The one tokenizer loader: every stage that counts, trains or generates loads its tokenizer here."""

from __future__ import annotations

from typing import Any

from raft.errors import RaftError


def load_tokenizer(name: str, chat_template: bool = False) -> Any:
    """AutoTokenizer for a model id or path, with a pad token; a one-line RaftError when it cannot load.

    `chat_template=True` also requires a chat template (training and generation need one). A tokenizer
    without a pad token pads with its EOS token (the attention mask keeps padding out of the loss).
    """
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise RaftError(
            f"cannot load the tokenizer of '{name}' ({first}); pass a local model directory "
            "(`raft tiny-model -o DIR` builds one offline) or a hub id reachable from this machine"
        ) from None
    if chat_template and not tok.chat_template:
        raise RaftError(f"model '{name}' has no chat template; use an instruct/chat model")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok
