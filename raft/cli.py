"""The `raft` command line: thin shells that parse options, call library functions and print.

Only click is imported at module level; each command imports its stage module inside its body
so `raft --help` answers at once. Options default to None so that a YAML config (where a stage
takes one) and the stage's dataclass defaults stay the single source of defaults.
"""

from __future__ import annotations

import sys

import click

from raft import __version__
from raft.errors import RaftError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="raft")
@click.option("-v", "--verbose", is_flag=True, help="Show debug logging.")
def cli(verbose: bool) -> None:
    """RAFT chatbot builder: turn a folder of documents into a domain chatbot.

    \b
    Pipeline:
      raft index CORPUS -o INDEX        chunk, embed and index documents
      raft search INDEX "query"         query an index
      raft generate INDEX -o DATASET    build RAFT training data
      raft tiny-model -o MODEL          build a small offline base model
      raft train DATASET -o MODEL       fine-tune with TRL + PEFT (LoRA)
      raft eval INDEX --qa FILE -o DIR  RAG-only vs RAFT, with confidence intervals
      raft chat INDEX --model BASE      Gradio chat app with citations
      raft serve INDEX --model BASE     OpenAI-compatible HTTP API
      raft demo                         all of the above, offline, in one command
    """
    import logging

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s" if verbose else "%(message)s",
    )
    if not verbose:  # third-party chatter would bury our own progress and one-line errors
        _quiet_libraries()


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit code 2."""
    try:
        cli.main(standalone_mode=False)
    except RaftError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if exc.exit_code == 2 else exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)


# ---- index / search (raft/index.py, raft/retriever.py) -------------------------------------
@cli.command("index")
@click.argument("corpus", type=click.Path())
@click.option("-o", "--out", type=click.Path(), required=True, help="Index directory to write.")
@click.option("--embedder", default=None,
              help="sentence-transformers model id or path. [default: bundled all-MiniLM-L6-v2, offline]")
@click.option("--chunk-size", type=int, default=None, help="Max tokens per chunk (embedder's tokenizer). [default: 200]")
@click.option("--overlap", type=int, default=None, help="Tokens repeated between neighbouring chunks. [default: 40]")
@click.option("--index-type", type=click.Choice(["auto", "flat", "hnsw", "ivf"]), default=None,
              help="FAISS index; auto = flat up to 100k chunks, hnsw up to 1M, ivf above. [default: auto]")
@click.option("--batch-size", type=int, default=None, help="Texts per encode batch. [default: 64]")
@click.option("--device", default=None, help="Torch device, e.g. cpu, cuda, or cuda:0,cuda:1 for several GPUs.")
@click.option("--processes", type=int, default=None,
              help="Encoding processes (sentence-transformers pool) on --device. [default: 1]")
@click.option("--hybrid", is_flag=True, default=None, help="Also build a BM25 index for hybrid search.")
@click.option("--strict", is_flag=True, default=None, help="Fail on any unreadable file instead of skipping it.")
@click.option("--update", is_flag=True, default=None,
              help="Refresh an existing index: embed only new and changed documents, drop deleted ones.")
@click.option("--overwrite", is_flag=True, default=None, help="Replace an existing index directory.")
def index_cmd(corpus: str, out: str, **options: object) -> None:
    """Chunk, embed and index the documents in CORPUS (a directory, searched recursively, or a file).

    Reads .md, .txt, .html, .pdf, and .jsonl/.csv (one document per row: a text column, optional
    title and id columns). Unreadable or binary files are reported and skipped.

    \b
    Example:
      raft index corpora/helpdesk/docs -o indexes/helpdesk
    """
    from pathlib import Path

    from raft.index import IndexConfig, build_index

    overrides = {name: value for name, value in options.items() if value is not None}
    manifest = build_index(IndexConfig(corpus=Path(corpus), out=Path(out), **overrides))
    counts = manifest["counts"]
    click.echo(f"Indexed {counts['documents']} documents as {counts['chunks']} chunks "
               f"({counts['embedded']} embedded, {counts['reused']} reused, {counts['skipped']} skipped) "
               f"into {out} [{manifest['index_type']}{', hybrid' if manifest['hybrid'] else ''}]")


@cli.command("search")
@click.argument("index_dir", type=click.Path())
@click.argument("query")
@click.option("-k", "--top-k", "k", type=click.IntRange(min=1), default=5, show_default=True,
              help="Number of chunks to return.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the hits.")
@click.option("--hybrid/--no-hybrid", default=None,
              help="Fuse BM25 with dense search (RRF). [default: on if the index was built with --hybrid]")
@click.option("--device", default=None, help="Torch device for the query embedder.")
def search_cmd(index_dir: str, query: str, k: int, as_json: bool, hybrid: bool | None, device: str | None) -> None:
    """Search INDEX_DIR for QUERY and print the top chunks with score, title, source and a snippet."""
    import json

    from raft.retriever import Retriever

    retriever = Retriever.load(index_dir, device=device)
    hits = retriever.search(query, k=k, hybrid=hybrid)
    if as_json:
        click.echo(json.dumps({"query": query, "index": str(index_dir), "hits": [h.to_dict() for h in hits]},
                              ensure_ascii=False, indent=2))
        return
    for h in hits:
        where = f"{h.source}" + (f" > {h.heading}" if h.heading else "")
        snippet = " ".join(h.text.split())
        click.echo(f"{h.rank}. [{h.score:.3f}] {h.title} ({where})")
        click.echo(f"   {snippet[:240]}{'...' if len(snippet) > 240 else ''}")


def _quiet_libraries() -> None:
    """Keep library chatter (model loading, faiss CPU features) out of the output unless --verbose."""
    import logging
    import os

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    names = ("sentence_transformers", "transformers", "faiss", "bm25s", "httpx", "huggingface_hub", "datasets", "peft")
    for name in names:
        logging.getLogger(name).setLevel(logging.WARNING)


# ---- end index / search ----------------------------------------------------------------------

# ---- generate (raft/raftdata.py, raft/teacher.py) ------------------------------------------
@cli.command("generate")
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
@click.option("--no-oracle-target", type=click.Choice(["abstain", "memorize"]), default=None,
              help="Answer of rows without the oracle: abstain, or keep the oracle answer. [default: abstain]")
@click.option("--mode", type=click.Choice(["raft", "dsf"]), default=None,
              help="raft: documents in the prompt; dsf: closed-book rows (baseline). [default: raft]")
@click.option("--seed", type=int, default=None, help="Seed for every random choice. [default: 0]")
@click.option("--eval-fraction", type=float, default=None,
              help="Share of oracle documents held out for eval (when the QA file has no split). [default: 0.1]")
@click.option("--max-tokens", type=int, default=None, help="Trim documents so prompt + answer fit N tokens.")
@click.option("--tokenizer", default=None, help="Tokenizer (base model id/path) that counts --max-tokens.")
@click.option("--export", type=click.Choice(["gorilla"]), default=None, help="Also write the original RAFT layout.")
@click.option("--batch-size", type=int, default=None, help="Rows per checkpointed batch. [default: 64]")
@click.option("--concurrency", type=int, default=None, help="Parallel requests to --teacher-url. [default: 8]")
@click.option("--device", default=None, help="Torch device for the embedder and a local teacher.")
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

    from raft.raftdata import GenerateConfig, format_summary, generate_dataset

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
# ---- end generate ----------------------------------------------------------------------------

# ---- tiny-model / train / merge (raft/tiny_model.py, raft/train.py) -------------------------
@cli.command("tiny-model")
@click.option("-o", "--out", type=click.Path(), required=True, help="Model directory to write.")
@click.option("--corpus", type=click.Path(), default=None,
              help="Folder of .md/.txt files for the tokenizer and pretraining [bundled helpdesk docs].")
@click.option("--pretrain-steps", type=int, default=None, help="Causal-LM pretraining steps (0: random init).")
@click.option("--reading-steps", type=int, default=None,
              help="Reading-stage steps: self-supervised questions about the corpus, RAFT answer format [0].")
@click.option("--reading-lr", type=float, default=None, help="Reading-stage learning rate [2e-3].")
@click.option("--reading-distractors", type=int, default=None, help="Most distractor chunks per reading task [3].")
@click.option("--exclude", "exclude", multiple=True, metavar="DOC_ID",
              help="Keep this document (doc id or path in the corpus) out of all training text. Repeatable.")
@click.option("--exclude-file", type=click.Path(), default=None,
              help="File of doc ids to keep out, one per line (e.g. your test documents).")
@click.option("--seed", type=int, default=None, help="Seed for initialisation and batch order.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output directory.")
def tiny_model_cmd(out: str, corpus: str | None, pretrain_steps: int | None, reading_steps: int | None,
                   reading_lr: float | None, reading_distractors: int | None, exclude: tuple[str, ...],
                   exclude_file: str | None, seed: int | None, overwrite: bool) -> None:
    """Build a small Llama-shaped base model offline (BPE tokenizer, chat template, pretraining, reading)."""
    from pathlib import Path

    from raft.errors import RaftError
    from raft.tiny_model import TinyModelConfig, build_tiny_model

    names = list(exclude)
    if exclude_file:
        if not Path(exclude_file).is_file():
            raise RaftError(f"--exclude-file {exclude_file} does not exist")
        names += [line.strip() for line in Path(exclude_file).read_text().splitlines() if line.strip()]
    overrides = {"pretrain_steps": pretrain_steps, "seed": seed, "reading_steps": reading_steps,
                 "reading_lr": reading_lr, "reading_distractors": reading_distractors}
    cfg = TinyModelConfig(out=Path(out), corpus=Path(corpus) if corpus else None, overwrite=overwrite,
                          exclude=tuple(names), **{k: v for k, v in overrides.items() if v is not None})
    path = build_tiny_model(cfg)
    click.echo(f"base model written to {path} (use it with: raft train DATASET -o MODEL --base-model {path})")


@cli.command("train")
@click.argument("dataset", type=click.Path(), required=False)
@click.option("-o", "--out", type=click.Path(), default=None, help="Model directory (checkpoints resume here).")
@click.option("--base-model", default=None, help="Hub id or local path of the model to tune.")
@click.option("--config", "config_file", type=click.Path(), default=None, help="YAML of knobs; flags win.")
@click.option("--lora-r", type=int, default=None, help="LoRA rank [16].")
@click.option("--lora-alpha", type=int, default=None, help="LoRA alpha [32].")
@click.option("--lora-dropout", type=float, default=None, help="LoRA dropout [0.05].")
@click.option("--target-modules", default=None, help="'all-linear' or comma-separated module names.")
@click.option("--full", is_flag=True, default=None, help="Full fine-tuning instead of LoRA.")
@click.option("--qlora", is_flag=True, default=None, help="4-bit QLoRA (CUDA + bitsandbytes).")
@click.option("--lr", type=float, default=None, help="Learning rate [2e-4 LoRA, 2e-5 full].")
@click.option("--batch-size", type=int, default=None, help="Per-device batch size [4].")
@click.option("--grad-accum", type=int, default=None, help="Gradient accumulation steps [4].")
@click.option("--epochs", type=float, default=None, help="Epochs [3].")
@click.option("--max-steps", type=int, default=None, help="Stop after this many optimizer steps (overrides epochs).")
@click.option("--warmup-ratio", type=float, default=None, help="Share of steps for LR warmup [0.03].")
@click.option("--weight-decay", type=float, default=None, help="AdamW weight decay [0].")
@click.option("--eval-steps", type=int, default=None, help="Evaluate (and checkpoint) every N steps [50].")
@click.option("--early-stopping-patience", type=int, default=None, help="Evals without improvement [3]; 0: off.")
@click.option("--max-length", type=int, default=None, help="Max tokens per row [2048]; longer rows are an error.")
@click.option("--packing/--no-packing", default=None, help="Pack rows (padding-free) [on with CUDA, off on CPU].")
@click.option("--seed", type=int, default=None, help="Seed [0].")
@click.option("--dry-run", is_flag=True, help="Print the resolved config and token-length stats, then stop.")
@click.option("--overwrite", is_flag=True, default=None, help="Replace a finished model directory.")
@click.option("--merge", "merge_", is_flag=True, default=None, help="Also write MODEL_DIR/merged (full weights).")
def train_cmd(dataset: str | None, out: str | None, config_file: str | None, dry_run: bool, merge_: bool | None,
              **knobs) -> None:
    """Fine-tune BASE_MODEL on a RAFT DATASET with TRL + PEFT (LoRA by default); resumes automatically."""
    import json
    import os
    from pathlib import Path

    from raft.train import load_config, plan, train
    from raft.train_inputs import check_lengths

    cfg = load_config(Path(config_file) if config_file else None, dataset=dataset, out=out, merge=merge_, **knobs)
    if dry_run:
        report = plan(cfg)
        click.echo(json.dumps(report["config"], indent=2, default=str))
        click.echo("| split | rows | tokens | mean | p50 | p95 | max | answer mean | over max_length |")
        click.echo("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name, s in report["lengths"].items():
            click.echo(f"| {name} | {s['rows']} | {s['tokens']} | {s['mean']} | {s['p50']} | {s['p95']} | "
                       f"{s['max']} | {s['answer_mean']} | {s['over_max_length']} |")
        check_lengths(report["lengths"], cfg.max_length)
        click.echo(f"ok: no row exceeds max_length {cfg.max_length}")
        return
    manifest = train(cfg)
    if os.environ.get("RANK", "0") == "0":  # under accelerate/torchrun, one line from the main process
        click.echo(f"model written to {cfg.out} (train loss {manifest['final_train_loss']:.4f}, "
                   f"eval loss {manifest['final_eval_loss']})")


@cli.command("merge")
@click.argument("model_dir", type=click.Path())
@click.option("-o", "--out", type=click.Path(), required=True, help="Directory for the merged model.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output directory.")
def merge_cmd(model_dir: str, out: str, overwrite: bool) -> None:
    """Fold a trained LoRA adapter into its base model (loads with plain AutoModelForCausalLM)."""
    from pathlib import Path

    from raft.train import merge

    click.echo(f"merged model written to {merge(Path(model_dir), Path(out), overwrite=overwrite)}")


@cli.command("train-compare")
@click.argument("model_dirs", type=click.Path(), nargs=-1, required=True)
def train_compare_cmd(model_dirs: tuple[str, ...]) -> None:
    """Side-by-side eval loss of runs (A/B one knob): the settings that differ, then loss by step."""
    from pathlib import Path

    from raft.trainlog import compare_runs

    click.echo(compare_runs([Path(d) for d in model_dirs]))


# ---- end tiny-model / train / merge ----------------------------------------------------------

# ---- eval (raft/metrics.py, raft/evaluate.py) ----------------------------------------------
@cli.command("eval")
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
@click.option("--split", default=None, help="Question split to use; 'all' keeps every question [test].")
@click.option("--limit", type=int, default=None, help="Evaluate only the first N questions.")
@click.option("--conditions", default=None,
              help="Comma list of retrieved, closed_book, oracle, oracle_distractors [retrieved].")
@click.option("--max-new-tokens", type=int, default=None, help="Generation budget per answer [256].")
@click.option("--temperature", type=float, default=None, help="Sampling temperature; 0 is greedy [0].")
@click.option("--batch-size", type=int, default=None, help="Questions generated together [8].")
@click.option("--seed", type=int, default=None, help="Seed for distractors, sampling and bootstrap [0].")
@click.option("--bootstrap", type=int, default=None, help="Bootstrap resamples for the CIs [1000].")
@click.option("--device", default=None, help="cpu, cuda, cuda:1, ... [cuda if available].")
@click.option("--hybrid/--no-hybrid", default=None, help="Dense + BM25 retrieval [as the index was built].")
@click.option("--force-prompt", is_flag=True, help="Use a model trained with another prompt version.")
@click.option("--overwrite", is_flag=True, help="Replace an existing report directory.")
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

    from raft.eval_report import format_table
    from raft.evaluate import EvalConfig, run_eval
    from raft.generation import DecodingConfig

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


# ---- end eval --------------------------------------------------------------------------------

# ---- chat / serve / feedback (raft/engine.py, raft/serve.py, apps/) ------------------------
_MODEL_HELP = ("Base model (HF id or path: answers as `rag`), a `raft train` MODEL_DIR (answers as `raft`, its "
               "base as `rag`), or openai:URL:MODEL (an OpenAI-compatible endpoint, answers as `raft`).")


def _engine_options(command):
    """Options shared by `raft chat` and `raft serve`."""
    for option in reversed([
        click.option("--model", required=True, help=_MODEL_HELP),
        click.option("--adapter", type=click.Path(), default=None,
                     help="A `raft train` LoRA MODEL_DIR applied to --model: answers as `raft`, --model as `rag`."),
        click.option("--rag-model", default=None, help="Model answering as `rag` (e.g. openai:URL:BASE)."),
        click.option("--device", default=None, help="Torch device for the models and the embedder [cuda if available]."),
        click.option("--host", default=None, help="Interface to bind [127.0.0.1; 0.0.0.0 exposes it to the network]."),
        click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port to listen on."),
    ]):
        command = option(command)
    return command


@cli.command("chat")
@click.argument("index_dir", type=click.Path())
@_engine_options
@click.option("--share", is_flag=True, help="Also open a public gradio.live link (needs internet).")
@click.option("--auth", default=None, help="Require a login, user:password [env RAFT_CHAT_AUTH].")
@click.option("--feedback", type=click.Path(dir_okay=False), default=None,
              help="JSONL file the 👍/👎 ratings are appended to [feedback.jsonl].")
@click.option("--concurrency", type=click.IntRange(min=1), default=None, help="Requests answered at once [4].")
def chat_cmd(index_dir: str, model: str, adapter: str | None, rag_model: str | None, device: str | None,
             **options) -> None:
    """Gradio chat app over INDEX_DIR: streaming answers with citations, sources, compare mode, feedback.

    \b
    Examples:
      raft chat indexes/helpdesk --model models/raft
      raft chat indexes/helpdesk --model BASE --adapter models/raft --auth admin:secret
    """
    from pathlib import Path

    from apps.chat_app import ChatAppConfig, launch, parse_auth
    from raft.engine import build_engine

    overrides = {k: v for k, v in options.items() if v is not None}
    if "feedback" in overrides:
        overrides["feedback"] = Path(overrides["feedback"])
    cfg = ChatAppConfig(**overrides)
    parse_auth(cfg.auth)
    launch(build_engine(Path(index_dir), model, adapter, rag_model, device), cfg)


@cli.command("serve")
@click.argument("index_dir", type=click.Path())
@_engine_options
def serve_cmd(index_dir: str, model: str, adapter: str | None, rag_model: str | None, device: str | None,
              **options) -> None:
    """OpenAI-compatible API over INDEX_DIR: /v1/models and /v1/chat/completions (streaming or not).

    Model names: `rag` (base) and `raft` (tuned). Requests without a system message get server-side
    retrieval and a `sources` field; requests with one (e.g. from `raft eval`) go to the model as given.

    \b
    Example:
      raft serve indexes/helpdesk --model BASE --adapter models/raft --port 8000
      curl http://127.0.0.1:8000/v1/models
    """
    from pathlib import Path

    from raft.engine import build_engine
    from raft.serve import ServeConfig, serve

    cfg = ServeConfig(**{k: v for k, v in options.items() if v is not None})
    serve(build_engine(Path(index_dir), model, adapter, rag_model, device), cfg)


@cli.group("feedback")
def feedback_group() -> None:
    """Ratings collected by `raft chat`."""


@feedback_group.command("export")
@click.argument("feedback_file", type=click.Path())
@click.option("-o", "--out", type=click.Path(dir_okay=False), required=True, help="QA JSONL file to write.")
@click.option("--as", "as_", type=click.Choice(["qa", "train"]), default="qa", show_default=True,
              help="qa: eval questions for `raft eval --qa`; train: rows with a verified oracle for `raft generate --qa`.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
def feedback_export_cmd(feedback_file: str, out: str, as_: str, overwrite: bool) -> None:
    """Turn 👍 answers in FEEDBACK_FILE into a QA JSONL (id, question, answer, doc_id, chunk_id)."""
    from pathlib import Path

    from raft.feedback import export_feedback

    counts = export_feedback(Path(feedback_file), Path(out), as_, overwrite)
    click.echo(f"wrote {counts['written']} questions to {out} "
               f"({counts['skipped']} of {counts['ratings']} rated questions skipped: 👎 or no verified answer)")


# ---- end chat / serve / feedback -------------------------------------------------------------

# ---- demo (raft/demo.py) ---------------------------------------------------------------------
@cli.command("demo")
@click.option("-o", "--out", type=click.Path(), default=None, help="Run directory. [default: runs/demo]")
@click.option("--corpus", type=click.Path(), default=None, help="Documents to index. [default: the bundled corpus]")
@click.option("--qa", type=click.Path(), default=None,
              help="Gold questions with a train/test split column. [default: the bundled questions]")
@click.option("--base-model", default=None,
              help="HF id or path of the base model. [default: build the offline tiny model]")
@click.option("--raft-steps", type=click.IntRange(min=1), default=None, help="Training steps of the RAFT model.")
@click.option("--dsf-steps", type=click.IntRange(min=1), default=None, help="Training steps of the DSF model.")
@click.option("--eval-limit", type=click.IntRange(min=1), default=None, help="Evaluate on the first N test questions.")
@click.option("--quick", is_flag=True, help="A reduced smoke-test setting (a few steps, 12 test questions).")
@click.option("--chat", is_flag=True, help="Launch the chat app on the result when done.")
@click.option("--port", type=int, default=7860, show_default=True, help="Port of the chat app with --chat.")
def demo_cmd(out, corpus, qa, base_model, raft_steps, dsf_steps, eval_limit, quick, chat, port) -> None:
    """Corpus -> index -> RAFT and DSF data -> base model -> training -> eval, offline, in one command.

    Each stage reuses its finished output on a re-run, so an interrupted demo picks up where it stopped.
    """
    from dataclasses import replace
    from pathlib import Path

    from raft import demo
    from raft.eval_report import format_table

    overrides = {"out": out, "corpus": corpus, "qa": qa, "base_model": base_model, "raft_steps": raft_steps,
                 "dsf_steps": dsf_steps, "eval_limit": eval_limit}
    cfg = demo.DemoConfig()
    if quick:
        cfg = demo.quick(cfg)
    cfg = replace(cfg, **{k: (Path(v) if k in ("out", "corpus", "qa") else v)
                          for k, v in overrides.items() if v is not None})
    report = demo.run_demo(cfg, echo=click.echo)
    click.echo("")
    click.echo(format_table(report))
    click.echo("")
    click.echo(demo.next_steps(cfg))
    if chat:
        from apps.chat_app import ChatAppConfig, launch
        from raft.engine import build_engine

        engine = build_engine(Path(cfg.out) / "index", str(Path(cfg.out) / "models" / "raft"))
        launch(engine, ChatAppConfig(port=port))


# ---- end demo --------------------------------------------------------------------------------
