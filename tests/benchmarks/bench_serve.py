"""Load benchmark of `raft serve` (official `openai` client, streaming) and `raft chat` (gradio_client), on loopback.

serve: the same questions asked by one client at a time (serialised), then by N concurrent streaming clients
(requests that arrive while a batch decodes join the next batch). Reports errors, aggregate completion
tokens/s (from `usage` with stream_options.include_usage), p50/p95 time to first token measured by the client,
p50/p95 end-to-end latency, and the chat overhead before the first token (condense + retrieve + prompt)
as the engine measured it (`raft.overhead_ms` of the first chunk).
chat: N gradio_client users against `raft chat` (latency and overhead), as before.

    .venv/bin/python tests/benchmarks/bench_serve.py --index INDEX_DIR --model MODEL_DIR [--clients 16]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
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
    qs = [r["question"] for r in rows if r.get("split") == "test"]
    return (qs * (n // max(1, len(qs)) + 1))[:n]


@dataclass
class Run:
    """What one load pattern measured."""

    name: str
    wall: float = 0.0
    tokens: int = 0
    latencies: list[float] = field(default_factory=list)
    ttft: list[float] = field(default_factory=list)
    overheads: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.wall if self.wall else float("nan")


def stream_one(client, q: str, max_tokens: int, run: Run) -> None:
    t0 = time.perf_counter()
    try:
        first = overhead = None
        for chunk in client.chat.completions.create(
            model="rag",
            messages=[{"role": "user", "content": q}],
            max_tokens=max_tokens,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        ):
            extra = (chunk.model_extra or {}).get("raft") or {}
            if overhead is None and "overhead_ms" in extra:  # the first chunk carries it
                overhead = extra["overhead_ms"]
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.perf_counter() - t0
            if chunk.usage is not None:
                run.tokens += chunk.usage.completion_tokens
        run.latencies.append(time.perf_counter() - t0)
        if first is not None:
            run.ttft.append(first)
        if overhead is not None:
            run.overheads.append(overhead)
    except Exception as exc:  # counted and reported
        run.errors.append(f"{type(exc).__name__}: {exc}")


def load(client, qs: list[str], clients: int, max_tokens: int, name: str) -> Run:
    run = Run(name)
    per = [qs[i::clients] for i in range(clients)]

    def worker(batch: list[str]) -> None:
        for q in batch:
            stream_one(client, q, max_tokens, run)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, per))
    run.wall = time.perf_counter() - t0
    return run


def bench_serve(args, qs: list[str], log: Path) -> list[Run]:
    import openai

    port = free_port()
    cmd = ["serve", args.index, "--model", args.model, "--port", str(port), "--device", args.device]
    with raft_process(cmd, f"http://127.0.0.1:{port}/health", log):
        client = openai.OpenAI(
            base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0, timeout=600
        )
        stream_one(client, qs[0], args.max_tokens, Run("warm-up"))
        serial = load(client, qs, 1, args.max_tokens, "raft serve, 1 client at a time")
        concurrent = load(
            client, qs, args.clients, args.max_tokens, f"raft serve, {args.clients} concurrent clients"
        )
    return [serial, concurrent]


def bench_app(args, qs: list[str], log: Path) -> list[Run]:
    from gradio_client import Client

    port = free_port()
    cmd = ["chat", args.index, "--model", args.model, "--port", str(port), "--device", args.device,
           "--concurrency", str(args.clients), "--feedback", str(log.with_suffix(".jsonl"))]  # fmt: skip
    run = Run(f"raft chat (gradio_client), {args.clients} concurrent users")
    with raft_process(cmd, f"http://127.0.0.1:{port}/", log):
        url = f"http://127.0.0.1:{port}/"

        def ask(q: str) -> None:
            t0 = time.perf_counter()
            try:
                job = Client(url, verbose=False).submit(
                    message=q, hist_a=[], hist_b=[], model="rag", compare=False, k=4, temperature=0,
                    max_tokens=args.max_tokens, hybrid=False, api_name="/chat",
                )  # fmt: skip
                final = job.result(timeout=600)
                if not final[-1].startswith("Answered"):
                    raise RuntimeError(final[-1])
                status = next(o[-1] for o in job.outputs() if "Retrieved" in o[-1])
                run.overheads.append(float(status.split(" in ")[1].split(" ms")[0]))
                run.latencies.append(time.perf_counter() - t0)
            except Exception as exc:  # counted and reported
                run.errors.append(f"{type(exc).__name__}: {exc}")

        ask(qs[0])
        run.latencies.clear()
        run.overheads.clear()
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(ask, qs))
        run.wall = time.perf_counter() - t0
    return [run]


def fmt(v: float, spec: str = ".2f") -> str:
    return "–" if v != v else format(v, spec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--per-client", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--only", choices=["serve", "chat"], default="serve")
    args = ap.parse_args()
    qs = questions(args.clients * args.per_client)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.only == "serve":
            runs += bench_serve(args, qs, Path(tmp) / "serve.log")
        else:
            runs += bench_app(args, qs, Path(tmp) / "chat.log")
    for r in runs:
        for e in r.errors[:3]:
            print(f"  error ({r.name}): {e}", file=sys.stderr)
    print(f"\n{len(qs)} requests, max_tokens={args.max_tokens}, greedy, streaming\n")
    print("| target | requests | errors | tokens/s (aggregate) | TTFT p50 (s) | TTFT p95 (s) | latency p50 (s) "
          "| latency p95 (s) | overhead p50 (ms) | overhead p95 (ms) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        n = len(r.latencies) + len(r.errors)
        lat, ttft, over = r.latencies, r.ttft, r.overheads
        print(
            f"| {r.name} | {n} | {len(r.errors)} | {fmt(r.tokens_per_s, '.1f') if r.tokens else '–'} | "
            f"{fmt(statistics.median(ttft) if ttft else float('nan'))} | {fmt(pct(ttft, 0.95))} | "
            f"{fmt(statistics.median(lat) if lat else float('nan'))} | {fmt(pct(lat, 0.95))} | "
            f"{fmt(statistics.median(over) if over else float('nan'), '.1f')} | {fmt(pct(over, 0.95), '.1f')} |"
        )
    if args.only == "serve" and len(runs) == 2 and runs[0].tokens:
        print(
            f"\naggregate tokens/s, concurrent / serialised: {runs[1].tokens_per_s / runs[0].tokens_per_s:.2f}x"
        )


if __name__ == "__main__":
    main()
