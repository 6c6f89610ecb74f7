"""`raft demo` end to end on a reduced setting, and its stage reuse."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace

import pytest
from conftest import SAMPLE_DOCS, SAMPLE_QUESTIONS

from raft.demo import DemoConfig, _evaluate, _generate, _train, next_steps, quick, run_demo, stages

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    """A third of the bundled corpus with its questions, WITHOUT the split column (the demo splits by document)."""
    root = tmp_path_factory.mktemp("demo-corpus")
    questions = [json.loads(line) for line in SAMPLE_QUESTIONS.read_text().splitlines()]
    test_docs = sorted({q["doc_id"] for q in questions if q["split"] == "test"})[:6]
    train_docs = sorted({q["doc_id"] for q in questions if q["split"] == "train"})[:24]
    keep = set(test_docs) | set(train_docs)
    for doc_id in keep:
        dest = root / "docs" / f"{doc_id}.md"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SAMPLE_DOCS / f"{doc_id}.md", dest)
    with open(root / "questions.jsonl", "w") as f:
        for q in questions:
            if q["doc_id"] in keep:
                f.write(json.dumps({k: v for k, v in q.items() if k != "split"}) + "\n")
    return root


@pytest.fixture(scope="module")
def demo_run(small_corpus, tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "run"
    cfg = replace(
        quick(DemoConfig()),
        out=out,
        corpus=small_corpus / "docs",
        qa=small_corpus / "questions.jsonl",
        base_model=str(tiny_model_dir),  # the plumbing on a tiny SmolLM2-shaped model; SmolLM2 is the default
        # smaller than --quick: this test checks the plumbing, not the figures
        raft_steps=8,
        dsf_steps=4,
        eval_limit=12,
        max_new_tokens=24,
    )
    lines: list[str] = []
    report = run_demo(cfg, echo=lines.append)
    return cfg, report, lines


def test_the_default_base_is_smollm2_fully_fine_tuned():
    cfg = DemoConfig()
    assert cfg.base_model == "smollm2-135m" and cfg.full and cfg.lr == 1e-4
    names = [s.name for s in stages(cfg)]  # a pretrained base: nothing to build
    assert names == ["index", "qa", "data-raft", "data-dsf", "train-raft", "train-dsf", "eval"]
    assert quick(cfg).raft_steps < cfg.raft_steps and quick(cfg).eval_limit < cfg.eval_limit


class _Stop(Exception):
    pass


@pytest.mark.parametrize(
    "flags, full, lr, lora_layers",
    [
        ([], True, 1e-4, None),
        (["--lora"], False, 3e-4, None),
        (["--lora-layers", "8"], False, 3e-4, 8),  # --lora-layers implies --lora
        (["--lora", "--lr", "5e-4"], False, 5e-4, None),
        (["--quick", "--lora"], False, 3e-4, None),
    ],
)
def test_lora_flags_switch_both_trainings_to_lora_at_its_rate(monkeypatch, flags, full, lr, lora_layers):
    from click.testing import CliRunner

    import raft.demo
    from raft.cli import cli

    seen = []

    def record(cfg, echo):
        seen.append(cfg)
        raise _Stop

    monkeypatch.setattr(raft.demo, "run_demo", record)
    result = CliRunner().invoke(cli, ["demo", *flags])
    assert isinstance(result.exception, _Stop), result.output
    cfg = seen[0]
    assert (cfg.full, cfg.lr, cfg.lora_layers) == (full, lr, lora_layers)
    assert cfg.raft_steps == (quick(DemoConfig()).raft_steps if "--quick" in flags else DemoConfig().raft_steps)


def test_the_demo_evaluates_three_times_per_training_run(monkeypatch, tmp_path):
    """Evaluations fall every `eval_steps` and at the last step (transformers always evaluates there); the
    demo's eval_steps make the third the last, not a fourth pass a step after the third."""
    import raft.train.sft

    seen = []
    monkeypatch.setattr(raft.train.sft, "train", lambda cfg: seen.append(cfg))
    cfg = DemoConfig(out=tmp_path)
    for steps in (cfg.raft_steps, 40, 45, 90):
        _train(cfg, tmp_path, "raft", steps)
        every = seen[-1].eval_steps
        points = set(range(every, steps + 1, every)) | {steps}
        assert len(points) == 3, (steps, sorted(points))


def test_the_demo_reads_fewer_chunks_than_it_trains_with(monkeypatch, tmp_path):
    """Eval retrieves k = 3 chunks (chosen on validation questions), while training rows hold the oracle and
    3 distractors: 4 documents (training with 2 distractors lost on validation, docs/demo.md)."""
    import raft.data.generate
    import raft.eval.run

    seen = []
    monkeypatch.setattr(raft.eval.run, "run_eval", lambda cfg: seen.append(cfg))
    monkeypatch.setattr(raft.data.generate, "generate_dataset", lambda cfg: seen.append(cfg))
    cfg = DemoConfig(out=tmp_path)
    _evaluate(cfg, tmp_path)
    _generate(cfg, tmp_path, "raft")
    assert seen[0].k == 3 and seen[1].distractors + 1 == 4 and seen[1].order == "retrieval"
    chat, serve = (line for line in next_steps(cfg).splitlines() if line.strip().startswith(("raft chat", "raft serve")))
    assert " -k 3" in chat and " -k 3" in serve, "chat and serve retrieve as many chunks as the demo evaluated"


