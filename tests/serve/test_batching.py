"""Local streams: concurrent requests share batches, cancellation stops a row within one step, stop strings,
finish reasons and token counts; a LoRA adapter is merged for inference with identical greedy output."""

from __future__ import annotations

import threading
import time

import pytest

from raft.prompts import build_messages, contract
from raft.serve.generators import DecodingConfig, load_generator

DOCS = [{"title": "Battery", "text": "The battery lasts nine hours on a full charge."}]


def _conv(i: int = 0) -> list[dict]:
    return build_messages(f"How long does the battery last, case {i}?", DOCS)


@pytest.fixture(scope="module")
def local(tiny_model_dir):
    return load_generator(str(tiny_model_dir))


def test_concurrent_streams_are_batched_and_match_generate(local):
    cfg = DecodingConfig(max_new_tokens=12)
    convs = [_conv(i) for i in range(6)]
    expected = [c.text for c in local.generate(convs, cfg, batch_size=1)]
    local.scheduler.batches.clear()
    with local._lock:  # hold the model so that every request queues for the same batch
        streams = [local.open_stream(c, cfg) for c in convs]
        time.sleep(0.2)
    texts = ["".join(s).strip() for s in streams]
    assert texts == expected
    assert max(local.scheduler.batches) > 1  # the queued requests ran together
    assert all(s.finish_reason in ("stop", "length") and 0 < s.usage.completion_tokens <= 12 for s in streams)
    assert all(
        s.usage.prompt_tokens == local.count_prompt_tokens(c) for s, c in zip(streams, convs, strict=True)
    )


def test_finish_reason_length_and_token_counts(local):
    s = local.open_stream(_conv(), DecodingConfig(max_new_tokens=3))
    "".join(s)
    assert (s.finish_reason, s.usage.completion_tokens) == ("length", 3)


def test_stop_strings_cut_the_text_and_finish_with_stop(local):
    cfg = DecodingConfig(max_new_tokens=24)
    full = "".join(local.open_stream(_conv(), cfg))
    stop = full[6:8]  # the tiny model's text may be mostly whitespace: any two characters do
    s = local.open_stream(_conv(), cfg, stop=(stop,))
    assert "".join(s) == full[: full.find(stop)] and s.finish_reason == "stop"


def test_cancel_stops_a_row_within_one_step_and_frees_the_model(local):
    cancel = threading.Event()
    s = local.open_stream(_conv(), DecodingConfig(max_new_tokens=2000), cancel=cancel)
    it = iter(s)
    next(it)
    cancel.set()
    rest = list(it)
    assert s.finish_reason == "cancelled" and s.usage.completion_tokens < 50
    assert len(rest) <= 1  # at most the piece that was already decoded
    t0 = time.perf_counter()
    "".join(local.open_stream(_conv(), DecodingConfig(max_new_tokens=2)))
    assert time.perf_counter() - t0 < 20


def test_closing_the_iteration_cancels(local):
    s = local.open_stream(_conv(), DecodingConfig(max_new_tokens=2000))
    it = iter(s)
    next(it)
    it.close()  # the consumer is gone
    deadline = time.monotonic() + 30
    while s.finish_reason is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert s.cancelled and s.finish_reason == "cancelled" and s.usage.completion_tokens < 50


def test_seeded_sampling_is_reproducible(local):
    cfg = DecodingConfig(max_new_tokens=12, temperature=1.0, seed=3)
    a = "".join(local.open_stream(_conv(), cfg, seeded=True))
    b = "".join(local.open_stream(_conv(), cfg, seeded=True))
    assert a == b


@pytest.fixture(scope="module")
def lora_dir(tiny_model_dir, tmp_path_factory):
    """A LoRA adapter with non-zero weights (so it changes the output), saved as a `raft train` MODEL_DIR."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from raft.artifacts import write_manifest

    out = tmp_path_factory.mktemp("lora") / "model"
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    cfg = LoraConfig(
        r=8, lora_alpha=16, target_modules="all-linear", init_lora_weights=False, task_type="CAUSAL_LM"
    )
    model = get_peft_model(base, cfg)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(out)
    write_manifest(
        out,
        "model",
        {"base_model": str(tiny_model_dir), "adapter": True, "prompt": contract()},
    )
    return out


def test_lora_is_merged_for_inference_with_identical_greedy_output(lora_dir, tiny_model_dir):
    from peft import PeftModel

    merged = load_generator(str(lora_dir))
    unmerged = load_generator(str(lora_dir), merge=False)
    base = load_generator(str(tiny_model_dir))
    assert merged.merged and not isinstance(merged.model, PeftModel)
    assert not unmerged.merged and isinstance(unmerged.model, PeftModel)
    conv = _conv()
    enc = merged.tokenizer(merged._render(conv), return_tensors="pt", add_special_tokens=False)

    def greedy_ids(gen) -> list[int]:
        out = gen.model.generate(
            **enc, max_new_tokens=24, do_sample=False, pad_token_id=gen.tokenizer.pad_token_id
        )
        return out[0, enc["input_ids"].shape[1] :].tolist()

    assert greedy_ids(merged) == greedy_ids(unmerged)  # token for token
    import torch

    with torch.inference_mode():
        logits = {
            name: g.model(**enc).logits[0, -1] for name, g in (("m", merged), ("u", unmerged), ("b", base))
        }
    assert torch.allclose(logits["m"], logits["u"], atol=1e-4)
    assert (logits["m"] - logits["b"]).abs().max() > 1e-2  # the adapter does change the model
    cfg = DecodingConfig(max_new_tokens=16)
    assert [c.text for c in merged.generate([conv], cfg)] == [c.text for c in unmerged.generate([conv], cfg)]
    assert "".join(merged.stream(conv, cfg)) == "".join(unmerged.stream(conv, cfg))


def _loop_threads() -> int:
    return sum(t.name == "raft-batching" and t.is_alive() for t in threading.enumerate())


def test_close_cancels_running_streams_and_ends_the_loop_thread(tiny_model_dir):
    gen = load_generator(str(tiny_model_dir))
    before = _loop_threads()
    running = gen.open_stream(_conv(), DecodingConfig(max_new_tokens=2000))
    next(iter(running))
    assert _loop_threads() == before + 1
    t0 = time.perf_counter()
    gen.close()
    assert _loop_threads() == before and time.perf_counter() - t0 < 20
    assert running.finish_reason == "cancelled" and running.usage.completion_tokens < 50
    with pytest.raises(RuntimeError, match="closed"):
        gen.open_stream(_conv(), DecodingConfig(max_new_tokens=2))
