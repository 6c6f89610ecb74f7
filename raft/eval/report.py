"""The evaluation report: per-system aggregates with CIs and paired differences, the REPORT_DIR files
(JSON, Markdown, per-question JSONL, chart) and the terminal table."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from raft import artifacts
from raft.eval import metrics
from raft.eval.records import EvalReport, QuestionRow, Summary

TITLES = {
    "em_strict": "Exact match (tagged)",
    "f1_strict": "Token F1 (tagged)",
    "em_lenient": "Exact match (lenient)",
    "f1_lenient": "Token F1 (lenient)",
    "accuracy_strict": "Accuracy (tagged)",
    "accuracy_lenient": "Accuracy (lenient)",
    "truthfulness": "Truthfulness (+1/0/-1)",
    "format": "Format adherence",
}
SHORT = {
    "em_strict": "EM",
    "f1_strict": "F1",
    "em_lenient": "EM~",
    "f1_lenient": "F1~",
    "accuracy_strict": "Acc",
    "accuracy_lenient": "Acc~",
}
FILES = ("report.md", "report.json", "per_question.jsonl", "chart.png", "config.json")
# Per-question rates averaged into every aggregate (besides the answer metrics).
RATES = ("format", "truncated", "quote_validity", "citation_precision", "truthfulness")
BASE_NAMES = ("base", "rag")


def main_metrics(labels: bool) -> list[str]:
    """Answer metrics with CIs, strict then lenient; the first one leads tables and verdicts."""
    if labels:
        return ["accuracy_strict", "accuracy_lenient", "f1_strict"]
    return ["em_strict", "f1_strict", "em_lenient", "f1_lenient"]


def summarize(rows: list[QuestionRow], names: Sequence[str], k: int, labels: bool, seed: int, n_boot: int) -> Summary:
    """Per system and condition aggregates (with CIs and an oracle-retrieved breakdown), paired differences,
    retrieval scores and the closed-book regression verdict."""
    result = Summary(systems={}, differences=[], retrieval={}, closed_book_regression=[])
    retrieved = [r for r in rows if r["condition"] == "retrieved"]
    if retrieved:
        ranks = [r["oracle_rank"] for r in retrieved]
        result["retrieval"] = {
            "k": k,
            "n": len(ranks),
            f"recall@{k}": metrics.mean([metrics.recall_at_k(x, k) for x in ranks]),
            "recall@1": metrics.mean([metrics.recall_at_k(x, 1) for x in ranks]),
            "mrr": metrics.mean([metrics.reciprocal_rank(x) for x in ranks]),
        }
    conditions = list(dict.fromkeys(r["condition"] for r in rows))
    by_cond = {c: [r for r in rows if r["condition"] == c] for c in conditions}
    for name in names:
        result["systems"][name] = {}
        for cond, sub in by_cond.items():
            stats = _aggregate(sub, name, labels, seed, n_boot)
            stats["by_oracle_retrieved"] = {
                side: _aggregate([r for r in sub if r["oracle_in_context"] == flag], name, labels, seed, n_boot)
                for side, flag in (("in", True), ("out", False))
            }
            result["systems"][name][cond] = stats
    for target, baseline in comparison_pairs(names):
        for cond, sub in by_cond.items():
            for metric in [*main_metrics(labels), "truthfulness"]:
                result["differences"].append(
                    {"system": target, "baseline": baseline, "condition": cond, "metric": metric}
                    | _paired(sub, target, baseline, metric, seed, n_boot)
                )
    if "closed_book" in by_cond:
        result["closed_book_regression"] = regression_verdicts(by_cond["closed_book"], names, labels, seed, n_boot)
    return result


def _paired(rows: list[QuestionRow], a: str, b: str, metric: str, seed: int, n_boot: int) -> dict[str, float]:
    pairs = [(r["systems"][a][metric], r["systems"][b][metric]) for r in rows]
    pairs = [p for p in pairs if None not in p]
    return metrics.paired_bootstrap([x for x, _ in pairs], [y for _, y in pairs], n_boot, seed)


def regression_verdicts(rows: list[QuestionRow], names: Sequence[str], labels: bool, seed: int, n_boot: int) -> list[dict]:
    """Each tuned system against its base on closed-book questions: did tuning make it forget what it knew?

    The base is the system named base or rag (else the first). "regressed" when the 95% CI of
    tuned − base on the lead metric lies below zero, "improved" when above, else "no significant change".
    """
    base = next((n for n in names if n in BASE_NAMES), names[0])
    metric = main_metrics(labels)[0]
    verdicts = []
    for name in names:
        if name == base:
            continue
        d = _paired(rows, name, base, metric, seed, n_boot)
        verdict = "regressed" if d["high"] < 0 else ("improved" if d["low"] > 0 else "no significant change")
        verdicts.append({"system": name, "baseline": base, "metric": metric, "verdict": verdict, **d})
    return verdicts


def _aggregate(rows: list[QuestionRow], name: str, labels: bool, seed: int, n_boot: int) -> dict[str, Any]:
    scores = [r["systems"][name] for r in rows]
    out: dict[str, Any] = {"n": len(rows)}
    for metric in main_metrics(labels):
        values = [s[metric] for s in scores if s[metric] is not None]
        out[metric] = metrics.mean(values)
        out[f"{metric}_ci"] = list(metrics.bootstrap_ci(values, n_boot, seed)) if values else None
    for metric in RATES:
        out[metric if metric != "truncated" else "truncated_rate"] = metrics.mean([s[metric] for s in scores])
    out["quoted"] = metrics.mean([float(s["quotes"] > 0) for s in scores])
    present = [r["oracle_in_context"] for r in rows]
    out.update(metrics.refusal_scores([bool(s["abstained"]) for s in scores], present))
    out["abstain_oracle_absent"] = metrics.mean([s["abstained"] for s, p in zip(scores, present, strict=True) if not p])
    out["abstain_oracle_present"] = metrics.mean([s["abstained"] for s, p in zip(scores, present, strict=True) if p])
    out["overlap_rows"] = sum(1 for r in rows if name in r.get("overlap", []))
    return out


def comparison_pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    """(system, baseline) pairs: `raft` against every other system, else each system against the first."""
    if "raft" in names:
        return [("raft", n) for n in names if n != "raft"]
    return [(n, names[0]) for n in names[1:]]


def write_report(
    out: Path, report: EvalReport, rows: list[QuestionRow], overwrite: bool = False
) -> Path:
    """Write every report file into a staging dir, then the manifest, then move it into place."""
    with artifacts.staging_dir(Path(out), overwrite) as tmp:
        artifacts.write_json_atomic(tmp / "report.json", report)
        artifacts.write_json_atomic(tmp / "config.json", report["config"])
        with open(tmp / "per_question.jsonl", "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        (tmp / "report.md").write_text(render_markdown(report), encoding="utf-8")
        plot_chart(report, tmp / "chart.png")
        artifacts.write_manifest(
            tmp,
            "report",
            {"config_hash": report["config_hash"], "files": list(FILES), "questions": report["questions"]},
        )
    return Path(out)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _with_ci(stats: dict[str, Any], metric: str) -> str:
    ci = stats.get(f"{metric}_ci")
    if stats.get(metric) is None:
        return "–"
    return f"{_pct(stats[metric])} [{_pct(ci[0])}, {_pct(ci[1])}]" if ci else _pct(stats[metric])


def result_rows(report: EvalReport) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the main table: one row per condition and system (percentages, 95% CI)."""
    shown = main_metrics(report["labels"])
    header = ["condition", "system", *[SHORT[m] for m in shown]]
    header += ["truth", "format", "trunc", "quote valid", "cite prec", "refusal P/R", "tok/s"]
    rows = []
    for name, by_condition in report["systems"].items():
        for condition, s in by_condition.items():
            cost = report["cost"][name]["conditions"].get(condition, {})
            tps = cost.get("tokens_per_s")
            truth = "–" if s["truthfulness"] is None else f"{s['truthfulness']:+.2f}"
            rows.append(
                [
                    condition,
                    name,
                    *[_with_ci(s, m) for m in shown],
                    truth,
                    _pct(s["format"]),
                    _pct(s["truncated_rate"]),
                    _pct(s["quote_validity"]),
                    _pct(s["citation_precision"]),
                    f"{_pct(s['refusal_precision'])} / {_pct(s['refusal_recall'])}",
                    "–" if tps is None else f"{tps:.1f}",
                ]
            )
    order = {c: i for i, c in enumerate(report["config"]["conditions"])}
    rows.sort(key=lambda r: order.get(r[0], len(order)))
    return header, rows


