"""`raft train` / `raft merge` on the tiny model: artifacts, learning, resume, dry run, errors, DDP."""

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from raft import artifacts, prompts
from raft.errors import RaftError
from raft.train.config import TrainConfig, load_config
from raft.train.model_dir import merge
from raft.train.sft import train
from tests.conftest import ROOT, make_dataset, small_cfg


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("ds") / "dataset")


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, dataset_dir, tiny_model_dir) -> Path:
    out = tmp_path_factory.mktemp("runs") / "lora"
    train(small_cfg(dataset_dir, out, tiny_model_dir, merge=True))
    return out


def generate(model, tok, n_tokens: int = 12) -> list[int]:
    import torch

    messages = prompts.build_messages("How long does a password have to be?", [])
    enc = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=n_tokens, do_sample=False)
    return out[0, enc["input_ids"].shape[1] :].tolist()


def test_lora_run_writes_the_model_directory_contract(lora_run, dataset_dir):
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "chat_template.jinja"):
        assert (lora_run / name).is_file(), name
    for name in ("train_config.json", "train_log.jsonl", "loss.png", "README.md", "raft_prompt.json"):
        assert (lora_run / name).is_file(), name
    manifest = artifacts.read_manifest(lora_run, "model")
    assert manifest["adapter"] is True and manifest["prompt"] == prompts.contract()
    assert json.loads((lora_run / "raft_prompt.json").read_text()) == prompts.contract()
    assert manifest["dataset"] == str(dataset_dir.resolve())
    assert manifest["global_step"] == 6 and manifest["world_size"] == 1
    assert isinstance(manifest["final_train_loss"], float) and isinstance(manifest["final_eval_loss"], float)
    assert not (lora_run / "checkpoints").exists()
    # The checkpoints were deleted: the manifest names the best step, never a checkpoint path that is gone.
    assert manifest["best_step"] in (3, 6) and manifest["checkpoints"] is None
    assert not [v for v in manifest.values() if isinstance(v, str) and "checkpoint" in v and not Path(v).exists()]
    assert json.loads((lora_run / "lineage.json").read_text()) == json.loads((dataset_dir / "lineage.json").read_text())
    rows = [json.loads(line) for line in (lora_run / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "eval_loss" in r][:2] == [3, 6]
    assert "final eval loss" in (lora_run / "README.md").read_text()


def test_lora_training_moves_the_adapter_and_lowers_loss(lora_run):
    from safetensors.torch import load_file

    weights = load_file(lora_run / "adapter_model.safetensors")
    lora_b = [w for k, w in weights.items() if "lora_B" in k]
    assert lora_b and all(w.abs().sum() > 0 for w in lora_b)  # B starts at zero in PEFT
    losses = [
        r["loss"]
        for r in map(json.loads, (lora_run / "train_log.jsonl").read_text().splitlines())
        if "loss" in r
    ]
    assert losses[-1] < losses[0]


def test_adapter_reloads_and_merged_model_generates_the_same_tokens(lora_run, tiny_model_dir):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(lora_run)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), lora_run).eval()
    merged = AutoModelForCausalLM.from_pretrained(lora_run / "merged").eval()
    tokens = generate(adapted, tok)
    assert len(tokens) > 0 and tokens == generate(merged, tok)
    ids = torch.tensor([tokens])
    with torch.no_grad():
        assert not torch.allclose(base(input_ids=ids).logits, adapted(input_ids=ids).logits)
        torch.testing.assert_close(
            adapted(input_ids=ids).logits, merged(input_ids=ids).logits, rtol=1e-4, atol=1e-4
        )
    assert artifacts.read_manifest(lora_run / "merged", "model")["adapter"] is False


def test_merge_command_writes_a_plain_model(lora_run, tmp_path):
    out = merge(lora_run, tmp_path / "merged")
    assert (out / "model.safetensors").is_file() and (out / "raft_prompt.json").is_file()
    with pytest.raises(RaftError, match="--overwrite"):
        merge(lora_run, out)


