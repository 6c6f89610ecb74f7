"""`raft export`: a trained model as one directory that serving engines load as it is.

vLLM and SGLang (`vllm serve DIR`, `python -m sglang.launch_server --model-path DIR`) read a plain
Hugging Face directory: `config.json`, safetensors weights, the tokenizer with its chat template, and
`generation_config.json`, whose `eos_token_id` list is what they stop on. So the export

- folds a LoRA adapter into its base weights (a full fine-tune is copied as it is);
- writes `generation_config.json` with every stop id of `raft.models.loading.stop_token_ids` (the template's
  turn end, e.g. Llama 3's `<|eot_id|>`, plus the base model's eos list), greedy by default;
- puts the prompt contract's chat adaptation into the chat template itself (see
  `raft.prompts.chat_adaptation`), so an engine that renders the template server-side sees the same
  prompt `raft` trained on even when a client sends a system message;
- keeps `raft_prompt.json` and a manifest, so `raft chat/serve/eval --model DIR` accept it too.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from raft import artifacts, prompts
from raft.errors import RaftError

log = logging.getLogger(__name__)

# Jinja prologue implementing prompts.SYSTEM_IN_FIRST_USER inside a chat template.
SYSTEM_IN_FIRST_USER_JINJA = (
    "{#- raft: the system message moves to the top of the first user turn (chat_adaptation "
    + prompts.SYSTEM_IN_FIRST_USER
    + ") -#}\n"
    "{%- if messages and messages[0]['role'] == 'system' -%}\n"
    "{%- if messages | length > 1 and messages[1]['role'] == 'user' -%}\n"
    "{%- set messages = [{'role': 'user', 'content': messages[0]['content'] + '\\n\\n' + messages[1]['content']}]"
    " + messages[2:] -%}\n"
    "{%- else -%}\n"
    "{%- set messages = [{'role': 'user', 'content': messages[0]['content']}] + messages[1:] -%}\n"
    "{%- endif -%}\n"
    "{%- endif -%}\n"
)


# Jinja prologue implementing prompts.NON_THINKING: the thinking switch defaults to off.
NON_THINKING_JINJA = (
    "{#- raft: thinking off unless the request turns it on (chat_adaptation "
    + prompts.NON_THINKING
    + ") -#}\n"
    "{%- if enable_thinking is not defined -%}{%- set enable_thinking = false -%}{%- endif -%}\n"
)


def adapted_template(template: str, adaptation: str | None) -> str:
    """The chat template with the contract's adaptation built in (unchanged when there is none)."""
    try:
        messages = prompts.adapt_messages([{"role": "system", "content": "s"}], adaptation)
        thinking_off = prompts.template_kwargs(adaptation)
    except ValueError as exc:
        raise RaftError(
            f"{exc} in the model's prompt contract; retrain it with this version of raft"
        ) from None
    prologue = SYSTEM_IN_FIRST_USER_JINJA if messages[0]["role"] == "user" else ""
    return prologue + (NON_THINKING_JINJA if thinking_off else "") + template


def export(model_dir: Path, out: Path, overwrite: bool = False, trust_remote_code: bool = False) -> Path:
    """Write `model_dir` (a `raft train` MODEL_DIR) as a self-contained, engine-ready model directory."""
    import torch
    from transformers import GenerationConfig

    from raft.models.loading import load_causal_lm, load_tokenizer, stop_token_ids

    model_dir = Path(model_dir)
    manifest = artifacts.read_manifest(model_dir, "model", "raft train DATASET -o MODEL_DIR")
    artifacts.check_output_dir(Path(out), overwrite, "model")
    contract = manifest.get("prompt") or {}
    adaptation = contract.get("chat_adaptation")
    tokenizer = load_tokenizer(str(model_dir), trust_remote_code=trust_remote_code)
    if manifest.get("adapter"):
        from peft import PeftModel

        base = load_causal_lm(str(manifest["base_model"]), trust_remote_code, dtype="auto")
        model = PeftModel.from_pretrained(base, str(model_dir)).merge_and_unload()
    else:
        model = load_causal_lm(str(model_dir), trust_remote_code, dtype="auto")
    if prompts.chat_adaptation(tokenizer) != adaptation:
        raise RaftError(
            f"{model_dir} records chat adaptation {adaptation!r} but its tokenizer's template needs "
            f"{prompts.chat_adaptation(tokenizer)!r}; retrain it with this version of raft"
        )
    stops = stop_token_ids(tokenizer, model.generation_config)
    gen = model.generation_config if model.generation_config is not None else GenerationConfig()
    gen.eos_token_id = stops if len(stops) > 1 else stops[0]
    gen.pad_token_id = tokenizer.pad_token_id
    gen.bos_token_id = tokenizer.bos_token_id
    gen.do_sample, gen.temperature, gen.top_p, gen.top_k = False, None, None, None
    model.generation_config = gen
    model.config.pad_token_id = tokenizer.pad_token_id
    tokenizer.chat_template = adapted_template(tokenizer.chat_template, adaptation)
    with artifacts.staging_dir(Path(out), overwrite) as tmp, torch.no_grad():
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        artifacts.write_json_atomic(tmp / "raft_prompt.json", contract)
        record: dict[str, Any] = {
            k: manifest.get(k) for k in ("base_model", "prompt", "dataset", "final_eval_loss", "method")
        }
        record |= {"adapter": False, "exported_from": str(model_dir.resolve()), "stop_token_ids": stops}
        artifacts.write_manifest(tmp, "model", record)
    log.info("exported %s -> %s (stop ids %s)", model_dir, out, stops)
    return Path(out)
