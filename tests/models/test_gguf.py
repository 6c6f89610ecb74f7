"""GGUF export: the pieces that need no model (layouts, names, errors); round trips live in
tests/models/test_families.py (tiny models of each family) and tests/models/test_gguf_smollm2.py."""

import pytest

from raft.errors import RaftError


def test_rotary_permutation_is_what_transformers_gguf_reader_undoes():
    import numpy as np
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    from raft.models.gguf import permute_rotary

    rng = np.random.default_rng(0)
    q = rng.standard_normal((4 * 8, 16)).astype(np.float32)  # 4 heads of dim 8
    k = rng.standard_normal((2 * 8, 16)).astype(np.float32)  # 2 kv heads
    reader = LlamaTensorProcessor(config={"num_attention_heads": 4, "num_key_value_heads": 2})
    pq, pk = permute_rotary(q, 4, 4), permute_rotary(k, 4, 2)
    assert not np.array_equal(pq, q)  # llama.cpp's layout differs from Hugging Face's
    assert np.array_equal(reader.process(pq, "blk.0.attn_q.weight").weights, q)
    assert np.array_equal(reader.process(pk, "blk.0.attn_k.weight").weights, k)
    # llama.cpp interleaves each head's two rotary halves: row 1 of a head is row dim/2 of the HF head.
    assert np.array_equal(pq[1], q[4]) and np.array_equal(pk[8 + 1], k[8 + 4])


def test_an_unsupported_architecture_is_one_line_naming_the_supported_ones():
    from transformers import Gemma2Config

    from raft.models.gguf import check_architecture

    with pytest.raises(RaftError) as err:
        check_architecture(Gemma2Config(architectures=["Gemma2ForCausalLM"]))
    message = str(err.value)
    assert "\n" not in message and "Gemma2ForCausalLM" in message
    assert all(a in message for a in ("LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"))


def test_the_cli_refuses_an_unsupported_model_before_writing_anything(tmp_path):
    from transformers import Gemma2Config

    from raft import artifacts
    from tests.test_cli_basics import raft

    model = tmp_path / "model"
    model.mkdir()
    Gemma2Config(architectures=["Gemma2ForCausalLM"]).save_pretrained(model)
    artifacts.write_manifest(model, "model", {"adapter": False, "base_model": str(model), "prompt": {}})
    out = tmp_path / "out"
    result = raft("export", str(model), "-o", str(out), "--format", "gguf")
    assert result.returncode == 2 and "supported architectures" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind
    result = raft("export", str(model), "-o", str(out), "--quant", "q8_0")
    assert result.returncode == 2 and "--format gguf" in result.stderr


@pytest.mark.parametrize(
    "pre_tokenizer, name",
    [
        ({"type": "ByteLevel", "add_prefix_space": False, "use_regex": True}, "gpt-2"),
        (
            {"type": "Sequence", "pretokenizers": [
                {"type": "Digits", "individual_digits": True}, {"type": "ByteLevel", "use_regex": True}]},
            "smollm",
        ),
    ],
)  # fmt: skip
def test_pre_tokenizers_get_their_llama_cpp_names(pre_tokenizer, name):
    from raft.models.gguf import pre_tokenizer_name

    assert pre_tokenizer_name({"pre_tokenizer": pre_tokenizer}) == name


def test_qwen2_and_llama3_splits_are_recognised_and_an_unknown_one_refused():
    from transformers.integrations.gguf.gguf_tokenizer_mapping import _LLAMA3_SPLIT
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    from raft.models.gguf import pre_tokenizer_name

    def spec(regex):
        split = {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated"}
        return {"pre_tokenizer": {"type": "Sequence", "pretokenizers": [split, {"type": "ByteLevel", "use_regex": False}]}}

    assert pre_tokenizer_name(spec(PRETOKENIZE_REGEX)) == "qwen2"
    assert pre_tokenizer_name(spec(_LLAMA3_SPLIT)) == "llama-bpe"
    with pytest.raises(RaftError, match="cannot name this tokenizer's pre-tokenizer"):
        pre_tokenizer_name(spec(r"\s+"))


def test_the_turn_end_comes_first_among_the_stops():
    from raft.models.gguf import ordered_stops

    assert ordered_stops([2, 7, 9], [9]) == [9, 2, 7]
    assert ordered_stops([2, 7], []) == [2, 7]


def test_modelfile_quotes_multiline_stops_and_carries_the_contract():
    from raft import prompts
    from raft.models.modelfile import ChatPieces, modelfile

    pieces = ChatPieces("<|im_start|>system\n", "<|im_end|>\n<|im_start|>user\n",
                        "<|im_end|>\n<|im_start|>assistant\n", "<|im_end|>\n<|im_start|>user\n")  # fmt: skip
    text = modelfile("m-f16.gguf", pieces, ("<|im_end|>",))
    assert text.startswith("FROM ./m-f16.gguf\n")
    assert f'SYSTEM """{prompts.SYSTEM_PROMPT}"""' in text
    assert 'PARAMETER stop "<|im_end|>"' in text
    for stop in prompts.STOP_STRINGS:
        assert f'PARAMETER stop """{stop}"""' in text
    assert '{{ else if eq .Role "user" }}{{ .Content }}<|im_end|>\n<|im_start|>assistant\n{{ else' in text
    assert "{{-" not in text  # a trim marker would eat the template's newlines