def test_full_fine_tuning_changes_the_base_weights(dataset_dir, tiny_model_dir, tmp_path):
    from safetensors.torch import load_file

    out = tmp_path / "full"
    manifest = train(small_cfg(dataset_dir, out, tiny_model_dir, full=True, max_steps=2, lr=1e-3))
    assert manifest["adapter"] is False and not (out / "adapter_config.json").exists()
    before, after = load_file(tiny_model_dir / "model.safetensors"), load_file(out / "model.safetensors")
    changed = [k for k in before if k in after and not (before[k] == after[k]).all()]
    assert len(changed) > len(before) // 2


def test_resume_continues_from_the_last_checkpoint(dataset_dir, tiny_model_dir, tmp_path):
    from transformers import TrainerCallback

    class Crash(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:
                raise KeyboardInterrupt("simulated interruption")

    class FirstStep(TrainerCallback):
        first = None

        def on_step_begin(self, args, state, control, **kwargs):
            FirstStep.first = state.global_step if FirstStep.first is None else FirstStep.first

    out = tmp_path / "resumed"
    cfg = small_cfg(dataset_dir, out, tiny_model_dir, max_steps=4, eval_steps=2)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, callbacks=[Crash()])
    assert (out / "checkpoints" / "checkpoint-2").is_dir() and not (out / "manifest.json").exists()
    manifest = train(cfg, callbacks=[FirstStep()])
    assert FirstStep.first == 2 and manifest["global_step"] == 4
    steps = [json.loads(line)["step"] for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and steps.count(3) == 1
    with pytest.raises(RaftError, match="--overwrite"):
        train(cfg)


def test_resume_refuses_changed_settings(dataset_dir, tiny_model_dir, tmp_path):
    out = tmp_path / "partial"
    (out / "checkpoints" / "checkpoint-2").mkdir(parents=True)
    cfg = small_cfg(dataset_dir, out, tiny_model_dir)
    (out / "train_config.json").write_text(json.dumps({"lr": 1.0, "dataset": str(dataset_dir)}))
    with pytest.raises(RaftError, match="other settings"):
        train(cfg)


def test_yaml_config_with_flag_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("lr: 0.001\nbatch-size: 8\nlora_r: 32\nsft_args: {logging_first_step: true}\n")
    cfg = load_config(path, dataset="d", out="o", base_model="m", lora_r=4, epochs=None)
    assert (cfg.lr, cfg.batch_size, cfg.lora_r, cfg.epochs) == (0.001, 8, 4, 3.0)
    assert cfg.sft_args == {"logging_first_step": True}
    path.write_text("learning_rate: 1\nbatch: 2\n")
    with pytest.raises(RaftError, match="unknown keys.*batch, learning_rate"):
        load_config(path, dataset="d", out="o", base_model="m")
    with pytest.raises(RaftError, match="full and --qlora"):
        load_config(None, dataset="d", out="o", base_model="m", full=True, qlora=True)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "raft", *args], capture_output=True, text=True, env=env, cwd=ROOT
    )


def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """The CLI entry point in-process (same exit-code mapping as the console script)."""
    from raft.cli import main

    monkeypatch.setattr(sys, "argv", ["raft", *args])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main()
    return exc.value.code, capsys.readouterr().err


def test_dry_run_reports_lengths_and_refuses_cut_answers(dataset_dir, tiny_model_dir, tmp_path):
    ok = run_cli(
        "train", str(dataset_dir), "-o", str(tmp_path / "m"), "--base-model", str(tiny_model_dir), "--dry-run"
    )
    assert ok.returncode == 0, ok.stderr
    assert (
        "| train | 24 |" in ok.stdout and '"precision": "fp32"' in ok.stdout and not (tmp_path / "m").exists()
    )
    cut = run_cli(
        "train", str(dataset_dir), "-o", str(tmp_path / "m"), "--base-model", str(tiny_model_dir), "--dry-run",
        "--max-length", "64",
    )  # fmt: skip
    assert cut.returncode == 2
    assert (
        "24 of 24 train rows, 8 of 8 validation rows exceed --max-length 64" in cut.stderr
        and "raise --max-length" in cut.stderr
    )
    assert cut.stderr.strip().count("\n") == 0


