"""Preference tuning: DPO pairs built from a RAFT dataset, KTO rows from feedback, and real TRL runs on
the tiny model that write the model-directory contract and load in `raft eval` and the chat engine."""

import json
import random
from pathlib import Path

import pytest

from raft import artifacts, prompts
from raft.errors import RaftError
from raft.serve.feedback import FeedbackRecord, FeedbackStore, export_preference
from raft.splits import VALIDATION as VALIDATION_SPLIT
from raft.train.config import load_config
from raft.train.preference import PAIR_KINDS, build_pairs, make_pair, parse_documents
from raft.train.sft import train
from tests.conftest import SAMPLE_QUESTIONS, make_dataset, small_cfg

DOCS = [
    prompts.Document("Passwords", "Passwords must be at least ten characters long. They expire every ninety days."),
    prompts.Document("Printers", "The printer on floor two is named Atlas. It prints in colour on request only."),
    prompts.Document("Holidays", "Staff receive twenty five days of leave each year. Leave requests go to managers."),
]
CHOSEN = f"The document says {prompts.format_quote('Passwords must be at least ten characters long.')} <ANSWER>: ten characters"
ABSTAIN = f"No document says. {prompts.ANSWER_TAG} {prompts.ABSTAIN_ANSWER}"


def _row(docs, completion, oracle_index, answer="ten characters"):
    return {"id": "r1", "question": "How long must a password be?", "answer": answer,
            "oracle_present": oracle_index >= 0, "oracle_positions": [oracle_index] if oracle_index >= 0 else [],
            "prompt": prompts.build_messages("How long must a password be?", docs),
            "completion": [{"role": "assistant", "content": completion}]}  # fmt: skip


def test_documents_round_trip_through_the_prompt_contract():
    user = prompts.build_messages("q?", DOCS)[-1]["content"]
    assert parse_documents(user) == DOCS


def test_pairs_of_each_kind_are_wrong_in_the_stated_way():
    foreign = ["Parking permits are issued by the front desk on Mondays."]
    context = " ".join(d.text for d in DOCS)
    seen = set()
    for seed in range(12):
        pair = make_pair(_row(DOCS, CHOSEN, 0), foreign, random.Random(seed))
        seen.add(pair["rejected_kind"])
        assert pair["chosen"][0]["content"] == CHOSEN
        rejected = pair["rejected"][0]["content"]
        quotes = prompts.extract_quotes(rejected)
        assert quotes and prompts.extract_answer(rejected)
        if pair["rejected_kind"] == "fabricated_quote":
            assert quotes[0] == foreign[0] and quotes[0] not in context
        else:  # quoted from a distractor, never from the oracle
            assert pair["rejected_kind"] == "distractor_answer"
            assert any(quotes[0] in d.text for d in DOCS[1:]) and quotes[0] not in DOCS[0].text
    assert seen == {"fabricated_quote", "distractor_answer"}

    absent = make_pair(_row(DOCS[1:], ABSTAIN, -1), foreign, random.Random(0))
    assert absent["rejected_kind"] == "answered_when_absent" and absent["chosen"][0]["content"] == ABSTAIN
    assert prompts.extract_answer(absent["rejected"][0]["content"]) == "ten characters"
    assert set(PAIR_KINDS) == seen | {"answered_when_absent"}


def test_pairs_are_deterministic_per_seed():
    rows = [_row(DOCS, CHOSEN, 0), _row(DOCS[1:], ABSTAIN, -1), _row(DOCS[::-1], CHOSEN, 2)]
    assert build_pairs(rows, 3) == build_pairs(rows, 3)
    assert len(build_pairs(rows, 3)) == 3


def _fake_index(path: Path) -> Path:
    """An index directory as `raft index` lays it out, as far as the export reads it (manifest + chunks)."""
    path.mkdir(parents=True)
    items = [json.loads(line) for line in SAMPLE_QUESTIONS.read_text().splitlines()[:12]]
    with (path / "chunks.jsonl").open("w") as fh:
        for q in items:
            fh.write(json.dumps({"chunk_id": f"{q['doc_id']}#0", "doc_id": q["doc_id"], "title": q["doc_id"],
                                 "text": q["passage"]}) + "\n")  # fmt: skip
    artifacts.write_manifest(path, "index", {"chunks": len(items)})
    return path


