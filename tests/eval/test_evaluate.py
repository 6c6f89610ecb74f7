"""`raft eval`: system specs, contexts per condition, scoring and the report (fakes), then end to end."""

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from raft import artifacts, prompts
from raft.errors import RaftError
from raft.eval.config import EvalConfig
from raft.eval.run import run_eval
from raft.eval.systems import SystemSpec, parse_system, resolve_systems
from raft.serve.generators import Completion, DecodingConfig
from tests.fakes import EchoGenerator, FakeChunk, FixedOrderRetriever, echo_loader, write_code_questions

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "datasets"
REPORT_FILES = ("report.md", "report.json", "per_question.jsonl", "chart.png", "config.json", "manifest.json")


# ---- system specs ----------------------------------------------------------------------------

def test_parse_system_forms(tmp_path):
    assert parse_system("rag=Qwen/Qwen2.5-0.5B-Instruct") == SystemSpec("rag", "Qwen/Qwen2.5-0.5B-Instruct")
    assert parse_system("raft=Qwen/Qwen2.5-0.5B:models/raft") == SystemSpec(
        "raft", "Qwen/Qwen2.5-0.5B", "models/raft"
    )
    assert parse_system(f"m={tmp_path}") == SystemSpec("m", str(tmp_path))
    url = "openai:http://127.0.0.1:8000/v1:raft"
    assert parse_system(f"vllm={url}") == SystemSpec("vllm", url)
    assert parse_system("x=openai:https://api.example.com/v1:gpt-4o-mini").model.endswith("gpt-4o-mini")


@pytest.mark.parametrize(
    "bad", ["rag", "=base", "rag=", "r a g=base", "x=base:", "x=openai:localhost:m", "x=openai:http://h"]
)
def test_parse_system_rejects_bad_specs(bad):
    with pytest.raises(RaftError) as err:
        parse_system(bad)
    assert "\n" not in str(err.value)


def _model_dir(path: Path, base: str, version: str = prompts.PROMPT_VERSION, lineage: dict | None = None) -> Path:
    path.mkdir(parents=True)
    prompt = prompts.contract() if version == prompts.PROMPT_VERSION else {"version": version}
    if lineage is not None:
        (path / "lineage.json").write_text(json.dumps(lineage))
    artifacts.write_manifest(path, "model", {"base_model": base, "adapter": True, "prompt": prompt})
    return path


