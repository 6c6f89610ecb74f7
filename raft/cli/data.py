"""`raft generate`: thin shells over raft/data/."""

from __future__ import annotations

import click

from raft.index.backends import QUERY_BACKENDS


@click.command("generate")
@click.argument("index_dir", type=click.Path())
@click.option("-o", "--out", type=click.Path(), required=True, help="Dataset directory to write.")
@click.option("--qa", type=click.Path(), default=None,
              help="Questions: JSONL, CSV, JSON (SQuAD, PubMedQA), or a saved HF dataset directory.")
@click.option("--teacher", default=None,
              help="LLM teacher: a transformers model id/path, or the model name served at --teacher-url.")
@click.option("--teacher-url", default=None, help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1.")
@click.option("--teacher-key-env", default=None, help="Env variable holding the API key. [default: RAFT_API_KEY]")
@click.option("--questions-per-chunk", type=int, default=None, help="Teacher questions per chunk. [default: 3]")
@click.option("--max-chunks", type=int, default=None, help="Write questions for at most N chunks (seeded sample).")
@click.option("--distractors", type=int, default=None, help="Distractor documents per context (K). [default: 4]")
@click.option("--p-oracle", type=float, default=None, help="Probability that the oracle is in the context. [default: 0.8]")
@click.option("--strategy", type=click.Choice(["hard", "random", "mixed"]), default=None,
              help="Distractors: mined from the index with the question, uniform, or half each. [default: hard]")
@click.option("--order", type=click.Choice(["shuffle", "retrieval"]), default=None,
              help="Documents in a context: at random slots, or ranked as the retriever ranks them (needs "
                   "--strategy hard). [default: shuffle]")
@click.option("--no-oracle-target", type=click.Choice(["abstain", "memorize"]), default=None,
              help="Answer of rows without the oracle: abstain, or keep the oracle answer. [default: abstain]")
@click.option("--mode", type=click.Choice(["raft", "dsf"]), default=None,
              help="raft: documents in the prompt; dsf: closed-book rows (baseline). [default: raft]")
@click.option("--seed", type=int, default=None, help="Seed for every random choice. [default: 0]")
@click.option("--validation-fraction", type=float, default=None,
              help="Share of training documents held out for validation (early stopping, model selection), "
                   "unless the QA file declares a validation split. [default: 0.1]")
@click.option("--test-fraction", type=float, default=None,
              help="Share of documents held out for test when the QA file declares no test split (their "
                   "questions and documents reach no row). [default: 0.1]")
@click.option("--train-on-test", is_flag=True, default=None,
              help="Put the QA file's test questions into training (then nothing is held out for test).")
@click.option("--max-tokens", type=int, default=None, help="Trim documents so prompt + answer fit N tokens.")
@click.option("--tokenizer", default=None, help="Tokenizer (base model id/path) that counts --max-tokens.")
@click.option("--export", type=click.Choice(["gorilla"]), default=None, help="Also write the original RAFT layout.")
@click.option("--batch-size", type=int, default=None, help="Rows per checkpointed batch. [default: 64]")
@click.option("--concurrency", type=int, default=None, help="Parallel requests to --teacher-url. [default: 8]")
@click.option("--device", default=None, help="Torch device for the embedder and a local teacher.")
@click.option("--backend", type=click.Choice(QUERY_BACKENDS),
              default=None, help="Query embedder backend; must match the index. [default: as the index records]")
@click.option("--overwrite", is_flag=True, default=None, help="Replace an existing dataset directory.")
@click.option("--resume", is_flag=True, default=None, help="Continue an interrupted run with the same settings.")
@click.option("--dry-run", is_flag=True, default=None, help="Print teacher calls and approximate tokens, then stop.")
def generate_cmd(index_dir: str, out: str, **options: object) -> None:
    """Build RAFT training data from INDEX_DIR: questions, CoT answers, oracle + distractor contexts.

    \b
    Examples:
      raft generate indexes/helpdesk -o datasets/helpdesk --qa corpora/helpdesk/questions.jsonl
      raft generate indexes/docs -o datasets/docs --teacher Qwen/Qwen2.5-7B-Instruct \\
          --teacher-url http://127.0.0.1:8000/v1 --questions-per-chunk 3
    """
    import json
    from pathlib import Path

    from raft.data.dataset_dir import format_summary
    from raft.data.generate import GenerateConfig, generate_dataset

    overrides = {name: value for name, value in options.items() if value is not None}
    for key in ("qa",):
        if key in overrides:
            overrides[key] = Path(overrides[key])
    result = generate_dataset(GenerateConfig(index=Path(index_dir), out=Path(out), **overrides))
    if result.get("dry_run"):
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(format_summary(result))
    click.echo(f"Wrote {out}")
