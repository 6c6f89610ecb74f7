"""The compatibility matrix: every model family users bring, through train, merge, eval, chat, serve, export.

Each family is a tiny random-init model of the real `model_type` with a tokenizer carrying the family's
published chat template and special-token conventions (tests/families.py), first taught to answer
every prompt with a fixed answer, the family's turn end, then junk: generation that does not stop at
the turn end shows the junk.
"""

import json
import sys
import threading
import time
from pathlib import Path

import pytest

from raft import prompts
from tests.conftest import SAMPLE_QUESTIONS
from tests.families import (
    FAMILY_NAMES,
    JUNK,
    build_family_model,
    contract_texts,
    corpus_texts,
    family,
    teach_fixed_answer,
    train_base_bpe,
)

pytestmark = pytest.mark.slow


def answered_and_stopped(text: str, n_tokens: int, budget: int) -> bool:
    """The taught answer, then a stop: the budget is not used up and nothing after the turn end shows."""
    return "Yes" in (prompts.extract_answer(text) or "") and JUNK.strip() not in text and n_tokens < budget


def _questions(n: int) -> list[dict]:
    return [json.loads(line) for line in SAMPLE_QUESTIONS.read_text().splitlines()[:n]]


def conversations(n: int, offset: int = 0, max_docs: int = 4) -> list[list[dict]]:
    """RAFT prompts with 0 to `max_docs` passages, so lengths differ within a batch."""
    qs = _questions(offset + n + max_docs)
    out = []
    for i in range(offset, offset + n):
        docs = [prompts.Document(q["doc_id"], q["passage"]) for q in qs[i + 1 : i + 1 + i % (max_docs + 1)]]
        out.append(prompts.build_messages(qs[i]["question"], docs))
    return out