def test_a_contract_with_the_same_version_but_other_content_is_refused(tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    model = _model_dir(tmp_path / "m", str(base))
    manifest = json.loads((model / "manifest.json").read_text())
    manifest["prompt"]["system_prompt"] += " Be brief."
    (model / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RaftError, match="same version string, different content"):
        resolve_systems(EvalConfig(index=tmp_path, qa=tmp_path, out=tmp_path / "r", systems=(f"m={model}",)))


def test_resolve_systems_from_model_dir(tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    model = _model_dir(tmp_path / "raft-model", str(base))
    cfg = EvalConfig(
        index=tmp_path, qa=tmp_path, out=tmp_path / "r", model=model, systems=("dsf=" + str(base),)
    )
    specs = resolve_systems(cfg)
    assert [s.name for s in specs] == ["rag", "raft", "dsf"]
    assert specs[0].model == str(base) and specs[1].model == str(model)


def test_resolve_systems_reports_every_problem(tmp_path):
    base, other = tmp_path / "base", tmp_path / "other"
    base.mkdir()
    other.mkdir()
    adapter = _model_dir(tmp_path / "adapter", str(other))
    old = _model_dir(tmp_path / "old", str(base), version="raft-prompt-v0")
    systems = (f"a={base}:{adapter}", f"a={base}", f"b={old}", "c=./missing/model")
    with pytest.raises(RaftError) as err:
        resolve_systems(EvalConfig(index=tmp_path, qa=tmp_path, out=tmp_path / "r", systems=systems))
    msg = str(err.value)
    assert "used twice" in msg and "trained on base model" in msg and "--force-prompt" in msg
    assert "does not exist" in msg
    forced = EvalConfig(
        index=tmp_path, qa=tmp_path, out=tmp_path / "r", systems=(f"b={old}",), force_prompt=True
    )
    assert resolve_systems(forced)[0].name == "b"


def test_no_system_is_an_error(tmp_path):
    with pytest.raises(RaftError, match="--model MODEL_DIR"):
        resolve_systems(EvalConfig(index=tmp_path, qa=tmp_path, out=tmp_path / "r"))


# ---- pipeline with fakes -----------------------------------------------------------------------


def test_run_eval_with_fakes_writes_every_artifact(tmp_path):
    qa = write_code_questions(tmp_path / "q.jsonl")
    cfg = EvalConfig(
        index=tmp_path, qa=qa, out=tmp_path / "report", systems=("rag=org/base", "raft=org/base"), k=3,
        conditions=("retrieved", "closed_book", "oracle", "oracle_distractors"), bootstrap=200,
    )  # fmt: skip
    report = run_eval(cfg, retriever=FixedOrderRetriever(), loader=echo_loader)
    out = tmp_path / "report"
    for name in REPORT_FILES:
        assert (out / name).is_file(), name
    q = report["questions"]
    assert (q["total"], q["evaluated"], q["unmatched"], q["overlap"]) == (6, 6, 0, {"rag": 0, "raft": 0})
    rag = report["systems"]["rag"]
    assert rag["oracle"]["em_strict"] == 1.0 and rag["oracle_distractors"]["em_lenient"] == 1.0
    assert rag["closed_book"]["em_strict"] == 0.0 and rag["closed_book"]["abstain_oracle_absent"] == 1.0
    assert rag["retrieved"]["em_strict"] == pytest.approx(5 / 6)  # d1 is never retrieved
    by_oracle = rag["retrieved"]["by_oracle_retrieved"]
    assert (by_oracle["in"]["n"], by_oracle["in"]["em_strict"], by_oracle["out"]["em_strict"]) == (5, 1.0, 0.0)
    assert rag["oracle"]["quote_validity"] == 1.0 and rag["oracle"]["citation_precision"] == 1.0
    # It abstains exactly when no chunk holds the answer: perfect refusals, truthfulness 5 right + 1 abstain.
    assert (rag["retrieved"]["refusal_precision"], rag["retrieved"]["refusal_recall"]) == (1.0, 1.0)
    assert rag["retrieved"]["truthfulness"] == pytest.approx(5 / 6) and rag["retrieved"]["truncated_rate"] == 0.0
    for metric in ("em_strict", "f1_strict", "em_lenient", "f1_lenient", "truthfulness", "format"):
        assert metric in rag["closed_book"] and metric in rag["closed_book"]["by_oracle_retrieved"]["out"]
    verdict = report["closed_book_regression"]
    assert [(v["system"], v["baseline"], v["verdict"]) for v in verdict] == [("raft", "rag", "no significant change")]
    assert report["retrieval"]["recall@1"] == pytest.approx(5 / 6) and report["retrieval"][
        "mrr"
    ] == pytest.approx(5 / 6)
    for d in report["differences"]:
        assert (d["system"], d["baseline"]) == ("raft", "rag")
        assert d["diff"] == 0.0 and d["low"] <= 0.0 <= d["high"]
    rows = [json.loads(line) for line in (out / "per_question.jsonl").read_text().splitlines()]
    assert len(rows) == 6 * 4
    row = next(r for r in rows if r["condition"] == "oracle_distractors" and r["id"] == "q2")
    assert len(row["context_ids"]) == 3 and "d2#0" in row["context_ids"]
    assert row["systems"]["raft"]["answer"] == "c2" and row["systems"]["raft"]["raw"].endswith("c2")
    assert json.loads((out / "config.json").read_text())["hash"] == report["config_hash"]
    assert report["cost"]["raft"]["ttft_s"] is not None and report["cost"]["raft"]["ttft_samples"] == 5
    assert "raft − rag" in (out / "report.md").read_text()


def test_run_eval_is_reproducible_and_seeded(tmp_path):
    qa = write_code_questions(tmp_path / "q.jsonl")

    def run(out, seed):
        cfg = EvalConfig(index=tmp_path, qa=qa, out=tmp_path / out, systems=("a=org/base",), k=3, seed=seed,
                         conditions=("oracle_distractors",), bootstrap=100)  # fmt: skip
        run_eval(cfg, retriever=FixedOrderRetriever(), loader=echo_loader)
        return [
            json.loads(x)["context_ids"]
            for x in (tmp_path / out / "per_question.jsonl").read_text().splitlines()
        ]

    assert run("r1", 0) == run("r2", 0)
    assert run("r3", 0) != run("r4", 1)


def test_questions_without_oracle_are_reported_or_fatal(tmp_path):
    qa = tmp_path / "q.jsonl"
    rows = [{"id": "a", "question": "What is the code of item 2?", "answer": "c2", "doc_id": "d2"},
            {"id": "b", "question": "What is the code of item 3?", "answer": "c3", "doc_id": "nowhere"}]  # fmt: skip
    qa.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = EvalConfig(index=tmp_path, qa=qa, out=tmp_path / "r", systems=("a=org/base",), bootstrap=50)
    report = run_eval(cfg, retriever=FixedOrderRetriever(), loader=echo_loader)
    assert report["questions"]["unmatched"] == 1 and report["unmatched"][0]["id"] == "b"
    assert "Skipped questions (1)" in (tmp_path / "r" / "report.md").read_text()
    qa.write_text(json.dumps(rows[1]) + "\n")
    with pytest.raises(RaftError, match="none of the 1 questions"):
        run_eval(EvalConfig(index=tmp_path, qa=qa, out=tmp_path / "r2", systems=("a=org/base",)),
                 retriever=FixedOrderRetriever(), loader=echo_loader)  # fmt: skip


def test_questions_from_a_dataset_dirs_eval_split(tmp_path):
    ds = tmp_path / "dataset"
    ds.mkdir()
    rows = [{"id": f"q{i}", "question": f"What is the code of item {i}?", "answer": f"c{i}", "oracle_ids": [f"d{i}#0"],
             "oracle_doc_ids": [f"d{i}"]} for i in (2, 2, 3)]  # fmt: skip
    (ds / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    artifacts.write_manifest(ds, "dataset", {"mode": "raft"})
    cfg = EvalConfig(
        index=tmp_path, qa=ds, out=tmp_path / "r", systems=("a=org/base",), conditions=("oracle",)
    )
    report = run_eval(cfg, retriever=FixedOrderRetriever(), loader=echo_loader)
    assert report["questions"]["evaluated"] == 2 and report["systems"]["a"]["oracle"]["em_strict"] == 1.0


def test_bad_split_condition_and_existing_output(tmp_path):
    qa = write_code_questions(tmp_path / "q.jsonl")
    base = {"index": tmp_path, "qa": qa, "systems": ("a=org/base",)}
    with pytest.raises(RaftError, match="--split NAME"):
        run_eval(
            EvalConfig(out=tmp_path / "r", split="validation", **base),
            retriever=FixedOrderRetriever(),
            loader=echo_loader,
        )
    with pytest.raises(RaftError, match="unknown condition"):
        run_eval(EvalConfig(out=tmp_path / "r", conditions=("open_book",), **base), retriever=FixedOrderRetriever())
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "x").write_text("x")
    with pytest.raises(RaftError, match="--overwrite"):
        run_eval(EvalConfig(out=tmp_path / "r", **base), retriever=FixedOrderRetriever(), loader=echo_loader)


# ---- PubMedQA: parsing and accuracy on a tiny slice -------------------------------------------


@pytest.mark.skipif(
    not (SHARED / "pubmedqa" / "ori_pqal.json").is_file(), reason="shared datasets not present"
)
def test_pubmedqa_slice_accuracy(tmp_path):
    """Three real PubMedQA records (read from ../shared, never copied): label data switches on accuracy."""
    data = json.loads((SHARED / "pubmedqa" / "ori_pqal.json").read_text())
    pmids = list(data)[:3]
    (tmp_path / "ori_pqal.json").write_text(json.dumps({p: data[p] for p in pmids}))
    chunks = [FakeChunk(f"{p}-{i}#0", f"{p}-{i}", data[p]["QUESTION"], c)
              for p in pmids for i, c in enumerate(data[p]["CONTEXTS"])]  # fmt: skip

    class PubMedRetriever(FixedOrderRetriever):
        def __init__(self):
            self.chunks = chunks

        def search_batch(self, queries, k=5, hybrid=None):
            return [self.chunks[:k] for _ in queries]

        def embed(self, texts):
            import numpy as np

            return np.ones((len(texts), 4), dtype="float32")

    class Yes:
        def generate(self, conversations, cfg, batch_size=8):
            return [Completion("Reasoning. <ANSWER>: Yes, it does.", 1, 1, 0.0) for _ in conversations]

        def stream(self, messages, cfg):
            yield "<ANSWER>: yes"

        def close(self):
            pass

    cfg = EvalConfig(index=tmp_path, qa=tmp_path / "ori_pqal.json", out=tmp_path / "r", systems=("a=org/base",),
                     split="all", conditions=("oracle",), bootstrap=50)  # fmt: skip
    report = run_eval(cfg, retriever=PubMedRetriever(), loader=lambda *a, **k: Yes())
    gold = [data[p]["final_decision"] for p in pmids]
    assert report["labels"] is True
    assert report["systems"]["a"]["oracle"]["accuracy_strict"] == pytest.approx(gold.count("yes") / 3)
    assert report["systems"]["a"]["oracle"]["format"] == 1.0
    assert report["retrieval"] == {}


# ---- end to end with the tiny model and the real index -----------------------------------------


def _raft(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "raft", *map(str, args)], capture_output=True, text=True, cwd=ROOT
    )


@pytest.mark.slow
def test_eval_end_to_end_tiny_model(sample_index, tiny_model_dir, tmp_path):
    from tests.conftest import SAMPLE_QUESTIONS

    out = tmp_path / "report"
    res = _raft("eval", sample_index, "--qa", SAMPLE_QUESTIONS, "-o", out, "--system", f"rag={tiny_model_dir}",
                "--system", f"raft={tiny_model_dir}", "--limit", 4, "--max-new-tokens", 8, "--batch-size", 4,
                "--conditions", "retrieved,closed_book,oracle,oracle_distractors", "--bootstrap", 100)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "raft − rag" in res.stdout and "retrieval: recall@1" in res.stdout
    for name in REPORT_FILES:
        assert (out / name).stat().st_size > 0, name
    report = json.loads((out / "report.json").read_text())
    assert report["questions"]["evaluated"] == 4
    assert all(d["diff"] == 0.0 and d["low"] <= 0 <= d["high"] for d in report["differences"])
    assert report["cost"]["rag"]["conditions"]["retrieved"]["completion_tokens"] > 0
    assert report["cost"]["rag"]["ttft_s"] > 0
    rows = [json.loads(x) for x in (out / "per_question.jsonl").read_text().splitlines()]
    assert len(rows) == 16 and all(len(r["retrieved_ids"]) == 4 for r in rows)
    assert rows[0]["systems"]["rag"]["raw"] == rows[0]["systems"]["raft"]["raw"]


@pytest.mark.slow
def test_eval_cli_user_errors_are_one_line(sample_index, tiny_model_dir, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    lost = tmp_path / "lost.jsonl"
    lost.write_text(
        json.dumps({"id": "x", "question": "Where?", "answer": "here", "doc_id": "no/such/doc"}) + "\n"
    )
    adapter = _model_dir(tmp_path / "adapter", "some/other-base")
    from raft.data.qa import question_key
    from tests.conftest import SAMPLE_QUESTIONS

    rows = [json.loads(x) for x in SAMPLE_QUESTIONS.read_text().splitlines()[:3]]
    unsplit = tmp_path / "unsplit.jsonl"  # the same questions without a split column
    unsplit.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "split"}) + "\n" for r in rows))
    lineage = {"splits": {"train": {"question_keys": [question_key(r["question"]) for r in rows]}}}
    trained = _model_dir(tmp_path / "trained", str(tiny_model_dir), lineage=lineage)
    common = ("-o", tmp_path / "r", "--limit", 2, "--max-new-tokens", 4)
    cases = [
        (("--qa", empty, "--system", f"a={tiny_model_dir}"), "empty"),
        (("--qa", lost, "--system", f"a={tiny_model_dir}"), "none of the 1 questions"),
        (("--qa", lost, "--system", "a"), "cannot parse system"),
        (("--qa", lost, "--system", f"a={tiny_model_dir}:{adapter}"), "trained on base model"),
        (("--qa", unsplit, "--model", trained), "2 of 2 questions (or their oracle documents) were used to train"),
    ]
    for args, expected in cases:
        res = _raft("eval", sample_index, *args, *common)
        assert res.returncode == 2, (args, res.stderr)
        errors = [line for line in res.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and expected in errors[0], res.stderr
        assert res.stderr.strip().endswith(errors[0]) and "Traceback" not in res.stderr


# ---- lineage: overlap refused, held-out test questions found ----------------------------------


def _lineage(train_ids, test_ids, train_docs=()) -> dict:
    from raft.data.qa import question_key

    key = lambda i: question_key(f"What is the code of item {i}?")  # noqa: E731
    return {
        "splits": {
            "train": {"question_keys": [key(i) for i in train_ids], "oracle_docs": list(train_docs), "context_docs": []},
            "validation": {"question_keys": [], "oracle_docs": [], "context_docs": []},
            "test": {"question_keys": [key(i) for i in test_ids], "oracle_docs": [], "held_out_docs": []},
        }
    }


def test_eval_refuses_questions_the_model_trained_on(tmp_path):
    """A QA file without a split column: scoring all of it would score training questions (refused)."""
    qa = tmp_path / "q.jsonl"
    rows = [{"id": f"q{i}", "question": f"What is the code of item {i}?", "answer": f"c{i}", "doc_id": f"d{i}"}
            for i in range(8)]  # fmt: skip
    qa.write_text("".join(json.dumps(r) + "\n" for r in rows))
    base = tmp_path / "base"
    base.mkdir()
    model = _model_dir(tmp_path / "m", str(base), lineage=_lineage(range(2, 7), [0, 1], train_docs=["d7"]))
    cfg = EvalConfig(index=tmp_path, qa=qa, out=tmp_path / "r", model=model, bootstrap=20)
    with pytest.raises(RaftError, match=r"6 of 8 questions .*'raft'.*--allow-overlap") as err:
        run_eval(cfg, retriever=FixedOrderRetriever(), loader=echo_loader)
    assert "\n" not in str(err.value)
    report = run_eval(replace(cfg, allow_overlap=True), retriever=FixedOrderRetriever(), loader=echo_loader)
    assert report["questions"]["overlap"] == {"rag": 0, "raft": 6}
    flagged = [json.loads(x) for x in (tmp_path / "r" / "per_question.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in flagged if r["overlap"] == ["raft"]) == [f"q{i}" for i in range(2, 8)]
    assert "Overlap" in (tmp_path / "r" / "report.md").read_text()
    # --split test follows the lineage to the questions `raft generate` held out: nothing to refuse.
    held_out = run_eval(replace(cfg, split="test", out=tmp_path / "r2"), retriever=FixedOrderRetriever(), loader=echo_loader)
    assert held_out["questions"]["evaluated"] == 2 and held_out["questions"]["overlap"]["raft"] == 0


def test_citation_precision_and_oracle_presence_count_the_chunk_that_holds_the_answer(tmp_path):
    """Doc d2 has two chunks; a quote from its chunk without the answer is not a precise citation."""

    class TwoChunkRetriever(FixedOrderRetriever):
        def __init__(self):
            super().__init__()
            self.chunks.append(FakeChunk("d2#1", "d2", "Doc 2", "Item 2 ships in a blue box."))

        def search_batch(self, queries, k=5, hybrid=None):
            return [[self.chunks[-1], self.chunks[5]] for _ in queries]  # d2#1 and d5, never d2#0

    class QuotesTheBox(EchoGenerator):
        def _answer(self, messages):
            return f"{prompts.format_quote('Item 2 ships in a blue box.')} <ANSWER>: c2"

    qa = tmp_path / "q.jsonl"
    qa.write_text(json.dumps({"id": "q2", "question": "What is the code of item 2?", "answer": "c2", "doc_id": "d2"}))
    cfg = EvalConfig(index=tmp_path, qa=qa, out=tmp_path / "r", systems=("a=org/x",), k=2, bootstrap=20)
    report = run_eval(cfg, retriever=TwoChunkRetriever(), loader=lambda *a, name=None, **k: QuotesTheBox(name))
    row = json.loads((tmp_path / "r" / "per_question.jsonl").read_text().splitlines()[0])
    assert row["oracle_in_context"] is False and row["oracle_rank"] is None  # d2's answer chunk was not retrieved
    stats = report["systems"]["a"]["retrieved"]
    assert stats["quote_validity"] == 1.0 and stats["citation_precision"] is None


def test_decoding_is_shared_by_all_systems(tmp_path):
    seen = []

    class Recorder(EchoGenerator):
        def generate(self, conversations, cfg, batch_size=8):
            seen.append((self.name, cfg, batch_size, conversations))
            return super().generate(conversations, cfg, batch_size)

    qa = write_code_questions(tmp_path / "q.jsonl", n=3)
    decoding = DecodingConfig(max_new_tokens=7, temperature=0.0)
    cfg = EvalConfig(index=tmp_path, qa=qa, out=tmp_path / "r", systems=("a=org/x", "b=org/y"), decoding=decoding,
                     batch_size=2, bootstrap=20)  # fmt: skip
    run_eval(cfg, retriever=FixedOrderRetriever(), loader=lambda *a, name=None, **k: Recorder(name))
    assert [s[0] for s in seen] == ["a", "b"]
    assert seen[0][1:] == seen[1][1:] and seen[0][1] == decoding


def test_report_files_are_the_typed_records(tmp_path):
    """report.json is an EvalReport and every per_question.jsonl line a QuestionRow, key for key."""
    from raft.eval.records import EvalReport, QuestionRow, SystemOutput

    qa = write_code_questions(tmp_path / "q.jsonl", n=3)
    cfg = EvalConfig(index=tmp_path, qa=qa, out=tmp_path / "r", systems=("rag=org/base", "raft=org/base"), k=3,
                     conditions=("retrieved", "oracle"), bootstrap=50)  # fmt: skip
    report = run_eval(cfg, retriever=FixedOrderRetriever(), loader=echo_loader)
    written = json.loads((tmp_path / "r" / "report.json").read_text())
    assert list(report) == list(EvalReport.__annotations__) and set(written) == set(report)
    assert set(written["questions"]) == {"total", "evaluated", "unmatched", "overlap"}
    rows = [json.loads(line) for line in (tmp_path / "r" / "per_question.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 3
    for row in rows:
        assert list(row) == list(QuestionRow.__annotations__)
        for output in row["systems"].values():
            assert {"raw", "finish_reason", "em_strict", "f1_strict"} <= set(output) <= set(SystemOutput.__annotations__)


def test_eval_leaves_no_generation_thread_running(tiny_model_dir, tmp_path):
    """The time-to-first-token probe streams; its loop thread is ended with each system, else a generation
    still running when the process exits aborts it ("terminate called without an active exception")."""
    import threading

    qa = write_code_questions(tmp_path / "q.jsonl")
    cfg = EvalConfig(index=tmp_path, qa=qa, out=tmp_path / "report", systems=(f"a={tiny_model_dir}",),
                     k=2, bootstrap=10, decoding=DecodingConfig(max_new_tokens=4))  # fmt: skip
    def loops() -> set[threading.Thread]:  # other tests' generators may still hold theirs
        return {t for t in threading.enumerate() if t.name == "raft-batching" and t.is_alive()}

    before = loops()
    run_eval(cfg, retriever=FixedOrderRetriever())
    assert not loops() - before
