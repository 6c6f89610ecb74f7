"""The reading stage's task generator: verbatim answers, excluded documents, determinism, format."""

import json
from pathlib import Path

import pytest

from raft import prompts
from raft.data.teacher import compose_answer
from raft.index.corpus import Corpus
from raft.models.reading import (
    ReadingConfig,
    TaskMaker,
    answer_spans,
    cot_answer,
    is_excluded,
    passages,
    reading_documents,
)

SAMPLE_DOCS = Path(__file__).resolve().parents[2] / "corpora" / "helpdesk" / "docs"
SECRET = "Zorblax"


def corpus_with_secret(root: Path) -> Path:
    """The bundled docs of one folder plus a document whose every sentence names a secret word."""
    root.mkdir(parents=True, exist_ok=True)
    for p in sorted((SAMPLE_DOCS / "accounts").glob("*.md")):
        (root / p.name).write_text(p.read_text())
    secret = [f"# The {SECRET} guide", "", "## Setup", ""]
    secret += [f"The {SECRET} unit {i} weighs {i + 2}.5 kg and runs for {i * 10} minutes." for i in range(1, 9)]
    (root / "secret-guide.md").write_text("\n".join(secret))
    return root


def make_tasks(root: Path, n: int, seed: int, exclude=(), **kw):
    pool = passages(reading_documents(root, exclude))
    return TaskMaker(pool, ReadingConfig(**kw)).tasks(n, seed)


def test_every_answer_is_verbatim_in_its_oracle_and_the_cot_follows_the_contract():
    tasks = make_tasks(SAMPLE_DOCS, 300, seed=0)
    assert {t.kind for t in tasks} == {"cloze", "keywords", "which-doc"}
    for t in tasks:
        oracle = t.docs[t.oracle_index]
        assert t.sentence in oracle.text
        if t.kind == "which-doc":
            assert t.answer == oracle.title
        else:
            assert t.answer in t.sentence and oracle.text.count(t.answer) == 1
            assert t.answer not in t.question  # the blank hides it
        assert prompts.extract_quotes(t.cot_answer) == [t.sentence.strip()]
        assert prompts.extract_answer(t.cot_answer) == t.answer
        assert len(t.docs) <= 4 and len({d.text for d in t.docs}) == len(t.docs)
        assert all(t.sentence not in d.text for i, d in enumerate(t.docs) if i != t.oracle_index)


def test_cot_format_is_the_raft_teachers():
    oracle = "Hold the button. The Korvane Tide T9 weighs 9.7 kg without accessories. Charge it."
    sentence = "The Korvane Tide T9 weighs 9.7 kg without accessories."
    assert cot_answer("Tide T9", sentence, "9.7 kg") == compose_answer("How heavy?", "Tide T9", oracle, "9.7 kg")


def test_spans_cover_units_codes_counts_and_menu_paths():
    assert "9.7 kg" in answer_spans("The Korvane Tide T9 weighs 9.7 kg without accessories.")
    assert "KT-1240" in answer_spans("Replace the brush roller with Korvane part number KT-1240.")
    assert "24 hours" in answer_spans("The verification link expires after 24 hours, and you can ask again.")
    assert any("Account > Security" in s for s in answer_spans("Turn it on under Account > Security > Two-step."))
    for s in answer_spans("Passwords must be at least 10 characters long and include a number."):
        assert s in "Passwords must be at least 10 characters long and include a number."


def test_excluded_documents_never_reach_a_task(tmp_path):
    root = corpus_with_secret(tmp_path / "docs")
    with_secret = make_tasks(root, 200, seed=0)
    assert any(SECRET in d.text for t in with_secret for d in t.docs)  # the check below can fail
    for exclude in (["secret-guide"], ["secret-guide.md"]):
        tasks = make_tasks(root, 200, seed=0, exclude=exclude)
        for t in tasks:
            assert all(SECRET not in d.text and d.doc_id != "secret-guide" for d in t.docs)
            assert SECRET not in t.question and SECRET not in t.cot_answer


