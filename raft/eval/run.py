"""`raft eval`: compare systems (base + RAG, RAFT + RAG, DSF + RAG, ...) on held-out questions, fairly.

Every system sees the same questions, the same retrieved chunks, the same prompt (raft.prompts)
and the same decoding settings; only the weights differ. Besides real retrieval, the contexts can be
empty (closed book), the oracle alone, or the oracle among random distractors, to show where a gain
comes from. Scores are paired per question, so differences get a paired bootstrap CI.

Before any weights load, every system's lineage (the `lineage.json` a model directory carries from its
dataset, and a base model's pretraining documents) is checked against the questions: a question the
model trained or was selected on, or whose oracle document it saw in training, is refused unless
`--allow-overlap`, and then every such row is flagged in the report.
"""

from __future__ import annotations

import gc
import json
import logging
import random
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from raft import artifacts, prompts
from raft.errors import RaftError
from raft.eval import metrics
from raft.eval import report as eval_report
from raft.serve.generators import DecodingConfig

log = logging.getLogger(__name__)

CONDITIONS = ("retrieved", "closed_book", "oracle", "oracle_distractors")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_OPENAI = re.compile(r"^openai:https?://[^/\s:]+(:\d+)?(/[^:\s]*)?:\S+$")
_HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")


@dataclass(frozen=True)
class SystemSpec:
    """One system under test: a name and the model it generates with."""

    name: str
    model: str
    adapter: str | None = None

    def describe(self) -> str:
        return f"{self.model} + {self.adapter}" if self.adapter else self.model


@dataclass(frozen=True)
class EvalConfig:
    """Settings of one evaluation run (the CLI overrides these defaults)."""

    index: Path
    qa: Path
    out: Path
    systems: tuple[str, ...] = ()
    model: Path | None = None
    k: int = 4
    split: str | None = None  # None: test when the file has a split column, else all
    limit: int | None = None
    conditions: tuple[str, ...] = ("retrieved",)
    decoding: DecodingConfig = field(default_factory=DecodingConfig)
    batch_size: int = 8
    seed: int = 0
    bootstrap: int = 1000
    ttft_samples: int = 5
    hybrid: bool | None = None
    device: str | None = None
    backend: str | None = None  # query embedder backend (None: as the index records)
    overwrite: bool = False
    force_prompt: bool = False
    allow_overlap: bool = False
    trust_remote_code: bool = False  # run a hub model's own modelling code (--trust-remote-code)


def parse_system(text: str) -> SystemSpec:
    """Parse `name=BASE`, `name=BASE:ADAPTER_DIR`, `name=MODEL_DIR` or `name=openai:URL:MODEL`."""
    fix = "write NAME=MODEL, NAME=BASE:ADAPTER_DIR, NAME=MODEL_DIR or NAME=openai:URL:MODEL"
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name or not value:
        raise RaftError(f"cannot parse system {text!r}; {fix}")
    if not _NAME.match(name):
        raise RaftError(f"system name {name!r} may hold only letters, digits, '_', '-' and '.'; {fix}")
    if value.startswith("openai:"):
        if not _OPENAI.match(value):
            raise RaftError(
                f"cannot parse {value!r}; write openai:URL:MODEL, e.g. openai:http://127.0.0.1:8000/v1:raft"
            )
        return SystemSpec(name, value)
    if Path(value).expanduser().exists() or ":" not in value:
        return SystemSpec(name, value)
    base, _, adapter = value.rpartition(":")
    if not base or not adapter:
        raise RaftError(f"cannot parse system {text!r}; {fix}")
    return SystemSpec(name, base, adapter)


def resolve_systems(cfg: EvalConfig) -> list[SystemSpec]:
    """The systems to compare, checked before any weights load (all problems reported at once)."""
    from raft.serve.generators import resolve_model

    specs: list[SystemSpec] = []
    if cfg.model is not None:
        manifest = artifacts.read_manifest(
            cfg.model, "model", "raft train DATASET -o MODEL_DIR --base-model BASE"
        )
        specs += [SystemSpec("rag", str(manifest["base_model"])), SystemSpec("raft", str(cfg.model))]
    specs += [parse_system(s) for s in cfg.systems]
    if not specs:
        raise RaftError("no system to evaluate; pass --model MODEL_DIR or one or more --system NAME=MODEL")
    problems = []
    names = [s.name for s in specs]
    problems += [f"system name {n!r} is used twice" for n in sorted({n for n in names if names.count(n) > 1})]
    for spec in specs:
        if spec.model.startswith("openai:"):
            continue
        if not Path(spec.model).expanduser().exists() and not _HUB_ID.match(spec.model):
            problems.append(f"{spec.name}: model {spec.model} does not exist")
            continue
        try:
            resolve_model(spec.model, spec.adapter, force_prompt=cfg.force_prompt)
        except RaftError as exc:
            problems.append(f"{spec.name}: {exc}")
    if problems:
        raise RaftError("; ".join(problems))
    return specs


