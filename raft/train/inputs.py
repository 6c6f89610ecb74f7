"""Training inputs checked before any weights load: the RAFT dataset's shape, the base tokenizer,
and token lengths (a row whose answer would be truncated is an error, never a silent drop)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from raft import artifacts, prompts
from raft.errors import RaftError
from raft.splits import DATASET_SPLITS

DATASET_HINT = "raft generate INDEX_DIR -o DATASET_DIR --qa FILE"


def load_raft_dataset(path: Path) -> tuple[Any, dict[str, Any]]:
    """The dataset's splits and manifest, after checking the columns training needs."""
    from raft.data.dataset_dir import load_dataset_dir

    artifacts.read_manifest(path, "dataset", DATASET_HINT)
    if not (Path(path) / "hf").is_dir():
        raise RaftError(f"{path} has no hf/ folder; rebuild it with `{DATASET_HINT}`")
    splits, manifest = load_dataset_dir(path)
    prompts.check_contract(manifest.get("prompt"), f"dataset {path}", f"rebuild it with `{DATASET_HINT}`")
    check_schema(splits, manifest, path)
    return splits, manifest


def cap_validation(splits: Any, rows: int | None, seed: int) -> Any:
    """`splits` with its validation split cut to a seeded subset of `rows` rows (None: unchanged)."""
    from raft.splits import VALIDATION

    if rows is None or VALIDATION not in splits or len(splits[VALIDATION]) <= rows:
        return splits
    splits[VALIDATION] = splits[VALIDATION].shuffle(seed=seed).select(range(rows))
    return splits


def check_schema(splits: Any, manifest: dict[str, Any], path: Path) -> None:
    """Every problem with the dataset's shape, reported at once."""
    problems = []
    if "train" not in splits or len(splits["train"]) == 0:
        problems.append("no rows in a 'train' split")
    unknown = sorted(set(splits) - set(DATASET_SPLITS))
    if unknown:
        problems.append(f"split(s) {', '.join(unknown)} (a dataset holds only {', '.join(DATASET_SPLITS)})")
    for name in [s for s in DATASET_SPLITS if s in splits]:
        cols = set(splits[name].column_names)
        missing = sorted({"prompt", "completion"} - cols)
        if missing:
            problems.append(f"split '{name}' lacks column(s) {', '.join(missing)}")
        elif len(splits[name]):
            row = splits[name][0]
            if not _is_messages(row["prompt"]) or not _is_messages(row["completion"]):
                problems.append(
                    f"split '{name}' prompt/completion are not lists of {{role, content}} messages"
                )
            elif row["completion"][-1]["role"] != "assistant":
                problems.append(f"split '{name}' completion is not an assistant message")
    if problems:
        raise RaftError(
            f"{path} is not a RAFT dataset: {'; '.join(problems)}; rebuild it with `{DATASET_HINT}`"
        )


def _is_messages(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(m, dict) and "role" in m for m in value)


def load_tokenizer(base_model: str, trust_remote_code: bool = False) -> Any:
    """The base model's tokenizer (pad token set, see `raft.models.loading`); a one-line RaftError when it cannot
    be found or has no chat template."""
    from raft.models.loading import load_tokenizer as load

    tok = load(base_model, trust_remote_code=trust_remote_code, what="base model")
    if not tok.chat_template:
        raise RaftError(f"base model '{base_model}' has no chat template; use an instruct/chat model")
    return tok


