"""The offline tiny base model: tokenizer, chat template, determinism, pretraining, errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from raft import prompts
from raft.errors import RaftError
from raft.models.tiny import CONTRACT_TOKENS, TinyModelConfig, build_tiny_model, init_model

WORDS = "printer network password reset account email laptop ticket driver router login backup".split()


def small_corpus(root: Path) -> Path:
    """A few Markdown files of repetitive helpdesk text (enough for a BPE vocabulary)."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(6):
        lines = [f"# Guide {i}", ""] + [
            " ".join(WORDS[(i + j + k) % len(WORDS)] for k in range(10)) + "." for j in range(30)
        ]
        (root / f"guide{i}.md").write_text("\n".join(lines))
    return root


def tiny_cfg(out: Path, corpus: Path, **kw) -> TinyModelConfig:
    base = dict(out=out, corpus=corpus, hidden_size=32, intermediate_size=64, layers=1, heads=2, kv_heads=1)
    base.update(pretrain_steps=4, seq_len=32, batch_size=2, vocab_size=500)
    base.update(kw)
    return TinyModelConfig(**base)


def test_fixture_model_loads_with_plain_transformers(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    manifest = json.loads((tiny_model_dir / "manifest.json").read_text())
    assert manifest["kind"] == "base-model"
    assert manifest["pretrain_final_loss"] < manifest["pretrain_first_loss"]
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert model.config.tie_word_embeddings
    assert tok.pad_token == "<|pad|>" and tok.eos_token == "<|im_end|>"
    assert model.generation_config.eos_token_id == tok.convert_tokens_to_ids("<|im_end|>")
    messages = prompts.build_messages("How do I reset it?", [prompts.Document("Router", "Hold the button.")])
    enc = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**enc, max_new_tokens=5, do_sample=False)
    new = out[0, enc["input_ids"].shape[1] :]
    assert 1 <= len(new) <= 5
    # Greedy decoding by hand, one forward pass per token, gives the same tokens: plain transformers runs it.
    ids = enc["input_ids"]
    for _ in range(len(new)):
        next_id = model(input_ids=ids).logits[0, -1].argmax()
        ids = torch.cat([ids, next_id.view(1, 1)], dim=1)
    assert ids[0, enc["input_ids"].shape[1] :].tolist() == new.tolist()