def test_bad_inputs_are_one_line_errors(monkeypatch, capsys, dataset_dir, tiny_model_dir, tmp_path):
    base = ["--base-model", str(tiny_model_dir)]
    wrong = tmp_path / "wrong"
    shutil.copytree(dataset_dir, wrong)
    from datasets import Dataset, DatasetDict

    shutil.rmtree(wrong / "hf")
    DatasetDict(train=Dataset.from_list([{"question": "q", "answer": "a"}])).save_to_disk(str(wrong / "hf"))
    finished = tmp_path / "finished"
    finished.mkdir()
    artifacts.write_manifest(finished, "model", {"adapter": True})
    cases = {
        "does not exist": ["train", str(tmp_path / "missing"), "-o", str(tmp_path / "a"), *base],
        "lacks column(s) completion, prompt": ["train", str(wrong), "-o", str(tmp_path / "b"), *base],
        "cannot load base model 'nobody/no-such-model'": [
            "train", str(dataset_dir), "-o", str(tmp_path / "c"), "--base-model", "nobody/no-such-model",
        ],
        "holds a finished model; pass --overwrite": ["train", str(dataset_dir), "-o", str(finished), *base],
        "--qlora needs a CUDA GPU": ["train", str(dataset_dir), "-o", str(tmp_path / "d"), *base, "--qlora"],
    }  # fmt: skip
    for message, args in cases.items():
        code, err = run_main(monkeypatch, capsys, *args)
        assert code == 2 and message in err and err.strip().count("\n") == 0, (message, err)
    proc = run_cli("train", str(tmp_path / "missing"), "-o", str(tmp_path / "e"), *base)
    assert proc.returncode == 2 and proc.stderr.startswith("Error: ") and "Traceback" not in proc.stderr


def test_a_dataset_with_another_prompt_contract_is_an_error(tiny_model_dir, tmp_path):
    other = {**prompts.contract(), "system_prompt": "Answer briefly."}
    dataset = make_dataset(tmp_path / "other", n_train=12, n_eval=4, contract=other)
    with pytest.raises(RaftError, match="prompt contract .*same version string, different content"):
        train(small_cfg(dataset, tmp_path / "m", tiny_model_dir, max_steps=1))
    assert not (tmp_path / "m").exists()


def test_labels_mask_every_prompt_token_and_cover_the_whole_completion(dataset_dir, tiny_model_dir, tmp_path):
    """The loss is on the answer only: -100 on every prompt token, the completion (with its turn end) labelled."""
    from raft.train.hardware import hardware
    from raft.train.inputs import load_raft_dataset, load_tokenizer
    from raft.train.sft import _build_trainer

    cfg = small_cfg(dataset_dir, tmp_path / "m", tiny_model_dir)
    splits, _ = load_raft_dataset(dataset_dir)
    tok = load_tokenizer(str(tiny_model_dir))
    trainer = _build_trainer(cfg, hardware(cfg), splits, tok, True, [])
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(3)])
    for i in range(3):
        row = splits["train"][i]
        prompt = tok.apply_chat_template(row["prompt"], tokenize=True, add_generation_prompt=True)
        prompt = prompt["input_ids"] if hasattr(prompt, "keys") else prompt
        full = tok.apply_chat_template(row["prompt"] + row["completion"], tokenize=True)
        full = full["input_ids"] if hasattr(full, "keys") else full
        ids, labels = batch["input_ids"][i].tolist(), batch["labels"][i].tolist()
        assert ids[: len(prompt)] == prompt
        assert all(x == -100 for x in labels[: len(prompt)]), "a prompt token carries loss"
        answer = labels[len(prompt) : len(full)]
        assert answer == ids[len(prompt) : len(full)], "part of the completion carries no loss"
        assert tok.convert_tokens_to_ids("<|im_end|>") in answer  # the turn end is learned
        assert all(x == -100 for x in labels[len(full) :])  # padding


