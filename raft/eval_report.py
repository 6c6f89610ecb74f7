"""The evaluation report: per-system aggregates with CIs and paired differences, the REPORT_DIR files
(JSON, Markdown, per-question JSONL, chart) and the terminal table."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from raft import artifacts, metrics

TITLES = {
    "em": "Exact match",
    "f1": "Token F1",
    "accuracy": "Accuracy (yes/no/maybe)",
    "format": "Format adherence",
}
SHORT = {"em": "EM", "f1": "F1", "accuracy": "Acc"}
FILES = ("report.md", "report.json", "per_question.jsonl", "chart.png", "config.json")


def main_metrics(labels: bool) -> list[str]:
    return ["accuracy", "f1", "em"] if labels else ["em", "f1"]


def summarize(rows: list[dict], names: Sequence[str], k: int, labels: bool, seed: int, n_boot: int) -> dict:
    """Per system and condition means (with bootstrap CIs), retrieval scores, and paired differences."""
    result: dict[str, Any] = {"systems": {}, "differences": [], "retrieval": {}}
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
    for name in names:
        result["systems"][name] = {}
        for cond in conditions:
            sub = [r for r in rows if r["condition"] == cond]
            result["systems"][name][cond] = _aggregate(sub, name, labels, seed, n_boot)
    for target, baseline in comparison_pairs(names):
        for cond in conditions:
            sub = [r for r in rows if r["condition"] == cond]
            for metric in main_metrics(labels):
                pairs = [(r["systems"][target][metric], r["systems"][baseline][metric]) for r in sub]
                pairs = [p for p in pairs if None not in p]
                diff = metrics.paired_bootstrap([a for a, _ in pairs], [b for _, b in pairs], n_boot, seed)
                result["differences"].append(
                    {"system": target, "baseline": baseline, "condition": cond, "metric": metric, **diff}
                )
    return result


def _aggregate(rows: list[dict], name: str, labels: bool, seed: int, n_boot: int) -> dict[str, Any]:
    scores = [r["systems"][name] for r in rows]
    out: dict[str, Any] = {"n": len(rows)}
    for metric in [*main_metrics(labels), "format"]:
        values = [s[metric] for s in scores if s[metric] is not None]
        out[metric] = metrics.mean(values)
        out[f"{metric}_ci"] = list(metrics.bootstrap_ci(values, n_boot, seed)) if values else None
    for metric in ("quote_validity", "citation_precision"):
        out[metric] = metrics.mean([s[metric] for s in scores])
    out["quoted"] = metrics.mean([float(s["quotes"] > 0) for s in scores])
    present = [r["oracle_in_context"] for r in rows]
    out["abstain_oracle_absent"] = metrics.mean(
        [s["abstained"] for s, p in zip(scores, present, strict=True) if not p]
    )
    out["abstain_oracle_present"] = metrics.mean(
        [s["abstained"] for s, p in zip(scores, present, strict=True) if p]
    )
    main = main_metrics(labels)[0]
    out[f"{main}_oracle_present"] = metrics.mean([s[main] for s, p in zip(scores, present, strict=True) if p])
    out[f"{main}_oracle_absent"] = metrics.mean(
        [s[main] for s, p in zip(scores, present, strict=True) if not p]
    )
    return out


def comparison_pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    """(system, baseline) pairs: `raft` against every other system, else each system against the first."""
    if "raft" in names:
        return [("raft", n) for n in names if n != "raft"]
    return [(n, names[0]) for n in names[1:]]


def write_report(
    out: Path, report: dict[str, Any], rows: list[dict[str, Any]], overwrite: bool = False
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


def result_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the main table: one row per condition and system (percentages, 95% CI)."""
    metrics = main_metrics(report["labels"])
    main = metrics[0]
    header = ["condition", "system", *[SHORT[m] for m in metrics]]
    header += ["format", "quote valid", "cite prec", "abstain (no oracle)", f"{SHORT[main]} oracle in/out"]
    header += ["tok/s"]
    rows = []
    for name, by_condition in report["systems"].items():
        for condition, s in by_condition.items():
            cost = report["cost"][name]["conditions"].get(condition, {})
            tps = cost.get("tokens_per_s")
            split = f"{_pct(s[f'{main}_oracle_present'])} / {_pct(s[f'{main}_oracle_absent'])}"
            rows.append(
                [
                    condition,
                    name,
                    *[_with_ci(s, m) for m in metrics],
                    _pct(s["format"]),
                    _pct(s["quote_validity"]),
                    _pct(s["citation_precision"]),
                    _pct(s["abstain_oracle_absent"]),
                    split,
                    "–" if tps is None else f"{tps:.1f}",
                ]
            )
    order = {c: i for i, c in enumerate(report["config"]["conditions"])}
    rows.sort(key=lambda r: order.get(r[0], len(order)))
    return header, rows


def difference_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["condition", "difference", "metric", "Δ (points)", "95% CI", "P(Δ ≤ 0)", "n"]
    rows = []
    for d in report["differences"]:
        rows.append(
            [
                d["condition"],
                f"{d['system']} − {d['baseline']}",
                d["metric"],
                f"{100 * d['diff']:+.1f}",
                f"[{100 * d['low']:+.1f}, {100 * d['high']:+.1f}]",
                f"{d['p_le_0']:.3f}",
                str(d["n"]),
            ]
        )
    return header, rows


def format_table(report: dict[str, Any]) -> str:
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
            f"MRR {retrieval['mrr']:.3f}  (oracle document, {retrieval['n']} questions)"
        )
    return "\n\n".join(parts)


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def render_markdown(report: dict[str, Any]) -> str:
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
        "Columns: quote valid = quoted spans found verbatim in the context; cite prec = quotes taken from the "
        "oracle document; abstain (no oracle) = abstentions when the oracle was not in the context; "
        "oracle in/out = main score when the oracle was / was not in the context.",
    ]
    if report["differences"]:
        out.append("## Paired differences (bootstrap over questions)\n" + _md_table(*difference_rows(report)))
    if report.get("retrieval"):
        r = report["retrieval"]
        k = r["k"]
        out.append(
            f"## Retrieval\nRecall@1 {_pct(r['recall@1'])}, recall@{k} {_pct(r[f'recall@{k}'])}, "
            f"MRR {r['mrr']:.3f} for the oracle document over {r['n']} questions."
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


def plot_chart(report: dict[str, Any], path: Path) -> None:
    """Bar chart of the main metrics per condition and system, with 95% CI error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [*main_metrics(report["labels"]), "format"]
    names = list(report["systems"])
    conditions = list(next(iter(report["systems"].values())))
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.6), squeeze=False)
    width = 0.8 / max(1, len(names))
    for ax, metric in zip(axes[0], metrics, strict=True):
        for j, name in enumerate(names):
            stats = [report["systems"][name][c] for c in conditions]
            values = [100 * (s[metric] or 0) for s in stats]
            cis = [s[f"{metric}_ci"] or (v / 100, v / 100) for v, s in zip(values, stats, strict=True)]
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