def test_chat_template_masks_only_the_assistant_turn(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    answer = f"{prompts.format_quote('Hold the button.')} {prompts.ANSWER_TAG} hold it"
    messages = prompts.build_messages("Q?", []) + [{"role": "assistant", "content": answer}]
    enc = tok.apply_chat_template(messages, return_assistant_tokens_mask=True, return_dict=True)
    kept = [i for i, m in zip(enc["input_ids"], enc["assistant_masks"], strict=True) if m]
    assert tok.decode(kept) == answer + "<|im_end|>"
    prompt = tok.apply_chat_template(messages[:2], add_generation_prompt=True, tokenize=False)
    assert prompt.endswith("<|im_start|>assistant\n")


def test_contract_markers_are_single_tokens(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    for marker in CONTRACT_TOKENS:
        assert len(tok(marker, add_special_tokens=False)["input_ids"]) == 1, marker
    text = f"{prompts.BEGIN_QUOTE}Hold it.{prompts.END_QUOTE} {prompts.ANSWER_TAG} yes"
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text


def test_same_seed_same_weights_other_seed_differs(tmp_path):
    from safetensors.torch import load_file

    corpus = small_corpus(tmp_path / "docs")
    a = build_tiny_model(tiny_cfg(tmp_path / "a", corpus, seed=1))
    b = build_tiny_model(tiny_cfg(tmp_path / "b", corpus, seed=1))
    c = build_tiny_model(tiny_cfg(tmp_path / "c", corpus, seed=2))
    wa, wb, wc = (load_file(p / "model.safetensors") for p in (a, b, c))
    assert wa.keys() == wb.keys()
    assert all((wa[k] == wb[k]).all() for k in wa)
    assert any((wa[k] != wc[k]).any() for k in wa)
    assert (a / "tokenizer.json").read_text() == (b / "tokenizer.json").read_text()


def test_bf16_autocast_is_recorded_and_changes_training(tmp_path):
    import torch
    from safetensors.torch import load_file

    corpus = small_corpus(tmp_path / "docs")
    fp32 = build_tiny_model(tiny_cfg(tmp_path / "fp32", corpus, bf16=False, copy_steps=3))
    bf16 = build_tiny_model(tiny_cfg(tmp_path / "bf16", corpus, bf16=True, copy_steps=3))
    assert json.loads((fp32 / "manifest.json").read_text())["settings"]["bf16"] is False
    assert json.loads((bf16 / "manifest.json").read_text())["settings"]["bf16"] is True
    wa, wb = (load_file(p / "model.safetensors") for p in (fp32, bf16))
    assert all(w.dtype == torch.float32 for w in wb.values())  # autocast: the weights stay fp32
    assert any((wa[k] != wb[k]).any() for k in wa)


def test_zero_pretrain_steps_gives_random_init(tmp_path):
    """No training step: the saved weights are exactly a fresh seeded init; one step moves them."""
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    corpus = small_corpus(tmp_path / "docs")
    cfg = tiny_cfg(tmp_path / "m", corpus, pretrain_steps=0)
    out = build_tiny_model(cfg)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["pretrain_final_loss"] is None
    saved = load_file(out / "model.safetensors")
    fresh = init_model(cfg, AutoTokenizer.from_pretrained(out)).state_dict()
    assert saved and all((saved[k] == fresh[k]).all() for k in saved)
    trained = load_file(build_tiny_model(tiny_cfg(tmp_path / "t", corpus, pretrain_steps=1)) / "model.safetensors")
    assert any((saved[k] != trained[k]).any() for k in saved)


def test_missing_corpus_and_existing_output_are_user_errors(tmp_path):
    with pytest.raises(RaftError, match="does not exist"):
        build_tiny_model(tiny_cfg(tmp_path / "m", tmp_path / "nope"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RaftError, match="no readable documents"):
        build_tiny_model(tiny_cfg(tmp_path / "m", empty))
    out = tmp_path / "taken"
    out.mkdir()
    (out / "x").write_text("x")
    with pytest.raises(RaftError, match="--overwrite"):
        build_tiny_model(tiny_cfg(out, small_corpus(tmp_path / "docs")))


def test_cli_reports_missing_corpus_in_one_line(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "raft",
            "tiny-model",
            "-o",
            str(tmp_path / "m"),
            "--corpus",
            str(tmp_path / "x"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "does not exist" in proc.stderr


def test_copy_drill_rows_quote_a_verbatim_slice_of_their_own_window(tmp_path):
    from raft.models.tiny import copy_batches, corpus_ids, read_corpus_texts, train_tokenizer

    corpus = small_corpus(tmp_path / "c")
    tok = train_tokenizer(read_corpus_texts(corpus), 500, 512)
    cfg = tiny_cfg(tmp_path / "m", corpus, copy_batch_size=6, copy_context=(16, 40))
    begin, end = (tok.convert_tokens_to_ids(t) for t in (prompts.BEGIN_QUOTE, prompts.END_QUOTE))
    x, y, mask = next(copy_batches(corpus_ids(tok, read_corpus_texts(corpus)), tok, cfg))
    for ids, labels, m in zip(x.tolist(), y.tolist(), mask.tolist(), strict=True):
        ids = ids[: sum(m)]
        at = ids.index(begin)
        window, quoted = ids[:at], [t for t in labels if t != -100]
        assert quoted[-1] == end and ids[at + 1 :] == quoted and 16 <= len(window) <= 40
        piece = quoted[:-1]
        assert any(window[i : i + len(piece)] == piece for i in range(len(window) - len(piece) + 1))


@pytest.mark.parametrize("arch", ["lfm2", "llama"])
def test_both_shapes_train_and_load_with_plain_transformers(tmp_path, arch):
    from transformers import AutoModelForCausalLM

    corpus = small_corpus(tmp_path / "c")
    out = build_tiny_model(tiny_cfg(tmp_path / "m", corpus, arch=arch, layers=2, copy_steps=6, copy_context=(16, 40)))
    manifest = json.loads((out / "manifest.json").read_text())
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.model_type == arch and manifest["architecture"] == type(model).__name__
    assert manifest["copy_final_loss"] < manifest["copy_first_loss"]
    if arch == "lfm2":
        assert model.config.layer_types == ["conv", "full_attention"]
    with pytest.raises(RaftError, match="--arch"):
        build_tiny_model(tiny_cfg(tmp_path / "x", corpus, arch="gpt9"))