def test_compare_runs_prints_eval_loss_side_by_side(lora_run, tmp_path):
    from raft.train.log import compare_runs

    other = tmp_path / "lr-high"
    other.mkdir()
    (other / "train_log.jsonl").write_text('{"step": 3, "eval_loss": 9.5}\n{"step": 6, "eval_loss": 9.0}\n')
    config = json.loads((lora_run / "train_config.json").read_text()) | {"lr": 0.5}
    (other / "train_config.json").write_text(json.dumps(config))
    table = compare_runs([lora_run, other])
    assert "| lr | `0.002` | `0.5` |" in table and "| 6 |" in table and "9.0000" in table
    with pytest.raises(RaftError, match="no train_log.jsonl"):
        compare_runs([tmp_path])


@pytest.mark.slow
def test_two_process_cpu_ddp_trains_one_adapter(dataset_dir, tiny_model_dir, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "raft",
        "train", str(dataset_dir), "-o", str(out), "--base-model", str(tiny_model_dir), "--max-steps", "3",
        "--batch-size", "4", "--grad-accum", "1", "--eval-steps", "3", "--lr", "2e-3", "--max-length", "512",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = artifacts.read_manifest(out, "model")
    assert manifest["world_size"] == 2 and manifest["global_step"] == 3
    assert [p.relative_to(out) for p in out.rglob("adapter_model.safetensors")] == [
        Path("adapter_model.safetensors")
    ]
    rows = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    # 24 rows, batch 4 per rank: one epoch takes 3 steps only when both ranks consume data
    assert {r["world_size"] for r in rows} == {2} and rows[-1]["epoch"] == 1.0
    assert proc.stdout.count("model written to") == 1


def test_precision_auto_follows_the_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """bf16 autocast where the CPU computes bf16 natively, fp32 elsewhere; an explicit choice wins."""
    import torch

    from raft.train import hardware

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = TrainConfig(dataset=tmp_path, out=tmp_path / "m", base_model="x")
    monkeypatch.setattr(hardware, "cpu_has_bf16", lambda: True)
    assert hardware.hardware(cfg)["precision"] == "bf16"
    assert hardware.trainer_args(cfg, hardware.hardware(cfg), False)["bf16"] is True
    assert hardware.hardware(replace(cfg, precision="fp32"))["precision"] == "fp32"
    monkeypatch.setattr(hardware, "cpu_has_bf16", lambda: False)
    assert hardware.hardware(cfg)["precision"] == "fp32"
    with pytest.raises(RaftError, match="fp16 needs a CUDA GPU"):
        hardware.hardware(replace(cfg, precision="fp16"))


def test_cpu_bf16_detection_reads_the_cpu_flags(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from raft.models import loading

    info = tmp_path / "cpuinfo"
    real_path = loading.Path

    def fake_path(p: str):
        return info if p == "/proc/cpuinfo" else real_path(p)

    monkeypatch.setattr(loading, "Path", fake_path)
    info.write_text("flags\t\t: fpu avx512f avx512_bf16 amx_tile\n")
    assert loading.cpu_has_bf16()
    info.write_text("flags\t\t: fpu avx2 avx512f\n")
    assert not loading.cpu_has_bf16()


def test_lora_layers_adapts_only_the_last_layers(tmp_path: Path) -> None:
    """`lora_layers=N` puts adapters on the last N decoder layers and nowhere else."""
    from peft import get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    from raft.train.hardware import lora_config

    model = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=4,
                                         num_attention_heads=2, num_key_value_heads=1))
    cfg = TrainConfig(dataset=tmp_path, out=tmp_path / "m", base_model="x", lora_layers=2)
    peft_model = get_peft_model(model, lora_config(cfg, model))
    adapted = {int(n.split(".layers.")[1].split(".")[0]) for n, _ in peft_model.named_parameters() if "lora_A" in n}
    assert adapted == {2, 3}
    everything = get_peft_model(LlamaForCausalLM(model.config), lora_config(replace(cfg, lora_layers=None), model))
    assert {int(n.split(".layers.")[1].split(".")[0]) for n, _ in everything.named_parameters() if "lora_A" in n} == {0, 1, 2, 3}