def test_a_new_answer_format_redoes_both_datasets(monkeypatch):
    """Rows composed in an older answer format are not reused after the format changed."""
    before = {s.name: s.settings for s in stages(DemoConfig())}
    monkeypatch.setattr("raft.demo.ANSWER_FORMAT", -1)
    after = {s.name: s.settings for s in stages(DemoConfig())}
    assert before["data-raft"] != after["data-raft"] and before["data-dsf"] != after["data-dsf"]


def test_a_new_prompt_contract_redoes_the_data_and_what_follows(monkeypatch):
    """The data stages' inputs cover the prompt contract, so a demo re-run after the contract changed
    rebuilds its datasets (and so retrains) instead of handing training data it would refuse."""
    from raft import prompts

    before = {s.name: s.settings for s in stages(DemoConfig())}
    monkeypatch.setattr(prompts, "SYSTEM_PROMPT", prompts.SYSTEM_PROMPT + " Be brief.")
    after = {s.name: s.settings for s in stages(DemoConfig())}
    assert before["data-raft"] != after["data-raft"] and before["data-dsf"] != after["data-dsf"]
    assert before["index"] == after["index"]


def test_demo_writes_every_artifact(demo_run):
    cfg, report, lines = demo_run
    out = cfg.out
    for stage in (
        "index",
        "questions",
        "data/raft",
        "data/dsf",
        "models/raft",
        "models/dsf",
        "report",
    ):
        assert (out / stage / "manifest.json").is_file(), stage
    for name in ("report.md", "report.json", "per_question.jsonl", "chart.png", "config.json"):
        assert (out / "report" / name).is_file(), name
    assert (out / "models" / "raft" / "loss.png").is_file()
    assert [s["name"] for s in report["config"]["systems"]] == ["base", "dsf", "raft"]
    pairs = {(d["system"], d["baseline"], d["metric"]) for d in report["differences"]}
    assert {("raft", "base", "em_strict"), ("raft", "dsf", "em_lenient"), ("raft", "base", "f1_strict")} <= pairs
    assert all(d["low"] <= d["diff"] <= d["high"] for d in report["differences"])
    assert report["questions"]["evaluated"] == 12
    dsf_rows = [json.loads(x) for x in (out / "data" / "dsf" / "train.jsonl").read_text().splitlines()]
    assert all(r["context_ids"] == [] for r in dsf_rows)
    raft_rows = [json.loads(x) for x in (out / "data" / "raft" / "train.jsonl").read_text().splitlines()]
    assert all(len(r["context_ids"]) in (cfg.distractors, cfg.distractors + 1) for r in raft_rows)
    questions = [json.loads(x) for x in (out / "questions" / "questions.jsonl").read_text().splitlines()]
    test = [q for q in questions if q["split"] == "test"]
    test_docs = {d for q in test for d in q["doc_ids"]}
    assert test and test_docs and len(test) < len(questions)
    # Never before eval: no test question or test document in any training row.
    for mode in ("raft", "dsf"):
        for split in ("train", "validation"):
            rows = [json.loads(x) for x in (out / "data" / mode / f"{split}.jsonl").read_text().splitlines()]
            assert {q["id"] for q in test}.isdisjoint({r["id"] for r in rows})
            assert test_docs.isdisjoint({d for r in rows for d in r["context_doc_ids"] + r["oracle_doc_ids"]})
    assert report["questions"]["overlap"] == {"base": 0, "dsf": 0, "raft": 0}
    assert any("Train the RAFT model" in line for line in lines)


def test_rerun_reuses_everything(demo_run):
    cfg, _, _ = demo_run
    lines: list[str] = []
    run_demo(cfg, echo=lines.append)
    stage_lines = [line for line in lines if line.startswith("[")]
    assert len(stage_lines) == 7 and all("reusing" in line for line in stage_lines)


def test_deleting_a_stage_redoes_it_and_what_follows(demo_run):
    cfg, _, _ = demo_run
    shutil.rmtree(cfg.out / "data" / "dsf")
    lines: list[str] = []
    run_demo(cfg, echo=lines.append)
    redone = [
        line.split("]")[1].split("->")[0].strip() for line in lines if line.startswith("[") and "->" in line
    ]
    assert redone == [
        "Build the DSF dataset",
        "Train the DSF model",
        "Evaluate base, DSF and RAFT with retrieval",
    ]


def test_demo_cli_bad_input_is_one_line(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "raft",
            "demo",
            "-o",
            str(tmp_path / "run"),
            "--corpus",
            str(tmp_path / "nope"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("Error: corpus")
    assert "Traceback" not in proc.stderr
