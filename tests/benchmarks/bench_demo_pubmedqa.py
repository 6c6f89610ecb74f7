"""The `raft demo` flow on real data: PubMedQA (yes/no/maybe), indexed and evaluated with flags only.

    .venv/bin/python tests/benchmarks/bench_demo_pubmedqa.py [--out runs/pubmedqa] [--eval-limit N]

Indexes the 3,358 abstract sections of `../shared/datasets/pubmedqa/ori_pqal.json`, trains RAFT and DSF
tiny models on the 500 non-test questions and evaluates base / DSF / RAFT + RAG on the official test
PMIDs. Prints the report table (accuracy is the main metric for yes/no/maybe data).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import replace
from pathlib import Path

from raft.demo import DemoConfig, run_demo
from raft.eval_report import format_table

DATA = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "pubmedqa" / "ori_pqal.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("runs/pubmedqa"))
    ap.add_argument("--eval-limit", type=int, default=None)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = replace(DemoConfig(), out=args.out, corpus=DATA, qa=DATA, eval_limit=args.eval_limit)
    t0 = time.perf_counter()
    report = run_demo(cfg)
    print(f"\nPubMedQA demo flow: {time.perf_counter() - t0:.0f} s\n")
    print(format_table(report))
    print(json.dumps(report["questions"]))


if __name__ == "__main__":
    main()
