"""`raft eval`: compare systems (base + RAG, RAFT + RAG, DSF + RAG, ...) on held-out questions, fairly.

Every system sees the same questions, the same retrieved chunks, the same prompt (raft.prompts)
and the same decoding settings; only the weights differ. Besides real retrieval, the contexts can be
empty (closed book), the oracle alone, or the oracle among random distractors, to show where a gain
comes from. Scores are paired per question, so differences get a paired bootstrap CI.
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

from raft import artifacts, eval_report, metrics, prompts
from raft.errors import RaftError
from raft.generation import DecodingConfig

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
    split: str = "test"
    limit: int | None = None
    conditions: tuple[str, ...] = ("retrieved",)
    decoding: DecodingConfig = field(default_factory=DecodingConfig)
    batch_size: int = 8
    seed: int = 0
    bootstrap: int = 1000
    ttft_samples: int = 5
    hybrid: bool | None = None
    device: str | None = None
    overwrite: bool = False
    force_prompt: bool = False
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
    from raft.generation import resolve_model

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


def load_questions(path: Path, split: str, limit: int | None) -> list[Any]:
    """Questions from a QA file (raft.qa.read_qa) or a RAFT dataset directory's eval split."""
    path = Path(path)
    if not path.exists():
        raise RaftError(f"question file {path} does not exist; pass --qa FILE (JSONL, CSV, SQuAD JSON, ...)")
    if path.is_dir() and (path / artifacts.MANIFEST).is_file():
        items = _dataset_questions(path)
    else:
        from raft.qa import read_qa

        items = read_qa(path)
    if split != "all" and any(q.split for q in items):
        kept = [q for q in items if q.split == split]
        if not kept:
            found = ", ".join(sorted({str(q.split) for q in items}))
            raise RaftError(
                f"no question in {path} has split {split!r} (found: {found}); pass --split NAME or --split all"
            )
        items = kept
    if not items:
        raise RaftError(f"{path} holds no questions; pass a file with at least one question")
    return items[:limit] if limit else items


def _dataset_questions(path: Path) -> list[Any]:
    """One QAItem per distinct question of a `raft generate` dataset's eval split (held out already)."""
    from raft.qa import QAItem

    artifacts.read_manifest(path, "dataset", "raft generate INDEX -o DATASET_DIR")
    items, seen = [], set()
    with open(path / "eval.jsonl", encoding="utf-8") as fh:
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
                    doc_id=row.get("oracle_doc_id"),
                    chunk_id=row.get("oracle_id"),
                    oracle_text=None,
                    split=None,
                    line=line_no,
                )
            )
    return items


@dataclass(frozen=True)
class Case:
    """One evaluated question: the QA item, its oracle chunk, the oracle's document ids, the retrieved hits."""

    item: Any
    oracle: Any
    oracle_docs: frozenset[str]
    hits: tuple[Any, ...]


def make_cases(pairs: Sequence[tuple[Any, Any]], retriever: Any, k: int, hybrid: bool | None) -> list[Case]:
    """Retrieve for every matched question and name its oracle documents.

    A QA doc id may name several index documents (PubMedQA's `<pmid>-<i>` rows); all of them count
    as the oracle for recall and citations.
    """
    from raft.qa import doc_group

    doc_ids = {c.doc_id for c in retriever.chunks}
    by_prefix: dict[str, list[str]] = {}
    for d in doc_ids:
        for m in re.finditer(r"[-#/]", d):
            by_prefix.setdefault(d[: m.start()], []).append(d)
    hits = retriever.search_batch([q.question for q, _ in pairs], k=k, hybrid=hybrid)
    cases = []
    for (item, oracle), row in zip(pairs, hits, strict=True):
        docs = {oracle.doc_id, *(doc_group(item.doc_id, doc_ids, by_prefix) if item.doc_id else [])}
        cases.append(Case(item, oracle, frozenset(docs), tuple(row)))
    return cases


