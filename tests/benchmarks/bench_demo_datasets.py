"""The `raft demo` flow on real datasets in ../shared/datasets, with the demo's defaults and flags only.

    .venv/bin/python tests/benchmarks/bench_demo_datasets.py pubmedqa [--out runs/pubmedqa] [--eval-limit N]
    .venv/bin/python tests/benchmarks/bench_demo_datasets.py squad [--out runs/squad] [--eval-limit N]
    .venv/bin/python tests/benchmarks/bench_demo_datasets.py aws [--out runs/aws]
    ... [--base-model ID_OR_PATH]   # the tables of 2026-12-02 were measured with a from-scratch tiny base, since removed

- `pubmedqa`: indexes the abstract sections of `ori_pqal.json` (one document per section); its split column
  (the 500 official test PMIDs) drives train/test; yes/no/maybe answers, so accuracy is the main metric.
- `squad`: indexes the paragraphs of SQuAD 2.0 dev (one document per paragraph); the file has no split
  column, so the demo holds out 20 % of the documents (seeded) for test; unanswerable questions are skipped.
- `aws`: indexes the 2,757 Markdown pages of the AWS documentation set (26 MB); `QA_true.csv` has 100
  questions with their gold page and no split column, so the same seeded document hold-out applies.

Prints the stage times, the report table and the question counts. `--eval-limit` scores a seeded subset of N
test questions (the same for every system; the tables of 2026-12-02 scored the first N).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import replace
from pathlib import Path

from raft.demo import DemoConfig, run_demo
from raft.eval.report import format_table

SHARED = Path(__file__).resolve().parents[3] / "shared" / "datasets"
DATASETS = {
    "pubmedqa": (SHARED / "pubmedqa" / "ori_pqal.json", SHARED / "pubmedqa" / "ori_pqal.json"),
    "squad": (SHARED / "squad-v2-dev" / "dev-v2.0.json", SHARED / "squad-v2-dev" / "dev-v2.0.json"),
    "aws": (SHARED / "aws-documentation-qa" / "documents", SHARED / "aws-documentation-qa" / "QA_true.csv"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dataset", choices=sorted(DATASETS))
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--eval-limit", type=int, default=None)
    ap.add_argument("--base-model", default=DemoConfig.base_model)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    corpus, qa = DATASETS[args.dataset]
    out = args.out or Path("runs") / args.dataset
    cfg = replace(DemoConfig(), base_model=args.base_model, out=out, corpus=corpus, qa=qa)
    if args.eval_limit is not None:
        cfg = replace(cfg, eval_limit=args.eval_limit)
    t0 = time.perf_counter()
    report = run_demo(cfg)
    print(f"\n{args.dataset} demo flow: {time.perf_counter() - t0:.0f} s")
    print(json.dumps({k: v["seconds"] for k, v in json.loads((out / "demo_state.json").read_text()).items()}))
    print(format_table(report))
    print(json.dumps(report["questions"]))


if __name__ == "__main__":
    main()
