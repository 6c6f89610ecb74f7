"""Shared checks for GGUF exports: greedy answers of the file against the merged model rounded to f16."""

from __future__ import annotations

from pathlib import Path


def prompt_ids(tokenizer, conversations: list[list[dict]]) -> list[list[int]]:
    """The contract's prompts as the exported tokenizer renders them (its template, generation prompt)."""
    return [
        tokenizer.apply_chat_template(m, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
        for m in conversations
    ]


def greedy(model, prompts: list[list[int]], max_new_tokens: int, stop: list[int]) -> list[list[int]]:
    """Greedy new tokens for each prompt, one at a time (no padding), cut after the first stop id."""
    import torch

    out = []
    with torch.no_grad():
        for ids in prompts:
            x = torch.tensor([ids])
            new = model.generate(
                x, attention_mask=torch.ones_like(x), max_new_tokens=max_new_tokens, do_sample=False,
                eos_token_id=stop, pad_token_id=stop[0], temperature=None, top_p=None, top_k=None,
            )[0, len(ids) :].tolist()  # fmt: skip
            out.append(new)
    return out


def load_reference(hf_dir: Path):
    """The export directory loaded in f16, then computed in fp32 (what an f16 GGUF file holds)."""
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float16).float().eval()


def load_gguf(gguf_file: Path):
    """The GGUF file as transformers reads it, dequantized to fp32."""
    import torch
    from transformers import AutoModelForCausalLM

    loaded = AutoModelForCausalLM.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name, dtype=torch.float32)
    return loaded.eval()


def load_pair(hf_dir: Path, gguf_file: Path):
    """(the reference, the GGUF file dequantized to fp32)."""
    return load_reference(hf_dir), load_gguf(gguf_file)


def next_token_agreement(reference, loaded, prompts: list[list[int]], answers: list[list[int]]) -> float:
    """Share of the reference's greedy answer tokens that `loaded` also predicts, read with teacher forcing
    (each position sees the reference's own prefix, so one early near-tie does not decide the rest)."""
    import torch

    same = total = 0
    with torch.no_grad():
        for ids, answer in zip(prompts, answers, strict=True):
            if not answer:
                continue
            x = torch.tensor([ids + answer])
            span = slice(len(ids) - 1, len(ids) + len(answer) - 1)
            a = reference(x).logits[0, span].argmax(-1)
            b = loaded(x).logits[0, span].argmax(-1)
            same += int((a == b).sum())
            total += len(answer)
    return same / max(total, 1)