def check_target_modules(base_model: str, target_modules: str, trust_remote_code: bool = False) -> None:
    """Every name in a comma-separated --target-modules must name a layer LoRA can wrap in the base model.

    The model is built from its config on the meta device: no weights are read."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from raft.models.offline import resolve
    from raft.train.config import target_module_names

    if target_modules == "all-linear":
        return
    wanted = target_module_names(target_modules)
    if not wanted:
        raise RaftError("--target-modules is empty; pass all-linear or comma-separated layer names")
    try:
        config = AutoConfig.from_pretrained(resolve(base_model), trust_remote_code=trust_remote_code)
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
    except (OSError, ValueError):
        return  # loading reports this model's own problem, with its fix
    kinds = (torch.nn.Linear, torch.nn.Embedding, torch.nn.Conv1d, torch.nn.Conv2d)
    layers = [name for name, mod in model.named_modules() if isinstance(mod, kinds) or type(mod).__name__ == "Conv1D"]
    unknown = [w for w in wanted if not any(n == w or n.endswith("." + w) for n in layers)]
    if unknown:
        names = sorted({n.rsplit(".", 1)[-1] for n in layers} - {"lm_head"})
        raise RaftError(f"--target-modules {', '.join(unknown)}: no such layer in {base_model}; "
                        f"choose from {', '.join(names)}, or pass all-linear")


def adapt_prompts(splits: Any, tokenizer: Any) -> tuple[Any, str | None]:
    """The splits with their `prompt` messages mapped for the tokenizer's chat template, and the
    adaptation applied (None when the template takes the prompt contract as it is)."""
    from raft.prompts import adapt_messages, chat_adaptation, template_kwargs

    adaptation = chat_adaptation(tokenizer)
    if adaptation is None:
        return splits, None
    extra = {"chat_template_kwargs": template_kwargs(adaptation)} if template_kwargs(adaptation) else {}
    mapped = splits.map(
        lambda row: {"prompt": adapt_messages(row["prompt"], adaptation), **extra},  # TRL reads the kwargs
        load_from_cache_file=False,
        keep_in_memory=True,  # never write cache files into the dataset directory
    )
    return mapped, adaptation


def length_stats(tokenizer: Any, split: Any, max_length: int) -> dict[str, Any]:
    """Token lengths of prompt+completion as the trainer will see them, and how many exceed max_length."""
    import numpy as np

    columns = split.column_names if hasattr(split, "column_names") else list(split)  # a Dataset or a dict of lists
    kwargs = dict(split["chat_template_kwargs"][0]) if "chat_template_kwargs" in columns else {}
    full = [
        len(x)
        for x in _chat_ids(
            tokenizer, [p + c for p, c in zip(split["prompt"], split["completion"], strict=True)], **kwargs
        )
    ]
    prompt = [len(x) for x in _chat_ids(tokenizer, split["prompt"], add_generation_prompt=True, **kwargs)]
    lengths, answers = np.array(full), np.array(full) - np.array(prompt)
    over = int((lengths > max_length).sum())
    return {
        "rows": len(full),
        "tokens": int(lengths.sum()),
        "mean": round(float(lengths.mean()), 1),
        "p50": int(np.percentile(lengths, 50)),
        "p95": int(np.percentile(lengths, 95)),
        "max": int(lengths.max()),
        "answer_mean": round(float(answers.mean()), 1),
        "over_max_length": over,
    }


def _chat_ids(
    tokenizer: Any, conversations: list[Any], add_generation_prompt: bool = False, **kwargs: Any
) -> list[list[int]]:
    out = []
    for conv in conversations:
        enc = tokenizer.apply_chat_template(
            conv, tokenize=True, add_generation_prompt=add_generation_prompt, **kwargs
        )
        out.append(enc["input_ids"] if hasattr(enc, "keys") else enc)
    return out


def check_lengths(stats: dict[str, dict[str, Any]], max_length: int) -> None:
    """A row longer than max_length would lose (part of) its answer, which comes last: that is an error."""
    bad = {name: s for name, s in stats.items() if s["over_max_length"]}
    if bad:
        what = ", ".join(f"{s['over_max_length']} of {s['rows']} {n} rows" for n, s in bad.items())
        longest = max(s["max"] for s in bad.values())
        raise RaftError(
            f"{what} exceed --max-length {max_length} (longest {longest} tokens) and would have their answer cut; "
            f"raise --max-length to {longest} or regenerate the dataset with fewer or shorter documents per question"
        )
