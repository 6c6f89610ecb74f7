"""`raft eval`: compare systems (base + RAG, RAFT + RAG, DSF + RAG, ...) on held-out questions, fairly.

Every system sees the same questions, the same retrieved chunks, the same prompt (raft.prompts)
and the same decoding settings; only the weights differ. Besides real retrieval, the contexts can be
empty (closed book), the oracle alone, or the oracle among random distractors, to show where a gain
comes from. Scores are paired per question, so differences get a paired bootstrap CI.

Before any weights load, every system's lineage (the `lineage.json` a model directory carries from its
dataset, and its base's when the base is a model directory too) is checked against the questions: a
question the model trained or was selected on, or whose oracle document it saw in training, is refused
unless `--allow-overlap`, and then every such row is flagged in the report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from raft import artifacts, prompts
from raft.errors import RaftError
from raft.eval import metrics
from raft.eval import report as eval_report
from raft.eval.cases import build_contexts, make_cases, score_rows
from raft.eval.config import EvalConfig, check_config
from raft.eval.lineage import Lineage, check_overlap, overlap_flags, read_lineage
from raft.eval.questions import load_questions
from raft.eval.records import EvalReport, QuestionCounts, Unmatched
from raft.eval.systems import SystemSpec, resolve_systems, run_systems

if TYPE_CHECKING:
    from raft.index.retriever import Retriever

log = logging.getLogger(__name__)


def run_eval(
    cfg: EvalConfig, retriever: Retriever | None = None, loader: Callable[..., Any] | None = None
) -> EvalReport:
    """Run the whole evaluation and write REPORT_DIR; returns the report (also in report.json).

    `retriever` (an already loaded index) and `loader` (instead of `load_generator`) are optional.
    """
    from raft.data.oracles import resolve_oracles

    check_config(cfg)
    specs = resolve_systems(cfg)
    artifacts.check_output_dir(cfg.out, cfg.overwrite, "report")
    lineages = read_lineage(specs)
    held_out = Lineage(test_keys=frozenset().union(*(lin.test_keys for lin in lineages.values())))
    items = load_questions(cfg.qa, cfg.split, cfg.limit, held_out, seed=cfg.seed)
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
    summary = eval_report.summarize(rows, [s.name for s in specs], cfg.k, labels, cfg.seed, cfg.bootstrap)
    config = _config_record(cfg, specs, retriever.manifest, pairs)
    report = EvalReport(
        **summary,
        config=config,
        config_hash=config["hash"],
        labels=labels,
        cost=cost,
        questions=QuestionCounts(
            total=len(items),
            evaluated=len(pairs),
            unmatched=len(unmatched),
            overlap={s.name: sum(s.name in f for f in flags) for s in specs},
        ),
        lineage={name: list(lin.sources) for name, lin in lineages.items()},
        unmatched=[Unmatched(id=q.id, line=q.line, reason=why) for q, why in unmatched],
    )
    eval_report.write_report(cfg.out, report, rows, cfg.overwrite)
    return report




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
