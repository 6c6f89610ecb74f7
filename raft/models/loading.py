"""Loading a causal LM's tokenizer the same way in every command, and the facts generation needs from it.

Tokenizers differ by family: Llama 3 ships without a pad token and ends an assistant turn with
`<|eot_id|>` while its `eos_token` is `<|end_of_text|>`; Gemma ends turns with `<end_of_turn>`; Phi-3
with `<|end|>`. So the pad token is set here, explicitly, when a tokenizer has none, and generation
stops on the template's own turn end plus every id in `generation_config.eos_token_id` (often a list).
Remote code runs only when the user passes `--trust-remote-code`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from raft.errors import RaftError

log = logging.getLogger(__name__)

LOAD_HINT = (
    "pass a local model directory, an offline model (`raft pull smollm2-135m`), "
    "or a hub id reachable from this machine"
)


MODEL_KIND = "model"  # written by `raft train`, `raft merge` and `raft export`


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:160] if text else type(exc).__name__


def check_model_source(source: str, what: str = "model") -> None:
    """Refuse a raft artifact of another kind (a dataset, an index, an eval report) given as a model."""
    import json
    from pathlib import Path

    manifest = Path(source) / "manifest.json"
    try:
        kind = json.loads(manifest.read_text()).get("kind") if manifest.is_file() else MODEL_KIND
    except (OSError, ValueError, AttributeError):
        return
    if kind != MODEL_KIND:
        article = "an" if str(kind)[:1] in "aeiou" else "a"
        raise RaftError(f"{what} '{source}' is {article} {kind} directory, not a model; {LOAD_HINT}, "
                        "or a `raft train` MODEL_DIR")


def load_tokenizer(source: str, trust_remote_code: bool = False, what: str = "model") -> Any:
    """The tokenizer of `source` with a pad token set; a one-line RaftError when it cannot be loaded."""
    from transformers import AutoTokenizer

    from raft.models.offline import resolve

    check_model_source(source, what)
    try:
        tok = AutoTokenizer.from_pretrained(resolve(source), trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise RaftError(f"cannot load {what} '{source}' ({_first_line(exc)}); {LOAD_HINT}") from None
    ensure_pad_token(tok)
    return tok


def ensure_pad_token(tokenizer: Any) -> None:
    """Give a tokenizer without a pad token one: its unk token when it has one, else its eos token.

    Padding is always masked out (attention mask, labels -100), so the choice never reaches the loss;
    the unk token is preferred so that a pad position never reads as an end of turn.
    """
    if tokenizer.pad_token is not None:
        return
    choice = tokenizer.unk_token if tokenizer.unk_token is not None else tokenizer.eos_token
    if choice is None:
        raise RaftError("the tokenizer has no pad, unk or eos token; it cannot pad a batch")
    tokenizer.pad_token = choice
    log.info("tokenizer has no pad token; padding with %s", choice)


def turn_end_ids(tokenizer: Any) -> list[int]:
    """The special token(s) the chat template writes right after an assistant message's text."""
    from jinja2 import TemplateError

    marker = "RAFT-TURN-END-PROBE"
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": marker}]
    try:
        text = tokenizer.apply_chat_template(messages, tokenize=False)
    except TemplateError:
        return []
    tail = str(text).split(marker, 1)[-1] if marker in str(text) else ""
    ids = tokenizer(tail, add_special_tokens=False)["input_ids"] if tail else []
    special = set(tokenizer.all_special_ids) | {
        i for i, t in tokenizer.added_tokens_decoder.items() if getattr(t, "special", False)
    }
    return [ids[0]] if ids and ids[0] in special else []


def stop_token_ids(tokenizer: Any, generation_config: Any = None) -> list[int]:
    """Every id that ends generation: the template's turn end, generation_config's eos id(s), eos."""
    ids: set[int] = set(turn_end_ids(tokenizer))
    gen_eos = getattr(generation_config, "eos_token_id", None) if generation_config is not None else None
    for value in (gen_eos, tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    return sorted(ids)


def load_causal_lm(source: str, trust_remote_code: bool = False, **kwargs: Any) -> Any:
    """`AutoModelForCausalLM.from_pretrained(source)` with a one-line RaftError on failure."""
    from transformers import AutoModelForCausalLM

    from raft.models.offline import resolve

    check_model_source(source)
    try:
        return AutoModelForCausalLM.from_pretrained(resolve(source), trust_remote_code=trust_remote_code, **kwargs)
    except (OSError, ValueError) as exc:
        raise RaftError(f"cannot load model '{source}' ({_first_line(exc)}); {LOAD_HINT}") from None


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), so bf16 beats fp32 on it."""
    import torch

    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: ask torch what it vectorises with
        return torch.backends.cpu.get_cpu_capability() in ("AVX512_BF16", "AMX")
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))