def difference_rows(report: EvalReport) -> tuple[list[str], list[list[str]]]:
    header = ["condition", "difference", "metric", "Δ (points)", "95% CI", "P(Δ ≤ 0)", "n"]
    rows = []
    for d in report["differences"]:
        rows.append(
            [
                d["condition"],
                f"{d['system']} − {d['baseline']}",
                d["metric"],
                f"{_scale(d) * d['diff']:+.1f}",
                f"[{_scale(d) * d['low']:+.1f}, {_scale(d) * d['high']:+.1f}]",
                f"{d['p_le_0']:.3f}",
                str(d["n"]),
            ]
        )
    return header, rows


def _scale(d: dict[str, Any]) -> float:
    """Differences print in points (x100), truthfulness in its own -2..2 units."""
    return 1.0 if d["metric"] == "truthfulness" else 100.0


def verdict_lines(report: EvalReport) -> list[str]:
    return [
        f"closed book, {v['system']} vs {v['baseline']} ({v['metric']}): {v['verdict']} "
        f"(Δ {100 * v['diff']:+.1f} [{100 * v['low']:+.1f}, {100 * v['high']:+.1f}])"
        for v in report.get("closed_book_regression", [])
    ]


def format_table(report: EvalReport) -> str:
    """A plain-text table for the terminal."""
    parts = []
    for header, rows in (result_rows(report), difference_rows(report)):
        if not rows:
            continue
        widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
        lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *rows]]
        lines.insert(1, "  ".join("-" * w for w in widths))
        parts.append("\n".join(lines))
    retrieval = report.get("retrieval")
    if retrieval:
        k = retrieval["k"]
        parts.append(
            f"retrieval: recall@1 {_pct(retrieval['recall@1'])}  recall@{k} {_pct(retrieval[f'recall@{k}'])}  "
            f"MRR {retrieval['mrr']:.3f}  (chunks holding the answer, {retrieval['n']} questions)"
        )
    parts += verdict_lines(report)
    overlap = {n: c for n, c in report["questions"].get("overlap", {}).items() if c}
    if overlap:
        parts.append("OVERLAP (scored with --allow-overlap): " + ", ".join(f"{n} trained on {c}" for n, c in overlap.items()))
    return "\n\n".join(parts)


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def render_markdown(report: EvalReport) -> str:
    """report.md: results, differences, retrieval, cost, skipped questions, configuration."""
    cfg, q = report["config"], report["questions"]
    systems = "\n".join(
        f"- `{s['name']}`: {s['model']}" + (f" + adapter {s['adapter']}" if s["adapter"] else "")
        for s in cfg["systems"]
    )
    out = [
        "# RAFT evaluation report",
        f"Questions: {q['evaluated']} evaluated of {q['total']} ({q['unmatched']} without an oracle in the index). "
        f"Index `{cfg['index']}`, questions `{cfg['qa']}` (split `{cfg['split']}`), k = {cfg['k']}, "
        f"prompt `{cfg['prompt']['version']}`, decoding {cfg['decoding']}. Config hash `{report['config_hash']}`.",
        "## Systems\n" + systems,
        "## Results (percent, 95% bootstrap CI)\n" + _md_table(*result_rows(report)),
        "Columns: EM/F1 = scored on the tagged answer (a missing `<ANSWER>:` scores 0); EM~/F1~ = lenient "
        "(the tagged answer, else the last line); truth = CRAG truthfulness (+1 correct, 0 abstain, -1 wrong, "
        "lenient); trunc = answers cut by the token budget; quote valid = quoted spans found verbatim in the "
        "context; cite prec = quotes taken from the chunks that hold the answer; refusal P/R = abstentions "
        "when no context chunk held the answer / such cases that were abstained on. report.json has every "
        "metric split by whether a chunk holding the answer was in the context (`by_oracle_retrieved`).",
    ]
    if report.get("closed_book_regression"):
        out.append("## Closed-book regression\n" + "\n".join(f"- {line}" for line in verdict_lines(report)))
    overlap = {n: c for n, c in q.get("overlap", {}).items() if c}
    if overlap:
        out.append(
            "## Overlap\nScored with `--allow-overlap`: "
            + ", ".join(f"`{n}` trained or was selected on {c} of these questions" for n, c in overlap.items())
            + "; per_question.jsonl flags them (`overlap`)."
        )
    if report["differences"]:
        out.append("## Paired differences (bootstrap over questions)\n" + _md_table(*difference_rows(report)))
    if report.get("retrieval"):
        r = report["retrieval"]
        k = r["k"]
        out.append(
            f"## Retrieval\nRecall@1 {_pct(r['recall@1'])}, recall@{k} {_pct(r[f'recall@{k}'])}, "
            f"MRR {r['mrr']:.3f} for the chunks holding the answer over {r['n']} questions."
        )
    cost_rows = [
        [
            name,
            _secs(c.get("ttft_s")),
            f"{c['total_s']:.1f}",
            str(sum(x["completion_tokens"] for x in c["conditions"].values())),
        ]
        for name, c in report["cost"].items()
    ]
    out.append(
        "## Cost\n" + _md_table(["system", "time to first token (s)", "total (s)", "tokens"], cost_rows)
    )
    if report["unmatched"]:
        shown = "\n".join(
            f"- `{u['id']}` (line {u['line']}): {u['reason']}" for u in report["unmatched"][:20]
        )
        out.append(f"## Skipped questions ({len(report['unmatched'])})\n{shown}")
    out.append("![main metrics](chart.png)")
    return "\n\n".join(out) + "\n"


