"""Shared test setup: offline, quiet, deterministic."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CORPUS = ROOT / "corpora" / "helpdesk"
SAMPLE_DOCS = SAMPLE_CORPUS / "docs"
SAMPLE_QUESTIONS = SAMPLE_CORPUS / "questions.jsonl"
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"


@pytest.fixture(scope="session", autouse=True)
def embedder_cache(tmp_path_factory) -> Path:
    """ONNX exports of the embedder go to a per-session directory (RAFT_CACHE_DIR), unless one is set."""
    if not os.environ.get("RAFT_CACHE_DIR"):
        os.environ["RAFT_CACHE_DIR"] = str(tmp_path_factory.mktemp("raft-cache"))
    return Path(os.environ["RAFT_CACHE_DIR"])


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory) -> Path:
    """The bundled corpus indexed with the real MiniLM embedder (built once per test session)."""
    from raft.index.build import IndexConfig, build_index

    out = tmp_path_factory.mktemp("sample-index") / "index"
    build_index(IndexConfig(corpus=SAMPLE_DOCS, out=out))
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A random-init tiny Llama of the SmolLM2 family (tests/families.py: ChatML template, hidden size 64,
    2 layers) with a BPE tokenizer trained on the bundled corpus and the prompt contract: the product's
    real base model in miniature. Untrained: its output is noise; see `teach_fixed_answer` for a model
    that answers."""
    from tests.families import build_family_model, contract_texts, corpus_texts, family, train_base_bpe

    out = tmp_path_factory.mktemp("tiny-llama") / "model"
    return build_family_model(family("smollm2"), train_base_bpe(corpus_texts(SAMPLE_DOCS) + contract_texts()), out)


# ---- helpers shared by the training tests ----------------------------------------------------------




def make_dataset(
    out: Path, n_train: int = 24, n_eval: int = 8, seed: int = 0, contract: dict | None = None
) -> Path:
    """A small RAFT dataset directory in the documented format, built from the bundled gold questions."""
    import json
    import random

    from datasets import Dataset, DatasetDict

    from raft import artifacts, prompts

    rng = random.Random(seed)
    items = [json.loads(line) for line in SAMPLE_QUESTIONS.read_text().splitlines()[: n_train + n_eval]]
    passages = [(q["doc_id"], q["passage"]) for q in items]
    rows = []
    for i, q in enumerate(items):
        distractors = rng.sample([p for p in passages if p[0] != q["doc_id"]], 2)
        docs = [prompts.Document(q["doc_id"], q["passage"])] + [
            prompts.Document(d, t) for d, t in distractors
        ]
        rng.shuffle(docs)
        oracle_index = next(j for j, d in enumerate(docs) if d.title == q["doc_id"])
        cot = f"The document says {prompts.format_quote(q['passage'])} {prompts.ANSWER_TAG} {q['answer']}"
        rows.append(
            {
                "id": q["id"],
                "question": q["question"],
                "answer": q["answer"],
                "cot_answer": cot,
                "oracle_positions": [oracle_index],
                "oracle_present": True,
                "prompt": prompts.build_messages(q["question"], docs),
                "completion": [{"role": "assistant", "content": cot}],
                "split": "train" if i < n_train else "validation",
            }
        )
    splits = DatasetDict(
        train=Dataset.from_list([r for r in rows if r["split"] == "train"]),
        validation=Dataset.from_list([r for r in rows if r["split"] == "validation"]),
    )
    out.mkdir(parents=True)
    splits.save_to_disk(str(out / "hf"))
    lineage = {"splits": {s: {"question_ids": [r["id"] for r in rows if r["split"] == s]} for s in ("train", "validation")}}
    (out / "lineage.json").write_text(json.dumps(lineage))
    artifacts.write_manifest(
        out,
        "dataset",
        {"prompt": contract or prompts.contract(), "mode": "raft", "settings": {"distractors": 2, "seed": seed}},
    )
    return out


def small_cfg(dataset: Path, out: Path, base: Path, **kw):
    """A few-step TrainConfig: tiny batches, frequent eval/checkpoints."""
    from raft.train.config import TrainConfig

    values = dict(dataset=dataset, out=out, base_model=str(base), max_steps=6, batch_size=4, grad_accum=1)
    values.update(eval_steps=3, logging_steps=1, lr=2e-3, max_length=512, lora_r=4, lora_alpha=8)
    values.update(kw)
    return TrainConfig(**values)