def load_questions(path: Path, split: str | None, limit: int | None, held_out: Lineage | None = None) -> list[Any]:
    """Questions of one split from a QA file (raft.data.qa.read_qa) or a RAFT dataset directory's validation split.

    A file without a split column has no test split of its own: `--split test` then means the questions
    `raft generate` held out for the model under test (`held_out`, from its lineage).
    """
    from raft.splits import SPLITS, TEST

    path = Path(path)
    if not path.exists():
        raise RaftError(f"question file {path} does not exist; pass --qa FILE (JSONL, CSV, SQuAD JSON, ...)")
    if split is not None and split != "all" and split not in SPLITS:
        raise RaftError(f"--split {split!r} is not one of {', '.join(SPLITS)}, all")
    if path.is_dir() and (path / artifacts.MANIFEST).is_file():
        items = _dataset_questions(path)
    else:
        from raft.data.qa import read_qa

        items = read_qa(path)
    if any(q.split for q in items):
        split = split or TEST
        if split != "all":
            kept = [q for q in items if q.split == split]
            if not kept:
                found = ", ".join(sorted({str(q.split) for q in items}))
                raise RaftError(
                    f"no question in {path} has split {split!r} (found: {found}); pass --split NAME or --split all"
                )
            items = kept
    elif split == TEST:
        if held_out is None or not held_out.test_keys:
            raise RaftError(
                f"{path} has no split column and no model lineage names its test questions; "
                "pass --split all, or --model MODEL_DIR trained on a dataset generated from this file"
            )
        from raft.data.qa import question_key

        items = [q for q in items if question_key(q.question) in held_out.test_keys]
        if not items:
            raise RaftError(f"none of the test questions the model's dataset held out is in {path}")
    elif split not in (None, "all"):
        raise RaftError(f"{path} has no split column; pass --split all or --split test")
    if not items:
        raise RaftError(f"{path} holds no questions; pass a file with at least one question")
    return items[:limit] if limit else items


