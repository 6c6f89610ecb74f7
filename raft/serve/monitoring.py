"""What an operator watches: Prometheus metrics and a JSONL request log with a size cap.

`Metrics` holds prometheus-client collectors in a registry of its own (one per server), rendered
at `GET /metrics`. `RequestLog` appends one JSON line per answered question (question, retrieved
chunk ids, answer, citations, latency) through `logging.handlers.RotatingFileHandler`, so the file
never grows past `max_bytes` and the last `backups` files are kept. `raft feedback report` reads
the request log next to the ratings.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raft.errors import RaftError
from raft.jsonl import jsonl_rows

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)
FAST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    """Request, latency, time-to-first-token, token, retrieval, abstention and rating metrics."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "raft_requests",
            "Requests answered, by route, model and HTTP status.",
            ["route", "model", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "raft_request_latency_seconds",
            "Time from request to last token.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "raft_time_to_first_token_seconds",
            "Time from request to the first streamed text.",
            ["model"],
            buckets=FAST_BUCKETS + (30, 60),
            registry=r,
        )
        self.tokens = Counter("raft_generated_tokens", "Tokens generated.", ["model"], registry=r)
        self.retrieval = Histogram(
            "raft_retrieval_seconds",
            "Condense + retrieve + build prompt, before generation.",
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.answers = Counter(
            "raft_answers",
            "Finished answers, by model and whether the model abstained.",
            ["model", "abstained"],
            registry=r,
        )
        self.abstain_rate = Gauge(
            "raft_abstain_ratio", "Share of finished answers that abstained (since start).", registry=r
        )
        self.cancelled = Counter(
            "raft_cancelled", "Generations stopped because the client went away.", ["model"], registry=r
        )
        self.feedback = Counter("raft_feedback", "Ratings received, up or down.", ["rating"], registry=r)
        self._answered = self._abstained = 0

    def observe_answer(
        self, model: str, abstained: bool, tokens: int | None, seconds: float, first_token_s: float | None
    ) -> None:
        self.answers.labels(model, str(abstained).lower()).inc()
        self._answered += 1
        self._abstained += int(abstained)
        self.abstain_rate.set(self._abstained / self._answered)
        if tokens:
            self.tokens.labels(model).inc(tokens)
        self.latency.labels(model).observe(seconds)
        if first_token_s is not None:
            self.ttft.labels(model).observe(first_token_s)

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


@dataclass(frozen=True)
class RequestLogConfig:
    path: Path
    max_bytes: int = 10 * 1024 * 1024
    backups: int = 5


class RequestLog:
    """One JSON line per answer, size-capped and rotated (file, file.1, ... file.N)."""

    def __init__(self, cfg: RequestLogConfig) -> None:
        path = Path(cfg.path)
        if path.exists() and not path.is_file():
            raise RaftError(f"request log {path} is not a file; pass --request-log FILE.jsonl")
        if cfg.max_bytes < 1024:
            raise RaftError(f"--request-log-max-bytes must be at least 1024 (got {cfg.max_bytes})")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._logger = logging.getLogger(f"raft.requests.{path.resolve()}")
        self._logger.propagate = False
        self._logger.setLevel(logging.INFO)
        if not self._logger.handlers:
            handler = logging.handlers.RotatingFileHandler(
                path, maxBytes=cfg.max_bytes, backupCount=cfg.backups, encoding="utf-8"
            )
            handler.setFormatter(logging.Formatter("%(message)s"))
            self._logger.addHandler(handler)

    def write(self, record: dict[str, Any]) -> None:
        row = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **record}
        self._logger.info(json.dumps(row, ensure_ascii=False))

    def close(self) -> None:
        for h in list(self._logger.handlers):
            h.close()
            self._logger.removeHandler(h)


def answer_record(retrieval: Any, answer: Any, seconds: float, source: str) -> dict[str, Any]:
    """The request-log row of one answered question (retrieval mode)."""
    from raft.prompts import is_abstention

    return {
        "source": source,
        "model": answer.model,
        "question": retrieval.question,
        "query": retrieval.query,
        "chunk_ids": retrieval.chunk_ids,
        "answer": answer.raw,
        "final_answer": answer.answer,
        "abstained": is_abstention(answer.answer),
        "citations": [{"source": c.source, "quote": c.quote} for c in answer.citations],
        "finish_reason": answer.finish_reason,
        "completion_tokens": answer.completion_tokens,
        "retrieval_ms": round(retrieval.overhead_s * 1000, 2),
        "latency_s": round(seconds, 4),
    }


def read_request_log(path: Path) -> list[dict[str, Any]]:
    """Rows of a request log and its rotated files (oldest first); broken lines are skipped."""
    path = Path(path)
    files = sorted(
        path.parent.glob(path.name + ".*"), key=lambda p: -int(p.suffix[1:]) if p.suffix[1:].isdigit() else 0
    )
    rows = []
    for f in [*files, path]:
        if not f.is_file():
            continue
        rows += [row for _, row in jsonl_rows(f) if isinstance(row, dict)]
    return rows
