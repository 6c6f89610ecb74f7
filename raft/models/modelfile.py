"""The Ollama `Modelfile` and the run instructions written next to an exported GGUF file.

Ollama renders prompts with a Go template, not the model's Jinja one, so the template is derived
from the Jinja template by rendering a probe conversation and cutting it at the message texts
(`chat_pieces`). With the Modelfile's SYSTEM set, Ollama always sends system, user, assistant,
user, ... and the four pieces around those texts rebuild the Jinja rendering exactly (the contract's
chat adaptation, such as the system prompt moved into the first user turn, included).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from raft import prompts
from raft.errors import RaftError

_PROBE = ("RAFT-SYSTEM-PROBE", "RAFT-USER-PROBE", "RAFT-ASSISTANT-PROBE", "RAFT-NEXT-USER-PROBE")


@dataclass(frozen=True)
class ChatPieces:
    """The template's text around each message: before the system text, after it, after a user text
    (the generation prompt), after an assistant text (up to the next user text)."""

    before_system: str
    after_system: str
    after_user: str
    after_assistant: str


def chat_pieces(tokenizer: Any) -> ChatPieces:
    """Cut a rendering of [system, user, assistant, user] + generation prompt at the message texts."""
    system, user, answer, user2 = _PROBE
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": user},
        {"role": "assistant", "content": answer},
        {"role": "user", "content": user2},
    ]
    text = str(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))
    cuts = [text.find(p) for p in _PROBE]
    if any(c < 0 for c in cuts) or cuts != sorted(cuts):
        raise RaftError("the chat template does not render messages in order; cannot write an Ollama TEMPLATE")
    ends = [c + len(p) for c, p in zip(cuts, _PROBE, strict=True)]
    before_system = text[: cuts[0]]
    if tokenizer.bos_token and before_system.startswith(tokenizer.bos_token) and _adds_bos(tokenizer):
        before_system = before_system[len(tokenizer.bos_token) :]  # the runtime adds BOS itself
    pieces = ChatPieces(
        before_system=before_system,
        after_system=text[ends[0] : cuts[1]],
        after_user=text[ends[1] : cuts[2]],
        after_assistant=text[ends[2] : cuts[3]],
    )
    if text[ends[3] :] != pieces.after_user:
        raise RaftError("the chat template's generation prompt differs between turns; cannot write an Ollama TEMPLATE")
    return pieces


def _adds_bos(tokenizer: Any) -> bool:
    ids = tokenizer("a")["input_ids"]
    return bool(ids) and ids[0] == tokenizer.bos_token_id


def go_template(pieces: ChatPieces) -> str:
    """The Ollama (Go text/template) TEMPLATE for these pieces (no `{{-`: the pieces' whitespace is text)."""
    for piece in (pieces.before_system, pieces.after_system, pieces.after_user, pieces.after_assistant):
        if "{{" in piece or '"""' in piece:
            raise RaftError("the chat template's text cannot be quoted in an Ollama TEMPLATE")
    return (
        "{{ range .Messages }}"
        '{{ if eq .Role "system" }}' + pieces.before_system + "{{ .Content }}" + pieces.after_system
        + '{{ else if eq .Role "user" }}{{ .Content }}' + pieces.after_user
        + '{{ else if eq .Role "assistant" }}{{ .Content }}' + pieces.after_assistant
        + "{{ end }}{{ end }}"
    )  # fmt: skip


def modelfile(gguf_name: str, pieces: ChatPieces, stop_tokens: tuple[str, ...]) -> str:
    """An Ollama Modelfile: the file, the template, the contract's system prompt, greedy, every stop."""
    stops = list(dict.fromkeys([*stop_tokens, *prompts.STOP_STRINGS]))
    lines = [
        f"FROM ./{gguf_name}",
        f'TEMPLATE """{go_template(pieces)}"""',
        f'SYSTEM """{prompts.SYSTEM_PROMPT}"""',
        "PARAMETER temperature 0",
    ]
    lines += [f'PARAMETER stop """{s}"""' if "\n" in s else f'PARAMETER stop "{s}"' for s in stops]
    return "\n".join(lines) + "\n"


def readme(gguf_name: str, model_name: str) -> str:
    """How to run the exported file with llama.cpp's server and with Ollama, then query it from raft."""
    return f"""# {model_name}: GGUF for llama.cpp and Ollama

Written by `raft export --format gguf`: the merged model (LoRA folded in) in `{gguf_name}`, with its
tokenizer, chat template and stop tokens; `Modelfile` holds the same prompt contract for Ollama.

## llama.cpp

```bash
llama-server -m {gguf_name} --jinja --temp 0 -c 4096 --port 8080
raft eval INDEX --qa QUESTIONS -o REPORT --system {model_name}=openai:http://127.0.0.1:8080/v1:{model_name}
```

## Ollama

```bash
ollama create {model_name} -f Modelfile
ollama run {model_name}
raft eval INDEX --qa QUESTIONS -o REPORT --system {model_name}=openai:http://127.0.0.1:11434/v1:{model_name}
```
"""