def _dataset_questions(path: Path) -> list[Any]:
    """One QAItem per distinct question of a `raft generate` dataset's validation split."""
    from raft.data.qa import QAItem
    from raft.splits import VALIDATION

    artifacts.read_manifest(path, "dataset", "raft generate INDEX -o DATASET_DIR")
    items, seen = [], set()
    with open(path / f"{VALIDATION}.jsonl", encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            if row["id"] in seen:
                continue
            seen.add(row["id"])
            items.append(
                QAItem(
                    id=str(row["id"]),
                    question=row["question"],
                    answer=row.get("answer"),
                    doc_ids=tuple(row.get("oracle_doc_ids") or ()),
                    chunk_ids=tuple(row.get("oracle_ids") or ()),
                    oracle_text=None,
                    split=None,  # the directory's validation split, already chosen
                    line=line_no,
                )
            )
    return items


# ---- lineage and overlap -------------------------------------------------------------------


@dataclass(frozen=True)
class Lineage:
    """What the systems under test trained or were selected on, from their lineage files."""

    trained_keys: frozenset[str] = frozenset()  # question keys of training and validation rows
    trained_docs: frozenset[str] = frozenset()  # oracle and context documents of those rows
    pretrain_docs: frozenset[str] = frozenset()  # documents a base model was pretrained on
    test_keys: frozenset[str] = frozenset()  # questions a dataset held out for test
    sources: tuple[str, ...] = ()


def read_lineage(specs: Sequence[SystemSpec]) -> dict[str, Lineage]:
    """Each local system's lineage: its model dir, its adapter dir, and its base model dir."""
    out = {}
    for spec in specs:
        dirs = [Path(spec.model)]
        if spec.adapter:
            dirs.append(Path(spec.adapter))
        for d in list(dirs):
            manifest = d / artifacts.MANIFEST
            if manifest.is_file():
                base = json.loads(manifest.read_text()).get("base_model")
                if base and Path(base).is_dir():
                    dirs.append(Path(base))
        out[spec.name] = _merge_lineage([d / "lineage.json" for d in dirs if (d / "lineage.json").is_file()])
    return out


def _merge_lineage(files: Sequence[Path]) -> Lineage:
    from raft.splits import TEST

    keys: set[str] = set()
    docs: set[str] = set()
    pretrain: set[str] = set()
    test: set[str] = set()
    for f in files:
        data = json.loads(f.read_text())
        for name, part in (data.get("splits") or {}).items():
            if name == TEST:
                test.update(part.get("question_keys", []))
                continue
            keys.update(part.get("question_keys", []))
            docs.update(part.get("oracle_docs", []))
            docs.update(part.get("context_docs", []))
        pretrain.update(data.get("pretrain_docs", []))
    return Lineage(frozenset(keys), frozenset(docs), frozenset(pretrain), frozenset(test), tuple(map(str, files)))


def overlap_flags(cases: Sequence[Case], lineages: dict[str, Lineage]) -> list[dict[str, list[str]]]:
    """Per case: the systems that trained on it (`trained`) and whose base was pretrained on its oracle (`pretrained`)."""
    from raft.data.qa import question_key

    flags = []
    for case in cases:
        key = question_key(case.item.question)
        trained = [n for n, lin in lineages.items() if key in lin.trained_keys or case.oracle_docs & lin.trained_docs]
        pretrained = [n for n, lin in lineages.items() if case.oracle_docs & lin.pretrain_docs]
        flags.append({"trained": trained, "pretrained": pretrained})
    return flags


def check_overlap(flags: Sequence[dict[str, list[str]]], allow: bool) -> None:
    """Refuse to score questions a system trained or was selected on, unless allowed."""
    counts: dict[str, int] = {}
    for f in flags:
        for name in f["trained"]:
            counts[name] = counts.get(name, 0) + 1
    if counts and not allow:
        worst = max(counts, key=counts.__getitem__)
        raise RaftError(
            f"{counts[worst]} of {len(flags)} questions (or their oracle documents) were used to train or select "
            f"system {worst!r}; evaluate on held-out questions (--split test), or pass --allow-overlap to score "
            "them anyway (the report flags them)"
        )


@dataclass(frozen=True)
class Case:
    """One evaluated question: the QA item, its oracle chunks and their documents, the retrieved hits."""

    item: Any
    oracles: tuple[Any, ...]
    oracle_docs: frozenset[str]
    hits: tuple[Any, ...]

    def answer_chunks(self, context: Sequence[Any]) -> list[Any]:
        """The context chunks that hold the answer: an oracle chunk, or any chunk containing the gold answer."""
        from raft.data.qa import answer_matcher

        oracle_ids = {str(c.chunk_id) for c in self.oracles}
        has_answer = answer_matcher(self.item.answer)
        return [
            c
            for c in context
            if str(c.chunk_id) in oracle_ids or (has_answer is not None and has_answer(" ".join(c.text.lower().split())))
        ]


def make_cases(pairs: Sequence[tuple[Any, tuple[Any, ...]]], retriever: Any, k: int, hybrid: bool | None) -> list[Case]:
    """Retrieve for every matched question and name its oracle documents (every document of its oracle chunks)."""
    hits = retriever.search_batch([q.question for q, _ in pairs], k=k, hybrid=hybrid)
    return [
        Case(item, tuple(oracles), frozenset(c.doc_id for c in oracles), tuple(row))
        for (item, oracles), row in zip(pairs, hits, strict=True)
    ]


def build_contexts(
    condition: str, cases: Sequence[Case], chunks: Sequence[Any], k: int, seed: int
) -> list[list[Any]]:
    """The chunks each question gets under `condition`.

    retrieved: the top-k hits; closed_book: none; oracle: the oracle chunks alone; oracle_distractors:
    the oracle chunks at random positions among random chunks of other documents, k in all (seeded per question).
    """
    if condition == "retrieved":
        return [list(c.hits) for c in cases]
    if condition == "closed_book":
        return [[] for _ in cases]
    if condition == "oracle":
        return [list(c.oracles) for c in cases]
    contexts = []
    for case in cases:
        rng = random.Random(f"{seed}:{case.item.id}")
        pool = rng.sample(range(len(chunks)), min(len(chunks), 4 * k + 8))
        n_other = max(0, k - len(case.oracles))
        others = [chunks[i] for i in pool if chunks[i].doc_id not in case.oracle_docs][:n_other]
        for oracle in case.oracles:
            others.insert(rng.randrange(len(others) + 1), oracle)
        contexts.append(others)
    return contexts


def _ttft(generator: Any, conversations: Sequence[list[dict]], decoding: DecodingConfig) -> float | None:
    """Median seconds to the first streamed text piece over a few questions, one at a time."""
    times = []
    for messages in conversations:
        t0 = time.perf_counter()
        first = None
        for _piece in generator.stream(messages, decoding):
            first = first or time.perf_counter() - t0
        if first is not None:
            times.append(first)
    return statistics.median(times) if times else None


def run_systems(
    specs: Sequence[SystemSpec],
    convs: dict[str, list[list[dict]]],
    cfg: EvalConfig,
    loader: Callable[..., Any] | None = None,
) -> tuple[dict, dict]:
    """Generate with every system under every condition; returns (outputs, cost) keyed by system."""
    from raft.serve.generators import load_generator

    loader = loader or load_generator
    outputs: dict[str, dict[str, list[str]]] = {}
    cost: dict[str, dict[str, Any]] = {}
    for spec in specs:
        log.info("loading %s (%s)", spec.name, spec.describe())
        remote = {"trust_remote_code": True} if cfg.trust_remote_code else {}
        gen = loader(
            spec.model, adapter=spec.adapter, device=cfg.device, force_prompt=cfg.force_prompt, name=spec.name,
            **remote,
        )
        outputs[spec.name], cost[spec.name] = {}, {"conditions": {}}
        for condition, conversations in convs.items():
            log.info("%s / %s: %d questions", spec.name, condition, len(conversations))
            t0 = time.perf_counter()
            done = gen.generate(conversations, cfg.decoding, batch_size=cfg.batch_size)
            seconds = time.perf_counter() - t0
            tokens = sum(c.completion_tokens for c in done)
            outputs[spec.name][condition] = [(c.text, c.finish_reason) for c in done]
            cost[spec.name]["conditions"][condition] = {
                "seconds": seconds,
                "completion_tokens": tokens,
                "prompt_tokens": sum(c.prompt_tokens for c in done),
                "tokens_per_s": tokens / seconds if seconds > 0 else None,
            }
        first = next(iter(convs.values()))[: cfg.ttft_samples]
        cost[spec.name]["ttft_s"] = _ttft(gen, first, cfg.decoding)
        cost[spec.name]["ttft_samples"] = len(first)
        cost[spec.name]["total_s"] = sum(c["seconds"] for c in cost[spec.name]["conditions"].values())
        del gen
        gc.collect()
    return outputs, cost


def score_rows(
    cases: Sequence[Case],
    contexts: dict[str, list[list[Any]]],
    outputs: dict,
    labels: bool,
    flags: Sequence[dict[str, list[str]]],
) -> list[dict]:
    """One row per (condition, question): ids, contexts, overlap flags, and every system's output and scores."""
    rows = []
    for condition, ctxs in contexts.items():
        for i, case in enumerate(cases):
            ctx = ctxs[i]
            holding = case.answer_chunks(ctx)
            row = {
                "id": case.item.id,
                "condition": condition,
                "question": case.item.question,
                "gold": case.item.answer,
                "oracle_doc_ids": sorted(case.oracle_docs),
                "oracle_ids": [c.chunk_id for c in case.oracles],
                "retrieved_ids": [h.chunk_id for h in case.hits],
                "oracle_rank": metrics.oracle_rank([h.chunk_id for h in case.hits], {c.chunk_id for c in case.answer_chunks(case.hits)}),
                "context_ids": [c.chunk_id for c in ctx],
                "answer_chunk_ids": [c.chunk_id for c in holding],
                "oracle_in_context": bool(holding),
                "overlap": flags[i]["trained"],
                "pretrain_overlap": flags[i]["pretrained"],
                "systems": {},
            }
            for name, by_condition in outputs.items():
                raw, finish = by_condition[condition][i]
                scores = metrics.score_output(
                    raw, case.item.answer, [c.text for c in ctx], [c.text for c in holding], labels, finish
                )
                row["systems"][name] = {"raw": raw, "finish_reason": finish, **scores}
            rows.append(row)
    return rows


def run_eval(
    cfg: EvalConfig, retriever: Any = None, loader: Callable[..., Any] | None = None
) -> dict[str, Any]:
    """Run the whole evaluation and write REPORT_DIR; returns the report (also in report.json).

    `retriever` (an already loaded index) and `loader` (instead of `load_generator`) are optional.
    """
    from raft.data.qa import resolve_oracles

    _check_config(cfg)
    specs = resolve_systems(cfg)
    artifacts.check_output_dir(cfg.out, cfg.overwrite, "report")
    lineages = read_lineage(specs)
    held_out = Lineage(test_keys=frozenset().union(*(lin.test_keys for lin in lineages.values())))
    items = load_questions(cfg.qa, cfg.split, cfg.limit, held_out)
    if retriever is None:
        from raft.index.retriever import Retriever

        retriever = Retriever.load(cfg.index, device=cfg.device, backend=cfg.backend)
    pairs, unmatched = resolve_oracles(items, retriever)
    if not pairs:
        reasons = "; ".join(f"{q.id}: {why}" for q, why in unmatched[:3])
        raise RaftError(
            f"none of the {len(items)} questions has its oracle in {cfg.index} ({reasons}); "
            "index the corpus these questions were written on"
        )
    if unmatched:
        log.warning(
            "%d of %d questions have no oracle in the index and are skipped (see report)",
            len(unmatched),
            len(items),
        )
    cases = make_cases(pairs, retriever, cfg.k, cfg.hybrid)
    flags = overlap_flags(cases, lineages)
    check_overlap(flags, cfg.allow_overlap)
    contexts = {c: build_contexts(c, cases, retriever.chunks, cfg.k, cfg.seed) for c in cfg.conditions}
    convs = {
        c: [prompts.build_messages(case.item.question, ctx) for case, ctx in zip(cases, cs, strict=True)]
        for c, cs in contexts.items()
    }
    outputs, cost = run_systems(specs, convs, cfg, loader)
    labels = metrics.is_label_set([q.answer for q, _ in pairs])
    rows = score_rows(cases, contexts, outputs, labels, flags)
    report = eval_report.summarize(rows, [s.name for s in specs], cfg.k, labels, cfg.seed, cfg.bootstrap)
    config = _config_record(cfg, specs, retriever.manifest, pairs)
    report.update(
        config=config,
        config_hash=config["hash"],
        labels=labels,
        cost=cost,
        questions={
            "total": len(items),
            "evaluated": len(pairs),
            "unmatched": len(unmatched),
            "overlap": {s.name: sum(s.name in f["trained"] for f in flags) for s in specs},
            "pretrain_overlap": {s.name: sum(s.name in f["pretrained"] for f in flags) for s in specs},
        },
        lineage={name: list(lin.sources) for name, lin in lineages.items()},
        unmatched=[{"id": q.id, "line": q.line, "reason": why} for q, why in unmatched],
    )
    eval_report.write_report(cfg.out, report, rows, cfg.overwrite)
    return report


def _check_config(cfg: EvalConfig) -> None:
    problems = []
    bad = [c for c in cfg.conditions if c not in CONDITIONS]
    if bad or not cfg.conditions:
        problems.append(
            f"unknown condition(s) {', '.join(bad) or '(none)'}; choose from {', '.join(CONDITIONS)}"
        )
    for name in ("k", "batch_size", "bootstrap"):
        if getattr(cfg, name) < 1:
            problems.append(f"--{name.replace('_', '-')} must be at least 1")
    if cfg.limit is not None and cfg.limit < 1:
        problems.append("--limit must be at least 1")
    if cfg.decoding.max_new_tokens < 1:
        problems.append("--max-new-tokens must be at least 1")
    if problems:
        raise RaftError("; ".join(problems))


def _config_record(cfg: EvalConfig, specs: Sequence[SystemSpec], index_manifest: dict, pairs) -> dict:
    """The resolved configuration and a hash of everything that determines the results."""
    record = {
        "index": str(cfg.index),
        "qa": str(cfg.qa),
        "split": cfg.split,
        "limit": cfg.limit,
        "k": cfg.k,
        "conditions": list(cfg.conditions),
        "decoding": asdict(cfg.decoding),
        "batch_size": cfg.batch_size,
        "seed": cfg.seed,
        "bootstrap": cfg.bootstrap,
        "hybrid": cfg.hybrid,
        "force_prompt": cfg.force_prompt,
        "systems": [asdict(s) for s in specs],
        "prompt": prompts.contract(),
        "index_fingerprint": artifacts.index_fingerprint(index_manifest),
        "allow_overlap": cfg.allow_overlap,
        "question_ids": artifacts.fingerprint([q.id for q, _ in pairs]),
    }
    record["hash"] = artifacts.fingerprint({k: v for k, v in record.items() if k not in ("index", "qa")})
    return record
