"""`raft train --method dpo|kto`: preference tuning with TRL's DPOTrainer and KTOTrainer.

DPO trains on pairs built from a RAFT dataset without any labelling: the chosen answer is the row's
verified chain of thought (or the abstention when the oracle is absent); the rejected one is the same
question answered with a quote that is in no document (`fabricated_quote`), with an answer taken from
a distractor (`distractor_answer`), or with a confident answer where abstaining was right
(`answered_when_absent`). KTO trains on unpaired 👍/👎 rows from `raft feedback export --as preference`.

Either starts from a `raft train` model directory (a LoRA adapter keeps training, against a frozen
copy of itself as the reference) or from a base model (a new LoRA adapter). The run follows `raft
train`'s contract: same prompt, checkpoints in MODEL_DIR that resume, `--dry-run`, a model card,
`train_log.jsonl`, and the manifest written last, so `raft eval` and `raft chat` load the result as
they load any other model directory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import re
import shutil
from pathlib import Path
from typing import Any

from raft import artifacts, prompts
from raft.errors import RaftError
from raft.jsonl import read_jsonl
from raft.splits import VALIDATION
from raft.train.inputs import load_tokenizer

log = logging.getLogger(__name__)

PAIR_KINDS = ("fabricated_quote", "distractor_answer", "answered_when_absent")
PAIRS_FILE = "preference_pairs.jsonl"
KTO_HINT = "raft feedback export FEEDBACK.jsonl -o PREFS.jsonl --as preference --index INDEX_DIR"
_DOC_RE = re.compile(r"<DOCUMENT (\d+): (.*?)>\n(.*?)\n</DOCUMENT>", re.DOTALL)
_SENTENCE_RE = re.compile(r"[^.!?\n]+[.!?]")


# ---- DPO pairs from a RAFT dataset -----------------------------------------------------------


def parse_documents(user_prompt: str) -> list[prompts.Document]:
    """The documents of a user turn built by `prompts.build_user_prompt`, in context order."""
    return [prompts.Document(title, text) for _, title, text in _DOC_RE.findall(user_prompt)]


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_RE.findall(text) if len(s.strip().split()) >= 4]


def _cot(quote: str, answer: str) -> str:
    return f"The documents say {prompts.format_quote(quote)} so {prompts.ANSWER_TAG} {answer}"


def make_pair(row: dict[str, Any], foreign: list[str], rng: random.Random) -> dict[str, Any] | None:
    """One DPO pair for a dataset row (None when no rejected answer can be built for it)."""
    docs = parse_documents(row["prompt"][-1]["content"])
    chosen = row["completion"][-1]["content"]
    context = "\n".join(d.text for d in docs)
    oracles = set(row.get("oracle_positions") or []) if row.get("oracle_present", True) else set()
    distractor_sents = [s for i, d in enumerate(docs) if i not in oracles for s in _sentences(d.text)]
    answer = str(row.get("answer") or prompts.extract_answer(chosen) or "").strip()
    if not oracles or prompts.is_abstention(prompts.extract_answer(chosen)):
        if not distractor_sents or not answer or prompts.is_abstention(answer):
            return None
        kind, rejected = "answered_when_absent", _cot(rng.choice(distractor_sents), answer)
    else:
        kinds = []
        quotes = prompts.extract_quotes(chosen)
        fakes = [s for s in foreign if s not in context]
        if quotes and fakes:
            kinds.append("fabricated_quote")
        if distractor_sents:
            kinds.append("distractor_answer")
        if not kinds:
            return None
        kind = rng.choice(kinds)
        if kind == "fabricated_quote":
            rejected = chosen.replace(prompts.format_quote(quotes[0]), prompts.format_quote(rng.choice(fakes)), 1)
            if rejected == chosen:  # the quote was written with other spacing; rebuild the answer around it
                rejected = _cot(rng.choice(fakes), answer)
        else:
            quote = rng.choice(distractor_sents)
            rejected = _cot(quote, " ".join(quote.rstrip(".!?").split()[-8:]))
    return {
        "id": str(row.get("id", "")),
        "question": row.get("question", ""),
        "prompt": row["prompt"],
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
        "rejected_kind": kind,
    }


def build_pairs(rows: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """Pairs for every usable row, deterministic for a seed; quotes to fabricate come from other rows."""
    rng = random.Random(seed)
    pool = sorted({s for r in rows for d in parse_documents(r["prompt"][-1]["content"]) for s in _sentences(d.text)})
    pairs = []
    for row in rows:
        foreign = rng.sample(pool, min(len(pool), 20)) if pool else []
        pair = make_pair(row, foreign, rng)
        if pair is not None:
            pairs.append(pair)
    return pairs


def dpo_splits(dataset: Path, seed: int) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """Train / validation pairs from a RAFT dataset directory, and the dataset's manifest."""
    from raft.train.inputs import load_raft_dataset

    splits, manifest = load_raft_dataset(dataset)
    pairs = {name: build_pairs([dict(r) for r in splits[name]], seed) for name in splits if len(splits[name])}
    if not pairs.get("train"):
        raise RaftError(
            f"{dataset} gave no preference pairs (rows need documents with sentences to quote); "
            "regenerate it with distractors (raft generate --distractors 4)"
        )
    return pairs, manifest