def _feedback(path: Path, index: Path) -> Path:
    """Ratings as the chat app stores them: the gold answer rated 👍, another question's answer 👎."""
    items = [json.loads(line) for line in SAMPLE_QUESTIONS.read_text().splitlines()[:12]]
    store = FeedbackStore(path)
    for i, q in enumerate(items):
        ids = [f"{q['doc_id']}#0", f"{items[(i + 1) % len(items)]['doc_id']}#0"]
        good = f"{prompts.format_quote(q['passage'][:60])} {prompts.ANSWER_TAG} {q['answer']}"
        bad = f"{prompts.ANSWER_TAG} {items[(i + 3) % len(items)]['answer']}"
        for rating, answer in (("up", good), ("down", bad)):
            store.add(FeedbackRecord(rating=rating, question=q["question"], answer=answer, model="raft",
                                     chunk_ids=ids, doc_ids=[], cited_chunk_ids=[]))  # fmt: skip
    return path


def test_feedback_export_as_preference(tmp_path):
    index = _fake_index(tmp_path / "index")
    prefs = tmp_path / "prefs.jsonl"
    counts = export_preference(_feedback(tmp_path / "fb.jsonl", index), prefs, index)
    assert counts == {"written": 24, "skipped": 0, "ratings": 24, "up": 12, "down": 12}
    row = json.loads(prefs.read_text().splitlines()[0])
    assert row["label"] is True and row["prompt"][0]["content"] == prompts.SYSTEM_PROMPT
    assert len(parse_documents(row["prompt"][-1]["content"])) == 2
    with pytest.raises(RaftError, match="already exists"):
        export_preference(tmp_path / "fb.jsonl", prefs, index)


@pytest.fixture(scope="module")
def sft_adapter(tmp_path_factory, tiny_model_dir) -> tuple[Path, Path]:
    """A one-step RAFT SFT adapter to start preference tuning from, and its dataset."""
    root = tmp_path_factory.mktemp("pref")
    dataset = make_dataset(root / "dataset", n_train=8, n_eval=4)
    out = root / "sft"
    train(small_cfg(dataset, out, tiny_model_dir, max_steps=1, eval_steps=1))
    return out, dataset


def _check_contract(out: Path, method: str, start: Path, base: Path) -> dict:
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "train_config.json",
                 "train_log.jsonl", "README.md", "raft_prompt.json", "loss.png"):  # fmt: skip
        assert (out / name).is_file(), name
    assert not (out / "ref").exists() and not (out / "checkpoints").exists()
    manifest = artifacts.read_manifest(out, "model")
    assert manifest["method"] == method and manifest["adapter"] is True
    assert manifest["init_model"] == str(start.resolve()) and manifest["base_model"] == str(base.resolve())
    assert manifest["prompt"] == prompts.contract() and isinstance(manifest["final_eval_loss"], float)
    assert f"{method.upper()} preference tuning" in (out / "README.md").read_text()
    return manifest


def _adapter_changed(start: Path, out: Path) -> bool:
    from safetensors.torch import load_file

    before, after = load_file(start / "adapter_model.safetensors"), load_file(out / "adapter_model.safetensors")
    return set(before) == set(after) and any(not before[k].equal(after[k]) for k in before)