def test_training_logs_no_full_vocabulary_metrics(lora_run):
    """The loss is the model's cross-entropy on the answer tokens; no per-step entropy or token accuracy
    (each a pass over the whole vocabulary at every position) is computed or logged."""
    rows = [json.loads(line) for line in (lora_run / "train_log.jsonl").read_text().splitlines()]
    assert any("loss" in r for r in rows)
    assert not [r for r in rows if "mean_token_accuracy" in r or "entropy" in r]


def test_eval_rows_caps_the_validation_split_to_a_seeded_subset(dataset_dir):
    """`eval_rows=N`: the eval loss reads N validation rows, the same N for the same seed; None keeps all."""
    from raft.train.inputs import cap_validation, load_raft_dataset

    def questions(rows, seed):
        splits, _ = load_raft_dataset(dataset_dir)
        return [r["prompt"][-1]["content"] for r in cap_validation(splits, rows, seed)["validation"]]

    every = questions(None, 0)
    assert len(every) == 8
    three = questions(3, 0)
    assert len(three) == 3 and set(three) <= set(every)
    assert questions(3, 0) == three
    assert questions(100, 0) == every
    with pytest.raises(RaftError, match="--eval-rows"):
        load_config(None, dataset=dataset_dir, out=dataset_dir / "m", base_model="x", eval_rows=0)


def test_unpacked_batches_group_rows_of_similar_length(dataset_dir, tiny_model_dir, tmp_path):
    """Without packing, the trainer draws batches of similar-length rows (less padding); packing keeps random."""
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from raft.train.hardware import hardware, sft_config
    from raft.train.inputs import adapt_prompts, load_raft_dataset, load_tokenizer
    from raft.train.sft import _build_trainer

    cfg = small_cfg(dataset_dir, tmp_path / "m", tiny_model_dir)
    assert sft_config(cfg, hardware(cfg), True).train_sampling_strategy == "group_by_length"
    packed = replace(cfg, packing=True)
    assert sft_config(packed, hardware(packed), True).train_sampling_strategy == "random"
    splits, _ = load_raft_dataset(dataset_dir)
    tok = load_tokenizer(str(tiny_model_dir))
    splits, _ = adapt_prompts(splits, tok)
    trainer = _build_trainer(cfg, hardware(cfg), splits, tok, True, [])
    assert isinstance(trainer._get_train_sampler(), LengthGroupedSampler)


def test_the_vocabulary_projection_runs_only_where_labels_are(dataset_dir, tiny_model_dir, tmp_path):
    """The trainer's loss projects to the vocabulary only at the positions that predict a labelled token,
    and the loss and its gradients are those of the full projection."""
    import torch

    from raft.train.hardware import hardware
    from raft.train.inputs import adapt_prompts, load_raft_dataset, load_tokenizer
    from raft.train.sft import _build_trainer

    cfg = small_cfg(dataset_dir, tmp_path / "m", tiny_model_dir)
    splits, _ = load_raft_dataset(dataset_dir)
    tok = load_tokenizer(str(tiny_model_dir))
    splits, _ = adapt_prompts(splits, tok)
    trainer = _build_trainer(cfg, hardware(cfg), splits, tok, True, [])
    batch = next(iter(trainer.get_train_dataloader()))
    model = trainer.model.eval()  # no dropout: both passes see the same network
    projected = []
    hook = model.get_output_embeddings().register_forward_hook(lambda m, i, o: projected.append(i[0].shape))

    def loss_and_grads(compute):
        model.zero_grad()
        loss = compute()
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters() if p.requires_grad]

    sliced, sliced_grads = loss_and_grads(lambda: trainer.compute_loss(model, dict(batch)))
    full, full_grads = loss_and_grads(lambda: model(**batch).loss)
    hook.remove()
    labelled = int((batch["labels"][:, 1:] != -100).sum())
    assert projected[0][:-1] == (labelled,)  # the sliced pass: one row per labelled next token
    assert projected[1][:-1] == tuple(batch["input_ids"].shape)  # the full pass: every position
    assert labelled < batch["input_ids"].numel() / 2
    torch.testing.assert_close(sliced, full)
    for a, b in zip(sliced_grads, full_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