def build_contexts(
    condition: str, cases: Sequence[Case], chunks: Sequence[Any], k: int, seed: int
) -> list[list[Any]]:
    """The chunks each question gets under `condition`.

    retrieved: the top-k hits; closed_book: none; oracle: the oracle chunk alone; oracle_distractors:
    the oracle at a random position among k − 1 random chunks of other documents (seeded per question).
    """
    if condition == "retrieved":
        return [list(c.hits) for c in cases]
    if condition == "closed_book":
        return [[] for _ in cases]
    if condition == "oracle":
        return [[c.oracle] for c in cases]
    contexts = []
    for case in cases:
        rng = random.Random(f"{seed}:{case.item.id}")
        pool = rng.sample(range(len(chunks)), min(len(chunks), 4 * k + 8))
        others = [chunks[i] for i in pool if chunks[i].doc_id not in case.oracle_docs][: k - 1]
        others.insert(rng.randrange(len(others) + 1), case.oracle)
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
    from raft.generation import load_generator

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
            outputs[spec.name][condition] = [c.text for c in done]
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
    cases: Sequence[Case], contexts: dict[str, list[list[Any]]], outputs: dict, labels: bool
) -> list[dict]:
    """One row per (condition, question): ids, contexts, and every system's output and scores."""
    rows = []
    for condition, ctxs in contexts.items():
        for i, case in enumerate(cases):
            ctx = ctxs[i]
            oracle_texts = [c.text for c in ctx if c.doc_id in case.oracle_docs]
            row = {
                "id": case.item.id,
                "condition": condition,
                "question": case.item.question,
                "gold": case.item.answer,
                "oracle_doc_ids": sorted(case.oracle_docs),
                "oracle_chunk_id": case.oracle.chunk_id,
                "retrieved_ids": [h.chunk_id for h in case.hits],
                "oracle_rank": metrics.oracle_rank([h.doc_id for h in case.hits], case.oracle_docs),
                "context_ids": [c.chunk_id for c in ctx],
                "oracle_in_context": bool(oracle_texts),
                "systems": {},
            }
            for name, by_condition in outputs.items():
                raw = by_condition[condition][i]
                scores = metrics.score_output(
                    raw, case.item.answer, [c.text for c in ctx], oracle_texts, labels
                )
                row["systems"][name] = {"raw": raw, **scores}
            rows.append(row)
    return rows


def run_eval(
    cfg: EvalConfig, retriever: Any = None, loader: Callable[..., Any] | None = None
) -> dict[str, Any]:
    """Run the whole evaluation and write REPORT_DIR; returns the report (also in report.json).

    `retriever` (an already loaded index) and `loader` (instead of `load_generator`) are optional.
    """
    from raft.qa import resolve_oracles

    _check_config(cfg)
    specs = resolve_systems(cfg)
    artifacts.check_output_dir(cfg.out, cfg.overwrite, "report")
    items = load_questions(cfg.qa, cfg.split, cfg.limit)
    if retriever is None:
        from raft.retriever import Retriever

        retriever = Retriever.load(cfg.index, device=cfg.device)
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
    contexts = {c: build_contexts(c, cases, retriever.chunks, cfg.k, cfg.seed) for c in cfg.conditions}
    convs = {
        c: [prompts.build_messages(case.item.question, ctx) for case, ctx in zip(cases, cs, strict=True)]
        for c, cs in contexts.items()
    }
    outputs, cost = run_systems(specs, convs, cfg, loader)
    labels = metrics.is_label_set([q.answer for q, _ in pairs])
    rows = score_rows(cases, contexts, outputs, labels)
    report = eval_report.summarize(rows, [s.name for s in specs], cfg.k, labels, cfg.seed, cfg.bootstrap)
    config = _config_record(cfg, specs, retriever.manifest, pairs)
    report.update(
        config=config,
        config_hash=config["hash"],
        labels=labels,
        cost=cost,
        questions={"total": len(items), "evaluated": len(pairs), "unmatched": len(unmatched)},
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
        "index_fingerprint": index_manifest.get("corpus_fingerprint")
        or artifacts.fingerprint(index_manifest),
        "question_ids": artifacts.fingerprint([q.id for q, _ in pairs]),
    }
    record["hash"] = artifacts.fingerprint({k: v for k, v in record.items() if k not in ("index", "qa")})
    return record
