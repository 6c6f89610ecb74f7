"""`raft feedback report`: what users rated and what the model could not answer, over time.

Reads the ratings (`raft chat --feedback`) and the request log (`--request-log` of `raft chat` or
`raft serve`) and writes `report.json`, `report.md` and `report.png` (ratings and abstention rate
per day) into a new directory.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from raft.errors import RaftError


def _day(row: dict[str, Any]) -> str:
    return str(row.get("time") or "")[:10] or "unknown"


def _norm(question: str) -> str:
    return re.sub(r"\s+", " ", question.strip().lower())


def summarise(ratings: list[dict[str, Any]], requests: list[dict[str, Any]], top: int = 10) -> dict[str, Any]:
    """Counts of ratings and abstentions, per model and per day, and the most often unanswered questions."""
    by_model: dict[str, Counter] = defaultdict(Counter)
    by_day: dict[str, Counter] = defaultdict(Counter)
    for r in ratings:
        by_model[str(r.get("model", "?"))][r["rating"]] += 1
        by_day[_day(r)][r["rating"]] += 1
    answered: dict[str, Counter] = defaultdict(Counter)
    unanswered: Counter = Counter()
    shown: dict[str, str] = {}
    for r in requests:
        abstained = bool(r.get("abstained"))
        answered[str(r.get("model", "?"))]["abstained" if abstained else "answered"] += 1
        by_day[_day(r)]["abstained" if abstained else "answered"] += 1
        if abstained and r.get("question"):
            key = _norm(r["question"])
            unanswered[key] += 1
            shown.setdefault(key, r["question"].strip())
    for r in ratings:  # a 👎 is an unanswered question too, from the user's side
        if r["rating"] == "down" and r.get("question"):
            key = _norm(r["question"])
            unanswered[key] += 1
            shown.setdefault(key, r["question"].strip())
    up = sum(c["up"] for c in by_model.values())
    down = sum(c["down"] for c in by_model.values())
    total = sum(sum(c.values()) for c in answered.values())
    abstained = sum(c["abstained"] for c in answered.values())
    return {
        "ratings": {"up": up, "down": down, "share_up": round(up / (up + down), 4) if up + down else None},
        "ratings_by_model": {m: dict(c) for m, c in sorted(by_model.items())},
        "answers": total,
        "abstained": abstained,
        "abstain_rate": round(abstained / total, 4) if total else None,
        "answers_by_model": {m: dict(c) for m, c in sorted(answered.items())},
        "by_day": {d: dict(c) for d, c in sorted(by_day.items())},
        "most_unanswered": [{"question": shown[k], "count": n} for k, n in unanswered.most_common(top)],
    }


def _markdown(summary: dict[str, Any], sources: dict[str, str]) -> str:
    r = summary["ratings"]
    share = "n/a" if r["share_up"] is None else f"{r['share_up']:.0%}"
    rate = "n/a" if summary["abstain_rate"] is None else f"{summary['abstain_rate']:.0%}"
    lines = [
        "# Feedback report",
        "",
        *(f"- {k}: `{v}`" for k, v in sources.items()),
        "",
        f"Ratings: {r['up']} 👍, {r['down']} 👎 ({share} helpful).",
        f"Answers logged: {summary['answers']}, of which {summary['abstained']} abstained ({rate}).",
        "",
        "| model | 👍 | 👎 | answered | abstained |",
        "|---|---|---|---|---|",
    ]
    models = sorted(set(summary["ratings_by_model"]) | set(summary["answers_by_model"]))
    for m in models:
        rt, an = summary["ratings_by_model"].get(m, {}), summary["answers_by_model"].get(m, {})
        lines.append(
            f"| {m} | {rt.get('up', 0)} | {rt.get('down', 0)} | {an.get('answered', 0)} | {an.get('abstained', 0)} |"
        )
    lines += ["", "## Most often unanswered (abstained or rated 👎)", ""]
    lines += [f"{i}. {q['question']} ({q['count']}×)" for i, q in enumerate(summary["most_unanswered"], 1)]
    if not summary["most_unanswered"]:
        lines.append("None.")
    return "\n".join(lines) + "\n\n![ratings and abstentions per day](report.png)\n"


def _plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = list(summary["by_day"])
    counts = [summary["by_day"][d] for d in days]
    x = range(len(days))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    top.bar(x, [c.get("up", 0) for c in counts], label="👍 helpful", color="#4caf50")
    top.bar(x, [-c.get("down", 0) for c in counts], label="👎 not helpful", color="#e57373")
    top.axhline(0, color="black", linewidth=0.5)
    top.set_ylabel("ratings")
    top.legend(loc="upper left")
    rates = [
        c.get("abstained", 0) / (c.get("abstained", 0) + c.get("answered", 0))
        if c.get("abstained", 0) + c.get("answered", 0)
        else float("nan")
        for c in counts
    ]
    bottom.plot(list(x), rates, marker="o")
    bottom.set_ylim(0, 1)
    bottom.set_ylabel("abstain rate")
    bottom.set_xticks(list(x), days, rotation=45, ha="right")
    fig.suptitle("Feedback and abstentions per day")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(
    feedback: Path | None, requests: Path | None, out: Path, top: int = 10, overwrite: bool = False
) -> dict[str, Any]:
    """Read the ratings and/or the request log, write OUT/report.{json,md,png}; returns the summary."""
    from raft.serve.feedback import read_feedback
    from raft.serve.monitoring import read_request_log

    if feedback is None and requests is None:
        raise RaftError("pass a feedback file, --requests LOG, or both")
    if requests is not None and not Path(requests).is_file():
        raise RaftError(
            f"request log {requests} does not exist; `raft serve/chat --request-log FILE` writes it"
        )
    out = Path(out)
    if out.exists() and not overwrite:
        raise RaftError(f"{out} already exists; pass --overwrite or choose another directory")
    ratings = read_feedback(Path(feedback)) if feedback is not None else []
    logged = read_request_log(Path(requests)) if requests is not None else []
    summary = summarise(ratings, logged, top)
    sources = {k: str(v) for k, v in (("feedback", feedback), ("requests", requests)) if v is not None}
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    _plot(summary, tmp / "report.png")
    (tmp / "report.md").write_text(_markdown(summary, sources), encoding="utf-8")
    (tmp / "report.json").write_text(
        json.dumps({**summary, "sources": sources}, indent=2, ensure_ascii=False)
    )
    if out.exists():
        shutil.rmtree(out)
    tmp.replace(out)
    return summary
