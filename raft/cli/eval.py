"""`raft eval`: thin shells over raft/eval/."""

from __future__ import annotations

import click

from raft.index.backends import QUERY_BACKENDS
from raft.serve.engines import ENGINES


@click.command("eval")
@click.argument("index_dir", type=click.Path())
@click.option("--qa", "qa", type=click.Path(), required=True,
              help="Questions: JSONL/CSV/SQuAD JSON/PubMedQA/AWS CSV file, or a `raft generate` dataset dir.")
@click.option("-o", "--out", type=click.Path(), required=True, help="Report directory to write.")
@click.option("--system", "systems", multiple=True, metavar="NAME=MODEL",
              help="A system: NAME=BASE, NAME=BASE:ADAPTER_DIR, NAME=MODEL_DIR or NAME=openai:URL:MODEL. "
                   "Repeatable.")
@click.option("--model", type=click.Path(), default=None,
              help="A `raft train` model dir: adds rag=<its base model> and raft=<the dir>.")
@click.option("-k", "k", type=int, default=None, help="Documents retrieved per question [4].")
@click.option("--split", default=None,
              help="Question split: train, validation, test or all [test when the file has a split column, else "
                   "all; with --model and no split column, test = the questions `raft generate` held out].")
@click.option("--limit", type=int, default=None, help="Evaluate a seeded random subset of N questions (--seed), kept in file order.")
@click.option("--conditions", default=None,
              help="Comma list of retrieved, closed_book, oracle, oracle_distractors [retrieved].")
@click.option("--max-new-tokens", type=int, default=None, help="Generation budget per answer [256].")
@click.option("--temperature", type=float, default=None, help="Sampling temperature; 0 is greedy [0].")
@click.option("--batch-size", type=int, default=None, help="Questions generated together [8].")
@click.option("--seed", type=int, default=None, help="Seed for distractors, sampling and bootstrap [0].")
@click.option("--bootstrap", type=int, default=None, help="Bootstrap resamples for the CIs [1000].")
@click.option("--device", default=None, help="cpu, cuda, cuda:1, ... [cuda if available].")
@click.option("--engine", type=click.Choice(ENGINES), default=None,
              help="Local generation engine: transformers in fp32/bf16, or ONNX Runtime GenAI in fp32/int4 (docs/export.md) [torch-fp32 on CPU].")
@click.option("--backend", type=click.Choice(QUERY_BACKENDS),
              default=None, help="Query embedder backend; must match the index. [default: as the index records]")
@click.option("--hybrid/--no-hybrid", default=None, help="Dense + BM25 retrieval [as the index was built].")
@click.option("--force-prompt", is_flag=True, help="Use a model trained with another prompt contract.")
@click.option("--allow-overlap", is_flag=True,
              help="Score questions a model trained or was selected on (the report flags every such row).")
@click.option("--overwrite", is_flag=True, help="Replace an existing report directory.")
@click.option("--trust-remote-code", is_flag=True, default=None,
              help="Run modelling code shipped with a hub model (only for models you trust) [off].")
def eval_cmd(index_dir: str, qa: str, out: str, systems: tuple[str, ...], model: str | None,
             conditions: str | None, max_new_tokens: int | None, temperature: float | None,
             **options) -> None:
    """Compare systems on held-out questions: same retriever, k, prompt and decoding; only weights differ.

    \b
    Examples:
      raft eval INDEX --qa corpora/helpdesk/questions.jsonl -o reports/run --model models/raft
      raft eval INDEX --qa Q.jsonl -o DIR --system rag=BASE --system raft=BASE:ADAPTER --system dsf=DSF_DIR
    """
    from pathlib import Path

    from raft.eval.report import format_table
    from raft.eval.run import EvalConfig, run_eval
    from raft.serve.generators import DecodingConfig

    decoding = {"max_new_tokens": max_new_tokens, "temperature": temperature, "seed": options.get("seed")}
    overrides = {k: v for k, v in options.items() if v is not None}
    if conditions is not None:
        overrides["conditions"] = tuple(c.strip() for c in conditions.split(",") if c.strip())
    cfg = EvalConfig(index=Path(index_dir), qa=Path(qa), out=Path(out), systems=systems,
                     model=Path(model) if model else None,
                     decoding=DecodingConfig(**{k: v for k, v in decoding.items() if v is not None}),
                     **overrides)
    report = run_eval(cfg)
    click.echo(format_table(report))
    click.echo(f"\nreport written to {out} (report.md, report.json, per_question.jsonl, chart.png)")