# ---- KTO rows from feedback --------------------------------------------------------------------


def kto_splits(path: Path, seed: int) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """Train / validation rows of a `--as preference` export (10% of the questions held out, chosen by hash)."""
    path = Path(path)
    if not path.is_file():
        raise RaftError(f"{path} is not a preference file; build one with `{KTO_HINT}`")
    fix = f"this is not a preference file; build one with `{KTO_HINT}`"
    rows = [row for _, row in read_jsonl(path, required=("prompt", "completion", "label"), fix=fix)]
    labels = {bool(r["label"]) for r in rows}
    if labels != {True, False}:
        raise RaftError(f"{path} needs both 👍 and 👎 rows for KTO (has {len(rows)} rows, labels {sorted(labels)})")
    questions = sorted({str(r.get("question", "")) for r in rows},
                       key=lambda q: hashlib.sha256(f"{seed}:{q}".encode()).hexdigest())  # fmt: skip
    held_out = set(questions[: len(questions) // 10]) if len(rows) >= 10 else set()
    splits: dict[str, list[dict[str, Any]]] = {"train": [], VALIDATION: []}
    for r in rows:
        side = VALIDATION if str(r.get("question", "")) in held_out else "train"
        splits[side].append({"prompt": r["prompt"], "completion": r["completion"], "label": bool(r["label"])})
    contract = rows[0].get("prompt_contract") or prompts.contract()
    return splits, {"prompt": contract, "mode": "kto", "settings": {"source": str(path.resolve())}}


# ---- the run -----------------------------------------------------------------------------------


def load_splits(cfg: Any) -> tuple[dict[str, list[dict[str, Any]]], dict[str, Any]]:
    return dpo_splits(cfg.dataset, cfg.seed) if cfg.method == "dpo" else kto_splits(cfg.dataset, cfg.seed)


def start_model(cfg: Any) -> dict[str, Any]:
    """Where training starts: a base model, or a `raft train` directory (adapter or full weights)."""
    path = Path(cfg.base_model)
    if not (path / artifacts.MANIFEST).is_file():
        return {"base": cfg.base_model, "adapter": None, "init_model": None, "prompt": None}
    manifest = artifacts.read_manifest(path, "model", "raft train DATASET -o MODEL_DIR --base-model BASE")
    version = (manifest.get("prompt") or {}).get("version")
    if version != prompts.PROMPT_VERSION:
        raise RaftError(f"{path} was trained with prompt {version}, this raft builds {prompts.PROMPT_VERSION}")
    if manifest.get("adapter"):
        return {"base": str(manifest["base_model"]), "adapter": str(path.resolve()),
                "init_model": str(path.resolve()), "prompt": manifest["prompt"]}  # fmt: skip
    return {"base": str(path.resolve()), "adapter": None, "init_model": str(path.resolve()), "prompt": manifest["prompt"]}


def length_stats(tokenizer: Any, rows: list[dict[str, Any]], max_length: int, completions: tuple[str, ...]) -> dict:
    """Token lengths of prompt + each completion column, as the trainer will see them."""
    from raft.train.inputs import length_stats as sft_stats

    merged: dict[str, Any] = {}
    for col in completions:
        split = {"prompt": [r["prompt"] for r in rows], "completion": [r[col] for r in rows]}
        stats = sft_stats(tokenizer, split, max_length)
        merged = stats if not merged or stats["max"] > merged["max"] else merged
        merged = dict(merged, over_max_length=max(merged["over_max_length"], stats["over_max_length"]))
    return merged


def _completion_columns(method: str) -> tuple[str, ...]:
    return ("chosen", "rejected") if method == "dpo" else ("completion",)


def plan(cfg: Any) -> dict[str, Any]:
    """What `--dry-run` shows for a preference run: resolved settings, pair kinds and token lengths."""
    from raft.train.hardware import hardware
    from raft.train.model_dir import config_record

    splits, _ = load_splits(cfg)
    start = start_model(cfg)
    tokenizer = load_tokenizer(start["base"])
    hw = hardware(cfg)
    cols = _completion_columns(cfg.method)
    stats = {n: length_stats(tokenizer, rows, cfg.max_length, cols) for n, rows in splits.items() if rows}
    resolved = config_record(cfg) | {"precision": hw["precision"], "lr": cfg.resolved_lr(), "start": start["init_model"]}
    kinds = {n: _count(rows, "rejected_kind" if cfg.method == "dpo" else "label") for n, rows in splits.items()}
    return {"config": resolved, "lengths": stats, "rows": kinds}


def _count(rows: list[dict[str, Any]], key: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in rows:
        counts[str(r[key])] = counts.get(str(r[key]), 0) + 1
    return counts


def train_preference(cfg: Any, callbacks: list[Any] | None = None) -> dict[str, Any]:
    """DPO or KTO from `cfg.base_model` (a base or a `raft train` directory); returns the model manifest."""
    from datasets import Dataset

    from raft.train.hardware import hardware
    from raft.train.model_dir import final_eval_loss, finish, prepare

    splits, data_manifest = load_splits(cfg)
    start = start_model(cfg)
    if start["prompt"] is not None and start["prompt"] != data_manifest["prompt"]:
        raise RaftError(f"{cfg.base_model} and {cfg.dataset} use different prompt contracts; rebuild one of them")
    tokenizer = load_tokenizer(start["base"])
    hw = hardware(cfg)
    cols = _completion_columns(cfg.method)
    stats = {n: length_stats(tokenizer, rows, cfg.max_length, cols) for n, rows in splits.items() if rows}
    state, resume = prepare(cfg, hw, stats)
    if state.is_main_process and cfg.method == "dpo":
        rows = [dict(r, split=n) for n, rs in splits.items() for r in rs]
        (cfg.out / PAIRS_FILE).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    has_eval = bool(splits.get(VALIDATION))
    datasets = {n: Dataset.from_list([{k: r[k] for k in ("prompt", *cols, "label") if k in r} for r in rows])
                for n, rows in splits.items() if rows}  # fmt: skip
    trainer = _build_trainer(cfg, hw, start, datasets, tokenizer, has_eval, callbacks or [])
    result = trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(str(cfg.out))
    shutil.rmtree(cfg.out / "ref", ignore_errors=True)  # TRL's frozen reference copy of the start adapter
    final_eval = final_eval_loss(trainer) if has_eval else None
    manifest = None
    if trainer.is_world_process_zero():
        data_manifest = dict(data_manifest, prompt=start["prompt"] or data_manifest["prompt"])
        extra = {"method": cfg.method, "base_model": start["base"], "init_model": start["init_model"],
                 "adapter": not cfg.full or start["adapter"] is not None, "beta": cfg.beta}  # fmt: skip
        if cfg.method == "dpo":
            extra["pair_kinds"] = {n: _count(rows, "rejected_kind") for n, rows in splits.items()}
        else:
            extra["labels"] = {n: _count(rows, "label") for n, rows in splits.items()}
        manifest = finish(cfg, hw, trainer, result, final_eval, data_manifest, stats, extra=extra)
    state.wait_for_everyone()
    return manifest or artifacts.read_manifest(cfg.out, "model")


def _trainer_config(cfg: Any, hw: dict[str, Any], has_eval: bool) -> Any:
    from trl import DPOConfig, KTOConfig

    from raft.train.hardware import trainer_args

    kwargs = trainer_args(cfg, hw, has_eval) | {"beta": cfg.beta}
    kwargs.update(cfg.sft_args)
    return (DPOConfig if cfg.method == "dpo" else KTOConfig)(**kwargs)


def _build_trainer(cfg, hw, start, datasets, tokenizer, has_eval, callbacks) -> Any:
    from dataclasses import replace

    from trl import DPOTrainer, KTOTrainer

    from raft.train.hardware import load_model, lora_config, show_progress, trainer_callbacks

    args = _trainer_config(cfg, hw, has_eval)
    model = load_model(replace(cfg, base_model=start["base"]), hw)
    peft_config = None if cfg.full else lora_config(cfg, model)
    if start["adapter"] is not None:  # keep training the RAFT adapter; TRL freezes a copy of it as reference
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, start["adapter"], is_trainable=True)
        peft_config = None
    trainer_cls = DPOTrainer if cfg.method == "dpo" else KTOTrainer
    trainer = trainer_cls(
        model=model,
        args=args,
        train_dataset=datasets["train"],
        eval_dataset=datasets.get(VALIDATION),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=trainer_callbacks(cfg, args, has_eval, callbacks),
    )
    return show_progress(trainer, args)