def test_is_excluded_matches_ids_and_paths():
    doc = next(iter(Corpus(SAMPLE_DOCS)))
    assert is_excluded(doc, [doc.doc_id]) and is_excluded(doc, [doc.source]) and not is_excluded(doc, ["x"])


def test_same_seed_same_tasks_other_seed_differs():
    a = make_tasks(SAMPLE_DOCS, 50, seed=3)
    b = make_tasks(SAMPLE_DOCS, 50, seed=3)
    c = make_tasks(SAMPLE_DOCS, 50, seed=4)
    assert a == b and a != c


def test_distractors_ramp_up_to_the_maximum():
    tasks = make_tasks(SAMPLE_DOCS, 200, seed=0, max_distractors=3)
    assert max(len(t.docs) for t in tasks[:20]) <= 2
    assert max(len(t.docs) for t in tasks[100:]) == 4


def test_tiny_model_reading_stage_is_recorded_in_the_manifest(tmp_path):
    from raft.models.tiny import TinyModelConfig, build_tiny_model

    root = corpus_with_secret(tmp_path / "docs")
    cfg = dict(hidden_size=32, intermediate_size=64, layers=1, heads=2, kv_heads=1, vocab_size=500)
    out = build_tiny_model(
        TinyModelConfig(out=tmp_path / "m", corpus=root, pretrain_steps=2, seq_len=32, batch_size=2,
                        reading_steps=3, reading_batch_size=2, exclude=("secret-guide",), **cfg)
    )
    m = json.loads((out / "manifest.json").read_text())
    assert m["excluded_documents"] == ["secret-guide"] and m["settings"]["exclude"] == ["secret-guide"]
    assert m["corpus_documents"] == len(list(Corpus(root))) - 1
    assert m["reading"]["tasks"] == 6 and m["reading"]["settings"]["steps"] == 3
    assert m["reading"]["tokens"] > 0 and m["reading"]["final_loss"] > 0


def test_reading_stage_interleaves_drill_batches(tmp_path):
    from safetensors.torch import load_file

    from raft.models.tiny import TinyModelConfig, build_tiny_model

    root = corpus_with_secret(tmp_path / "docs")
    cfg = dict(corpus=root, hidden_size=32, intermediate_size=64, layers=2, heads=2, kv_heads=1, vocab_size=500,
               pretrain_steps=0, copy_steps=2, copy_batch_size=2, reading_steps=4, reading_batch_size=2)
    plain = build_tiny_model(TinyModelConfig(out=tmp_path / "plain", **cfg))
    mixed = build_tiny_model(TinyModelConfig(out=tmp_path / "mixed", reading_drill_every=2, **cfg))
    m = json.loads((mixed / "manifest.json").read_text())["reading"]
    assert m["drill_every"] == 2 and m["tasks"] == 8
    assert json.loads((plain / "manifest.json").read_text())["reading"]["drill_every"] == 0
    wa, wb = (load_file(p / "model.safetensors") for p in (plain, mixed))
    assert any((wa[k] != wb[k]).any() for k in wa)  # the two drill batches trained the model


def test_reading_stage_on_a_corpus_without_sentences_is_a_user_error(tmp_path):
    from raft.errors import RaftError
    from raft.models.tiny import TinyModelConfig, build_tiny_model

    root = tmp_path / "docs"
    root.mkdir()
    for i in range(3):
        (root / f"d{i}.md").write_text(f"# Doc {i}\n\nshort words only here\n" * 30)
    with pytest.raises(RaftError, match="reading stage"):
        build_tiny_model(
            TinyModelConfig(out=tmp_path / "m", corpus=root, hidden_size=32, intermediate_size=64, layers=1,
                            heads=2, kv_heads=1, vocab_size=300, pretrain_steps=0, reading_steps=2)
        )


def test_cli_missing_exclude_file_is_one_line_error(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "raft", "tiny-model", "-o", str(tmp_path / "m"), "--exclude-file", str(tmp_path / "x")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "--exclude-file" in proc.stderr