@pytest.mark.slow
def test_dpo_from_a_raft_adapter_loads_in_eval_and_chat(tmp_path, sft_adapter, tiny_model_dir):
    from raft.eval.run import EvalConfig, run_eval
    from raft.serve.engine import load_generators
    from raft.serve.generators import DecodingConfig
    from tests.fakes import FixedOrderRetriever, write_code_questions

    start, dataset = sft_adapter
    out = tmp_path / "dpo"
    # no warmup (a first step at lr 0) and one evaluation at the end, so the saved adapter is the trained one
    knobs = dict(method="dpo", max_steps=2, batch_size=4, grad_accum=1, eval_steps=2, logging_steps=1, warmup_ratio=0.0,
                 max_length=512, lr=1e-3)  # fmt: skip
    manifest = train_pref(dataset, out, start, **knobs)
    _check_contract(out, "dpo", start, tiny_model_dir)
    assert manifest["global_step"] == 2 and _adapter_changed(start, out)
    pairs = [json.loads(x) for x in (out / "preference_pairs.jsonl").read_text().splitlines()]
    assert {p["rejected_kind"] for p in pairs} <= set(PAIR_KINDS) and len(pairs) == 12
    assert sum(manifest["pair_kinds"]["train"].values()) == 8
    log = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    assert any("eval_loss" in r for r in log) and any("loss" in r for r in log)

    qa = write_code_questions(tmp_path / "q.jsonl", n=2)
    report = run_eval(EvalConfig(index=tmp_path, qa=qa, out=tmp_path / "report", model=out, bootstrap=20,
                                 decoding=DecodingConfig(max_new_tokens=4)), retriever=FixedOrderRetriever())  # fmt: skip
    assert report["questions"]["evaluated"] == 2
    gens = load_generators(str(out))
    assert set(gens) == {"rag", "raft"}
    completion = gens["raft"].generate([prompts.build_messages("How long must a password be?", DOCS)],
                                       DecodingConfig(max_new_tokens=4))[0]  # fmt: skip
    assert completion.completion_tokens > 0


def train_pref(dataset, out, start, **knobs):
    from raft.train.preference import train_preference

    return train_preference(load_config(None, dataset=dataset, out=out, base_model=str(start), **knobs))


@pytest.mark.slow
def test_kto_on_feedback_from_a_raft_adapter(tmp_path, sft_adapter, tiny_model_dir):
    from raft.serve.engine import load_generators

    start, _ = sft_adapter
    index = _fake_index(tmp_path / "index")
    prefs = tmp_path / "prefs.jsonl"
    export_preference(_feedback(tmp_path / "fb.jsonl", index), prefs, index)
    out = tmp_path / "kto"
    knobs = dict(method="kto", max_steps=2, batch_size=4, grad_accum=1, eval_steps=2, logging_steps=1, warmup_ratio=0.0,
                 max_length=512, lr=1e-3)  # fmt: skip
    manifest = train_pref(prefs, out, start, **knobs)
    _check_contract(out, "kto", start, tiny_model_dir)
    assert _adapter_changed(start, out)
    labels = manifest["labels"]
    assert sum(sum(v.values()) for v in labels.values()) == 24 and labels[VALIDATION_SPLIT]
    assert set(load_generators(str(out))) == {"rag", "raft"}


def test_preference_input_errors(tmp_path, tiny_model_dir):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": [], "completion": [], "label": True}) + "\n")
    with pytest.raises(RaftError, match="both"):
        train_pref(bad, tmp_path / "o", tiny_model_dir, method="kto")
    with pytest.raises(RaftError, match="batch-size >= 2"):
        load_config(None, dataset=bad, out=tmp_path / "o", base_model="x", method="kto", batch_size=1)
    with pytest.raises(RaftError, match="not a preference file"):
        train_pref(tmp_path / "missing.jsonl", tmp_path / "o", tiny_model_dir, method="kto")


@pytest.mark.slow
def test_dpo_dry_run_shows_pairs_and_lengths_and_writes_nothing(tmp_path, sft_adapter):
    from click.testing import CliRunner

    from raft.cli import cli

    start, dataset = sft_adapter
    base = ["train", str(dataset), "-o", str(tmp_path / "d"), "--base-model", str(start), "--method", "dpo", "--dry-run"]
    res = CliRunner().invoke(cli, [*base, "--max-length", "512"])
    assert res.exit_code == 0, res.output
    assert '"method": "dpo"' in res.output and "ok: no row exceeds max_length 512" in res.output
    assert any(f'"{kind}"' in res.output for kind in PAIR_KINDS)
    res = CliRunner().invoke(cli, [*base, "--max-length", "64"])
    assert isinstance(res.exception, RaftError) and "exceed --max-length 64" in str(res.exception)
    assert not (tmp_path / "d").exists()