class Matrix:
    """Builds each family's base model and trained run once, on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bpe = train_base_bpe(corpus_texts() + contract_texts())
        self.dataset = _make_dataset(root / "dataset")
        self._bases: dict[str, Path] = {}
        self._runs: dict[str, tuple[Path, dict]] = {}

    def base(self, name: str) -> Path:
        if name not in self._bases:
            out = build_family_model(family(name), self.bpe, self.root / name / "base")
            teach_fixed_answer(out, conversations(15, max_docs=2), steps=family(name).teach_steps)
            self._bases[name] = out
        return self._bases[name]

    def run(self, name: str) -> tuple[Path, dict]:
        """A `raft train` LoRA run (2 steps, merged) and the first training batch it saw."""
        if name not in self._runs:
            from transformers import TrainerCallback

            from raft.train.sft import TrainConfig, train

            seen: dict = {}

            class FirstBatch(TrainerCallback):
                def on_train_begin(self, args, state, control, train_dataloader=None, **kwargs):
                    seen.update({k: v.clone() for k, v in next(iter(train_dataloader)).items()})

            out = self.root / name / "run"
            cfg = TrainConfig(
                dataset=self.dataset, out=out, base_model=str(self.base(name)), max_steps=2, batch_size=4,
                grad_accum=1, eval_steps=100, logging_steps=1, lr=1e-4, max_length=2048, lora_r=4,
                lora_alpha=8, merge=True,
            )  # fmt: skip
            train(cfg, callbacks=[FirstBatch()])
            self._runs[name] = (out, seen)
        return self._runs[name]


def _make_dataset(out: Path) -> Path:
    from tests.conftest import make_dataset

    return make_dataset(out, n_train=8, n_eval=2)


@pytest.fixture(scope="module")
def matrix(tmp_path_factory) -> Matrix:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 64-wide models: one thread is as fast, and spins no CPU away
    yield Matrix(tmp_path_factory.mktemp("families"))
    torch.set_num_threads(threads)


def tokenizer_of(path: Path):
    from raft.models.loading import load_tokenizer

    return load_tokenizer(str(path))


# ---- conventions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_tokenizer_conventions_are_read_from_the_model(matrix, name):
    from transformers import GenerationConfig

    from raft.models.loading import stop_token_ids, turn_end_ids

    fam = family(name)
    base = matrix.base(name)
    tok = tokenizer_of(base)
    ids = tok.convert_tokens_to_ids
    assert tok.pad_token is not None  # set explicitly when the family ships none (Llama 3, Mistral)
    if fam.pad is None:
        assert tok.pad_token == (fam.unk or fam.eos)
    assert turn_end_ids(tok) == [ids(fam.turn_end)]
    stops = stop_token_ids(tok, GenerationConfig.from_pretrained(base))
    assert {ids(t) for t in (fam.turn_end, fam.eos, *fam.generation_eos)} == set(stops)
    assert prompts.chat_adaptation(tok) == fam.adaptation
    messages = prompts.adapt_messages(prompts.build_messages("Why?", []), fam.adaptation)
    rendered = tok.apply_chat_template(messages, add_generation_prompt=True)["input_ids"]
    if fam.add_bos:  # the template writes BOS and the tokenizer would add one: exactly one survives
        assert tok("x")["input_ids"][0] == tok.bos_token_id
        assert rendered[0] == tok.bos_token_id and rendered[1] != tok.bos_token_id


# ---- train ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_dry_run_accepts_the_family(matrix, name, monkeypatch, capsys, tmp_path):
    from raft.cli import main

    args = ["train", str(matrix.dataset), "-o", str(tmp_path / "m"), "--base-model", str(matrix.base(name))]
    monkeypatch.setattr(sys, "argv", ["raft", *args, "--dry-run"])
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    assert code in (0, None), out.err
    assert f'"chat_adaptation": {json.dumps(family(name).adaptation)}' in out.out
    assert "| train | 8 |" in out.out and not (tmp_path / "m").exists()


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_lora_steps_mask_the_prompt_and_train_the_turn_end(matrix, name):
    from raft import artifacts

    fam = family(name)
    run_dir, batch = matrix.run(name)
    tok = tokenizer_of(matrix.base(name))
    adaptation = fam.adaptation
    kwargs = prompts.template_kwargs(adaptation)
    prompt_texts = {
        tok.apply_chat_template(
            prompts.adapt_messages(p, adaptation), tokenize=False, add_generation_prompt=True, **kwargs
        )
        for p in _dataset_prompts(matrix.dataset)
    }
    turn_end = tok.convert_tokens_to_ids(fam.turn_end)
    for ids, labels, mask in zip(batch["input_ids"], batch["labels"], batch["attention_mask"], strict=True):
        ids, labels = ids[mask.bool()].tolist(), labels[mask.bool()].tolist()
        first = next(i for i, label in enumerate(labels) if label != -100)
        assert all(label == -100 for label in labels[:first])  # every prompt token is masked ...
        assert tok.decode(ids[:first]) in prompt_texts  # ... and the prompt is exactly the rendered one
        assert all(label != -100 for label in labels[first:])  # the whole completion is learned,
        assert turn_end in labels[first:]  # its turn-end token included
        if fam.bos:
            assert ids[:2].count(tok.bos_token_id) <= 1
    manifest = artifacts.read_manifest(run_dir, "model")
    assert manifest["prompt"].get("chat_adaptation") == adaptation
    assert json.loads((run_dir / "raft_prompt.json").read_text()) == manifest["prompt"]
    targets = {
        t.split(".")[-1] for t in json.loads((run_dir / "adapter_config.json").read_text())["target_modules"]
    }
    assert set(fam.lora_targets) <= targets  # all-linear reaches the family's (fused) projections


def _dataset_prompts(dataset: Path) -> list:
    from datasets import load_from_disk

    return list(load_from_disk(str(dataset / "hf"))["train"]["prompt"])


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_adapter_reloads_and_merges_to_the_same_tokens(matrix, name):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    run_dir, _ = matrix.run(name)
    tok = tokenizer_of(run_dir)
    messages = prompts.adapt_messages(conversations(1, offset=20, max_docs=2)[0], family(name).adaptation)
    enc = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    greedy = dict(max_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id)
    with torch.no_grad():
        tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(matrix.base(name)), run_dir)
        merged = AutoModelForCausalLM.from_pretrained(run_dir / "merged")
        a = tuned.generate(**enc, **greedy)[0].tolist()
        b = merged.generate(**enc, **greedy)[0].tolist()
    assert a == b


# ---- generation: eval, chat engine, serve ---------------------------------------------------------


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_batched_generation_stops_at_the_turn_end(matrix, name):
    from raft.serve.generators import DecodingConfig, load_generator

    run_dir, _ = matrix.run(name)
    gen = load_generator(str(run_dir), device="cpu")  # the path `raft eval` takes
    assert gen.tokenizer.padding_side == "left"
    convs = conversations(4, offset=10, max_docs=2)
    cfg = DecodingConfig(max_new_tokens=24)
    batched = gen.generate(convs, cfg, batch_size=5)
    single = [gen.generate([c], cfg, batch_size=1)[0] for c in convs]
    for b, s in zip(batched, single, strict=True):
        assert answered_and_stopped(b.text, b.completion_tokens, cfg.max_new_tokens), b
        assert (b.text, b.completion_tokens) == (s.text, s.completion_tokens)  # left padding changes nothing


@pytest.fixture(scope="module")
def engine(matrix, sample_index):
    from raft.index.retriever import Retriever
    from raft.serve.engine import ChatEngine
    from raft.serve.generators import load_generator

    gens = {name: load_generator(str(matrix.run(name)[0]), device="cpu", name=name) for name in FAMILY_NAMES}
    return ChatEngine(Retriever.load(sample_index), gens)


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_chat_engine_streams_the_answer(engine, name):
    from raft.serve.engine import ChatSettings

    settings = ChatSettings(k=1, max_new_tokens=24)
    retrieval = engine.retrieve("How do I reset my password?", settings=settings)
    updates = list(engine.stream(retrieval, name, settings))
    final = updates[-1]
    assert final.done and len(updates) >= 2
    n_tokens = engine.generator(name).count_tokens(final.raw)
    assert answered_and_stopped(final.raw, n_tokens, settings.max_new_tokens), final.raw


@pytest.fixture(scope="module")
def server(engine):
    import uvicorn

    from raft.serve.api import create_app
    from tests.servers import free_port

    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(engine), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}/v1"
    srv.should_exit = True
    thread.join(timeout=20)


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_serve_streams_the_answer_to_the_openai_client(server, engine, name):
    import openai

    client = openai.OpenAI(base_url=server, api_key="unused", max_retries=0, timeout=120)
    stream = client.chat.completions.create(
        model=name,
        messages=[{"role": "user", "content": "How do I reset my password?"}],
        max_tokens=24,
        temperature=0,
        stream=True,
        extra_body={"k": 1},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].choices[0].finish_reason == "stop"
    raw = chunks[-1].model_extra["raft"]["raw"]
    assert "Yes" in text and answered_and_stopped(raw, engine.generator(name).count_tokens(raw), 24), raw


# ---- export for serving engines -------------------------------------------------------------------


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_export_reloads_with_plain_transformers_and_stops_at_the_turn_end(matrix, name, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    from raft.models.export import export
    from raft.serve.generators import DecodingConfig, load_generator

    fam = family(name)
    run_dir, _ = matrix.run(name)
    out = export(run_dir, tmp_path / "served")
    assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()
    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out)
    gen_cfg = GenerationConfig.from_pretrained(out)
    eos = gen_cfg.eos_token_id if isinstance(gen_cfg.eos_token_id, list) else [gen_cfg.eos_token_id]
    assert tok.convert_tokens_to_ids(fam.turn_end) in eos
    # The exported template takes the contract's messages (system included) as they are.
    messages = conversations(1, offset=15, max_docs=2)[0]
    enc = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():  # what an engine does: the template, generation_config's stop ids, greedy
        new = model.generate(**enc, max_new_tokens=24)[0, enc["input_ids"].shape[1] :]
    text = tok.decode(new, skip_special_tokens=True)
    assert answered_and_stopped(text, len(new), 24), text
    ours = load_generator(str(run_dir), device="cpu").generate([messages], DecodingConfig(max_new_tokens=24))[
        0
    ]
    assert text.strip() == ours.text


# ---- GGUF for llama.cpp and Ollama ----------------------------------------------------------------

GGUF_FAMILIES = ["llama3", "qwen2.5", "mistral", "smollm2"]


@pytest.mark.parametrize("name", GGUF_FAMILIES)
def test_gguf_export_gives_the_same_greedy_answers_and_stops_at_the_turn_end(matrix, name, tmp_path):
    from gguf import GGUFReader
    from transformers import AutoTokenizer

    from raft.models.export import export
    from raft.models.gguf import RAFT_STOP_KEY, export_gguf
    from tests.gguf_roundtrip import greedy, load_pair, prompt_ids

    fam = family(name)
    run_dir, _ = matrix.run(name)  # a LoRA run: the adapter is folded in by the export
    hf_dir = export(run_dir, tmp_path / "hf")
    tok = AutoTokenizer.from_pretrained(hf_dir)
    turn_end = tok.convert_tokens_to_ids(fam.turn_end)
    prompts_ = prompt_ids(tok, conversations(6, offset=15, max_docs=2))
    stops = sorted({turn_end, *(tok.convert_tokens_to_ids(t) for t in (fam.eos, *fam.generation_eos))})
    answers = {}
    for quant in ("f16", "q8_0"):
        file = export_gguf(run_dir, tmp_path / f"gguf-{quant}", quant=quant)
        reference, loaded = load_pair(hf_dir, file)
        expected = greedy(reference, prompts_, 24, stops)
        answers[quant] = (greedy(loaded, prompts_, 24, stops), expected)
        # The file names the turn end as EOS and EOT, and carries every stop id.
        fields = GGUFReader(str(file)).fields
        assert fields["tokenizer.ggml.eos_token_id"].contents() == turn_end
        assert fields["tokenizer.ggml.eot_token_id"].contents() == turn_end
        assert sorted(fields[RAFT_STOP_KEY].contents()) == stops
        assert (file.parent / "Modelfile").read_text().count(f'PARAMETER stop "{fam.turn_end}"') == 1
    got, expected = answers["f16"]
    assert got == expected  # token-identical to the merged model with f16 weights
    got, expected = answers["q8_0"]
    assert sum(g == e for g, e in zip(got, expected, strict=True)) >= 0.9 * len(expected)
    # The taught answer ends at the turn end, as with the model's own template: nothing after it.
    for new in answers["f16"][0]:
        assert new[-1] == turn_end and len(new) < 24
        assert answered_and_stopped(tok.decode(new, skip_special_tokens=True), len(new), 24)


@pytest.mark.parametrize("name", GGUF_FAMILIES)
def test_gguf_template_ends_a_turn_where_the_models_template_does(matrix, name, tmp_path):
    from gguf import GGUFReader
    from transformers import AutoTokenizer

    from raft.models.gguf import export_gguf
    from raft.models.modelfile import chat_pieces

    fam = family(name)
    run_dir, _ = matrix.run(name)
    file = export_gguf(run_dir, tmp_path / "gguf", quant="f16")
    own = tokenizer_of(run_dir)
    from_file = AutoTokenizer.from_pretrained(file.parent, gguf_file=file.name)
    eos = GGUFReader(str(file)).fields["tokenizer.ggml.eos_token_id"].contents()
    messages = prompts.adapt_messages(conversations(1, offset=3, max_docs=1)[0], fam.adaptation)
    messages = [*messages, {"role": "assistant", "content": "<ANSWER>: Yes."}, {"role": "user", "content": "More?"}]
    kwargs = prompts.template_kwargs(fam.adaptation)
    ours = own.apply_chat_template(messages, tokenize=False, **kwargs)
    theirs = from_file.apply_chat_template(messages, tokenize=False, **kwargs)
    after_answer = ours.split("<ANSWER>: Yes.", 1)[1]
    assert theirs.split("<ANSWER>: Yes.", 1)[1] == after_answer
    assert after_answer.startswith(fam.turn_end) and from_file.convert_ids_to_tokens(eos) == fam.turn_end
    # The Ollama template's pieces rebuild the file's rendering of system, user, assistant, user, prompt.
    p = chat_pieces(from_file)
    system, user = conversations(1, offset=3, max_docs=1)[0]
    full_messages = [system, user, messages[-2], messages[-1]]
    rebuilt = (
        p.before_system + system["content"] + p.after_system + user["content"] + p.after_user + "<ANSWER>: Yes."
        + p.after_assistant + "More?" + p.after_user
    )  # fmt: skip
    full = from_file.apply_chat_template(full_messages, tokenize=False, add_generation_prompt=True)
    assert full in (rebuilt, (from_file.bos_token or "") + rebuilt)
