"""Load test: 8 concurrent clients x 5 questions against `raft serve` (openai client) and `raft chat`
(gradio_client), on loopback. Prints a Markdown table: errors, p50/p95 end-to-end latency, and the
overhead before generation starts (condense + retrieve + build prompt), measured by the engine.

    .venv/bin/python tests/benchmarks/bench_serve.py --index INDEX_DIR --model MODEL_DIR
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.servers import free_port, raft_process  # noqa: E402


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))] if values else float("nan")


def questions(n: int) -> list[str]:
    path = ROOT / "corpora" / "helpdesk" / "questions.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r["question"] for r in rows if r.get("split") == "test"][:n]


def run_clients(ask, qs: list[str], clients: int) -> tuple[list[float], list[float], list[str]]:
    """Each client asks its share of questions in turn; returns latencies (s), overheads (ms), errors."""
    per = [qs[i::clients] for i in range(clients)]
    latencies, overheads, errors = [], [], []

    def client(batch: list[str]) -> None:
        for q in batch:
            t0 = time.perf_counter()
            try:
                overheads.append(ask(q))
                latencies.append(time.perf_counter() - t0)
            except Exception as exc:  # counted, reported in the table
                errors.append(f"{type(exc).__name__}: {exc}")

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, per))
    return latencies, overheads, errors


def bench_serve(args, qs: list[str], log: Path) -> tuple:
    import openai

    port = free_port()
    cmd = ["serve", args.index, "--model", args.model, "--port", str(port), "--device", "cpu"]
    with raft_process(cmd, f"http://127.0.0.1:{port}/health", log):
        client = openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0, timeout=300
        )

        def ask(q: str) -> float:
            resp = client.chat.completions.create(
                model="rag",
                messages=[{"role": "user", "content": q}],
                max_tokens=args.max_tokens,
                temperature=0,
            )
            return resp.model_extra["raft"]["overhead_ms"]

        ask(qs[0])  # warm-up
        return run_clients(ask, qs, args.clients)


def bench_app(args, qs: list[str], log: Path) -> tuple:
    from gradio_client import Client

    port = free_port()
    cmd = [
        "chat",
        args.index,
        "--model",
        args.model,
        "--port",
        str(port),
        "--device",
        "cpu",
        "--concurrency",
        str(args.clients),
        "--feedback",
        str(log.with_suffix(".jsonl")),
    ]
    with raft_process(cmd, f"http://127.0.0.1:{port}/", log):
        url = f"http://127.0.0.1:{port}/"

        def ask(q: str) -> float:
            job = Client(url, verbose=False).submit(
                message=q,
                hist_a=[],
                hist_b=[],
                model="rag",
                compare=False,
                k=4,
                temperature=0,
                max_tokens=args.max_tokens,
                hybrid=False,
                api_name="/chat",
            )
            final = job.result(timeout=600)
            if not final[-1].startswith("Answered"):
                raise RuntimeError(final[-1])
            status = next(o[-1] for o in job.outputs() if "Retrieved" in o[-1])
            return float(status.split(" in ")[1].split(" ms")[0])

        ask(qs[0])
        return run_clients(ask, qs, args.clients)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--per-client", type=int, default=5)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--only", choices=["serve", "chat"], default=None)
    args = ap.parse_args()
    qs = questions(args.clients * args.per_client)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, fn in (
            ("raft serve (openai client)", bench_serve),
            ("raft chat (gradio_client)", bench_app),
        ):
            if args.only and args.only not in name:
                continue
            t0 = time.perf_counter()
            lat, over, errors = fn(args, qs, Path(tmp) / f"{name.split()[1]}.log")
            wall = time.perf_counter() - t0
            rows.append((name, len(lat) + len(errors), len(errors), lat, over, wall))
            for e in errors[:3]:
                print(f"  error ({name}): {e}", file=sys.stderr)
    print(
        f"\n{args.clients} concurrent clients x {args.per_client} questions, max_tokens={args.max_tokens}\n"
    )
    print(
        "| target | requests | errors | latency p50 (s) | latency p95 (s) | overhead p50 (ms) | overhead p95 (ms) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, n, err, lat, over, _ in rows:
        print(
            f"| {name} | {n} | {err} | {statistics.median(lat):.2f} | {pct(lat, 0.95):.2f} | "
            f"{statistics.median(over):.1f} | {pct(over, 0.95):.1f} |"
        )


if __name__ == "__main__":
    main()
