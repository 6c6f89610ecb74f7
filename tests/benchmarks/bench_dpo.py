"""Before/after DPO, measured: `raft eval` of a RAFT model and of the same model after `raft train --method dpo`.

    .venv/bin/python tests/benchmarks/bench_dpo.py --out runs/bench-dpo \
        [--demo-dir runs/demo] [--squad-articles 4] [--dpo-steps 30] [--eval-limit 40] [--quick]

Two settings:
  (a) demo: the RAFT model of a `raft demo` run directory (`--demo-dir`, reused as it is; without it the
      demo is run into OUT/demo, `--quick` for the reduced setting);
  (b) squad: the demo flow on the first N articles of SQuAD 2.0 dev (read from ../shared/datasets;
      questions split by article, the last quarter of the articles is the test side), starting from the
      demo's base model (or `--squad-base-model`).
For each, DPO starts from `models/raft` on pairs built from the run's own RAFT dataset (`data/raft`);
both models are then evaluated on the same test questions, retrieval, prompt and decoding. Printed and
written to OUT/bench_dpo.md: per-system metrics read by name from report.json / per_question.jsonl
(EM, F1, quote validity, refusal precision/recall, truthfulness when the report has them) and paired
bootstrap CIs of dpo − sft over the same questions.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import replace
from pathlib import Path

from raft.demo import DemoConfig, quick, run_demo
from raft.eval import metrics

SQUAD = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "squad-v2-dev" / "dev-v2.0.json"
# Per-question scores compared with a paired CI when present; report-level metrics read when present.
PAIRED = ("em", "f1", "accuracy", "truthfulness", "quote_validity", "citation_precision", "abstained")
REPORTED = ("refusal_precision", "refusal_recall", "truthfulness", "abstain_oracle_absent", "format")


def squad_subset(out: Path, articles: int) -> tuple[Path, Path]:
    """A SQuAD-format corpus of the first N dev articles and a QA JSONL split by article (never copied into the project)."""
    data = json.loads(SQUAD.read_text())["data"][:articles]
    out.mkdir(parents=True, exist_ok=True)
    corpus = out / "squad-subset.json"
    corpus.write_text(json.dumps({"version": "v2.0", "data": data}))
    test_from = articles - max(1, articles // 4)
    rows = []
    for a, article in enumerate(data):
        for i, para in enumerate(article["paragraphs"]):
            for qa in para["qas"]:
                answers = [x["text"] for x in qa.get("answers", []) if x.get("text")]
                if qa.get("is_impossible") or not answers:
                    continue
                rows.append({"id": qa["id"], "question": qa["question"].strip(), "answer": answers[0],
                             "doc_id": f"{article['title']}#{i}", "passage": para["context"],
                             "split": "test" if a >= test_from else "train"})  # fmt: skip
    qa_file = out / "squad-qa.jsonl"
    qa_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return corpus, qa_file


def dpo_and_eval(run: Path, steps: int, eval_limit: int | None, max_new_tokens: int, seed: int,
                 name: str = "dpo") -> dict:
    from raft.eval.run import EvalConfig, run_eval
    from raft.serve.generators import DecodingConfig
    from raft.train.config import load_config
    from raft.train.preference import train_preference

    t0 = time.perf_counter()
    cfg = load_config(None, dataset=run / "data" / "raft", out=run / "models" / name,
                      base_model=str(run / "models" / "raft"), method="dpo", max_steps=steps, batch_size=4,
                      grad_accum=1, eval_steps=max(5, steps // 3), early_stopping_patience=0, seed=seed,
                      overwrite=True)  # fmt: skip
    manifest = train_preference(cfg)
    dpo_s = time.perf_counter() - t0
    report_dir = run / f"report-{name}"
    report = run_eval(EvalConfig(index=run / "index", qa=run / "questions" / "test.jsonl", out=report_dir,
                                 systems=(f"sft={run / 'models' / 'raft'}", f"dpo={run / 'models' / name}"),
                                 split="test", limit=eval_limit, seed=seed, overwrite=True,
                                 decoding=DecodingConfig(max_new_tokens=max_new_tokens)))  # fmt: skip
    rows = [json.loads(x) for x in (report_dir / "per_question.jsonl").read_text().splitlines()]
    return {"report": report, "rows": rows, "dpo_seconds": round(dpo_s), "dpo_manifest": manifest}


def refusal(rows: list[dict], name: str) -> dict[str, float | None]:
    """Refusal precision (abstentions that were right: no oracle in the context) and recall (no-oracle
    questions the system abstained on), from per-question rows, for reports that do not carry them."""
    ret = [r for r in rows if r["condition"] == "retrieved"]
    abstained = [r for r in ret if r["systems"][name].get("abstained")]
    absent = [r for r in ret if not r.get("oracle_in_context")]
    right = [r for r in abstained if not r.get("oracle_in_context")]
    return {
        "refusal_precision": len(right) / len(abstained) if abstained else None,
        "refusal_recall": sum(bool(r["systems"][name].get("abstained")) for r in absent) / len(absent) if absent else None,
    }


def table(setting: str, result: dict, seed: int) -> str:
    report, rows = result["report"], [r for r in result["rows"] if r["condition"] == "retrieved"]
    names = list(report["systems"])
    lines = [f"### {setting}: {len(rows)} test questions, DPO {result['dpo_manifest']['global_step']} steps "
             f"({result['dpo_seconds']} s), pairs {result['dpo_manifest'].get('pair_kinds', {}).get('train')}", "",
             "| metric | " + " | ".join(names) + " | dpo − sft (points) | 95% CI | n |", "|---|" + "---:|" * (len(names) + 3)]  # fmt: skip
    summary = {n: report["systems"][n]["retrieved"] for n in names}
    computed = {n: refusal(result["rows"], n) for n in names}
    seen = set()
    for metric in PAIRED:
        a = [(r["systems"]["dpo"].get(metric), r["systems"]["sft"].get(metric)) for r in rows]
        a = [(float(x), float(y)) for x, y in a if x is not None and y is not None]
        if not a:
            continue
        seen.add(metric)
        d = metrics.paired_bootstrap([x for x, _ in a], [y for _, y in a], 1000, seed)
        means = [metrics.mean([float(r["systems"][n][metric]) for r in rows if r["systems"][n].get(metric) is not None])
                 for n in names]  # fmt: skip
        lines.append(f"| {metric} | " + " | ".join(_pct(m) for m in means)
                     + f" | {100 * d['diff']:+.1f} | [{100 * d['low']:+.1f}, {100 * d['high']:+.1f}] | {d['n']} |")  # fmt: skip
    for metric in REPORTED:
        if metric in seen:
            continue
        values = [summary[n].get(metric, computed[n].get(metric)) for n in names]
        if all(v is None for v in values) and metric not in computed[names[0]]:
            continue
        source = "" if metric in summary[names[0]] else " (from per-question rows)"
        lines.append(f"| {metric}{source} | " + " | ".join(_pct(v) for v in values) + " | | | |")
    return "\n".join(lines)


def _pct(v) -> str:
    return "–" if v is None else f"{100 * v:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("runs/bench-dpo"))
    ap.add_argument("--demo-dir", type=Path, default=None, help="A finished `raft demo` run directory to reuse.")
    ap.add_argument("--squad-articles", type=int, default=4)
    ap.add_argument("--dpo-steps", type=int, default=30)
    ap.add_argument("--eval-limit", type=int, default=None)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--quick", action="store_true", help="Reduced demo settings (smoke scale).")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip", choices=["demo", "squad"], default=None)
    ap.add_argument("--squad-base-model", default=None,
                    help="Base model of the SQuAD run [the demo's, smollm2-135m].")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    base = DemoConfig(seed=args.seed, eval_limit=args.eval_limit, max_new_tokens=args.max_new_tokens)
    base = quick(base) if args.quick else base
    base = replace(base, eval_limit=args.eval_limit or base.eval_limit)
    runs: dict[str, Path] = {}
    if args.skip != "demo":
        runs["demo"] = args.demo_dir or args.out / "demo"
        if args.demo_dir is None:
            run_demo(replace(base, out=runs["demo"]))
    if args.skip != "squad":
        corpus, qa = squad_subset(args.out / "squad-data", args.squad_articles)
        runs["squad"] = args.out / "squad"
        squad = replace(base, out=runs["squad"], corpus=corpus, qa=qa)
        if args.squad_base_model:
            squad = replace(squad, base_model=args.squad_base_model)
        run_demo(squad)
    parts = []
    for setting, run in runs.items():
        result = dpo_and_eval(run, args.dpo_steps, base.eval_limit, base.max_new_tokens, args.seed)
        parts.append(table(setting, result, args.seed))
        print("\n" + parts[-1] + "\n", flush=True)
    (args.out / "bench_dpo.md").write_text("\n\n".join(parts) + "\n")


if __name__ == "__main__":
    main()