def _secs(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def plot_chart(report: EvalReport, path: Path) -> None:
    """Bar chart of the main metrics per condition and system, with 95% CI error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [*main_metrics(report["labels"])[:2], "format"]
    names = list(report["systems"])
    conditions = list(next(iter(report["systems"].values())))
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.6), squeeze=False)
    width = 0.8 / max(1, len(names))
    for ax, metric in zip(axes[0], metrics, strict=True):
        for j, name in enumerate(names):
            stats = [report["systems"][name][c] for c in conditions]
            values = [100 * (s[metric] or 0) for s in stats]
            cis = [s.get(f"{metric}_ci") or (v / 100, v / 100) for v, s in zip(values, stats, strict=True)]
            lows = [max(0.0, v - 100 * ci[0]) for v, ci in zip(values, cis, strict=True)]
            highs = [max(0.0, 100 * ci[1] - v) for v, ci in zip(values, cis, strict=True)]
            xs = [i + (j - (len(names) - 1) / 2) * width for i in range(len(conditions))]
            ax.bar(xs, values, width, yerr=[lows, highs], capsize=3, label=name)
        ax.set_xticks(range(len(conditions)), [c.replace("_", "\n") for c in conditions], fontsize=8)
        ax.set_title(TITLES[metric], fontsize=10)
        ax.set_ylim(0, 105)
        ax.set_ylabel("% (95% CI)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
