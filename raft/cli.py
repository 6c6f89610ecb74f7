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
      raft export MODEL -o OUT          merged model for vLLM / SGLang
      raft tune DATASET -o TUNE_DIR     hyperparameter search (Optuna), best by validation loss
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
@click.option("--arch", type=click.Choice(["lfm2", "llama"]), default=None,
              help="Shape: lfm2 (short convolutions + attention, learns to copy fast) or llama [lfm2].")
@click.option("--copy-steps", type=int, default=None,
              help="Copy-drill steps: corpus text followed by a quoted slice of it [0].")
@click.option("--pretrain-steps", type=int, default=None, help="Causal-LM pretraining steps (0: random init).")
@click.option("--reading-steps", type=int, default=None,
              help="Reading-stage steps: self-supervised questions about the corpus, RAFT answer format [0].")
@click.option("--reading-lr", type=float, default=None, help="Reading-stage learning rate [2e-3].")
@click.option("--reading-distractors", type=int, default=None, help="Most distractor chunks per reading task [3].")
@click.option("--reading-drill-every", type=int, default=None,
              help="One copy-drill batch after every N reading batches, so copying is kept [0: none].")
@click.option("--exclude", "exclude", multiple=True, metavar="DOC_ID",
              help="Keep this document (doc id or path in the corpus) out of all training text. Repeatable.")
@click.option("--exclude-file", type=click.Path(), default=None,
              help="File of doc ids to keep out, one per line (e.g. your test documents).")
@click.option("--seed", type=int, default=None, help="Seed for initialisation and batch order.")
@click.option("--bf16", is_flag=True, default=None,
              help="bf16 autocast while training: faster on CPUs with bf16 instructions (AVX512-BF16, AMX).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output directory.")
def tiny_model_cmd(out: str, corpus: str | None, arch: str | None, copy_steps: int | None,
                   pretrain_steps: int | None, reading_steps: int | None,
                   reading_lr: float | None, reading_distractors: int | None,
                   reading_drill_every: int | None, exclude: tuple[str, ...],
                   exclude_file: str | None, seed: int | None, bf16: bool | None, overwrite: bool) -> None:
    """Build a small base model offline (BPE tokenizer, chat template, copy drill, pretraining, reading)."""
    from pathlib import Path

    from raft.errors import RaftError
    from raft.tiny_model import TinyModelConfig, build_tiny_model

    names = list(exclude)
    if exclude_file:
        if not Path(exclude_file).is_file():
            raise RaftError(f"--exclude-file {exclude_file} does not exist")
        names += [line.strip() for line in Path(exclude_file).read_text().splitlines() if line.strip()]
    overrides = {"arch": arch, "copy_steps": copy_steps, "pretrain_steps": pretrain_steps, "seed": seed,
                 "reading_steps": reading_steps,
                 "reading_lr": reading_lr, "reading_distractors": reading_distractors,
                 "reading_drill_every": reading_drill_every, "bf16": bf16}
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
@click.option("--method", type=click.Choice(["sft", "dpo", "kto"]), default=None,
              help="sft: supervised on the RAFT dataset [default]; dpo: preference pairs built from the RAFT "
                   "dataset; kto: 👍/👎 rows from `raft feedback export --as preference` (DATASET is that file). "
                   "For dpo/kto, --base-model may be a `raft train` MODEL_DIR to keep tuning.")
@click.option("--beta", type=float, default=None, help="DPO/KTO strength of the pull towards the start model [0.1].")
@click.option("--dry-run", is_flag=True, help="Print the resolved config and token-length stats, then stop.")
@click.option("--overwrite", is_flag=True, default=None, help="Replace a finished model directory.")
@click.option("--merge", "merge_", is_flag=True, default=None, help="Also write MODEL_DIR/merged (full weights).")
@click.option("--trust-remote-code", is_flag=True, default=None,
              help="Run modelling code shipped with a hub model (only for models you trust) [off].")
def train_cmd(dataset: str | None, out: str | None, config_file: str | None, dry_run: bool, merge_: bool | None,
              **knobs) -> None:
    """Fine-tune BASE_MODEL on a RAFT DATASET with TRL + PEFT (LoRA by default); resumes automatically."""
    import json
    import os
    from pathlib import Path

    from raft.train import load_config, plan, train
    from raft.train_inputs import check_lengths

    cfg = load_config(Path(config_file) if config_file else None, dataset=dataset, out=out, merge=merge_, **knobs)
    if cfg.method != "sft":
        _train_preference(cfg, dry_run)
        return
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


def _train_preference(cfg, dry_run: bool) -> None:
    import json

    from raft.preference import plan, train_preference
    from raft.train_inputs import check_lengths

    if dry_run:
        report = plan(cfg)
        click.echo(json.dumps(report["config"], indent=2, default=str))
        click.echo(json.dumps({"rows": report["rows"], "lengths": report["lengths"]}, indent=2))
        check_lengths(report["lengths"], cfg.max_length)
        click.echo(f"ok: no row exceeds max_length {cfg.max_length}")
        return
    manifest = train_preference(cfg)
    click.echo(f"{cfg.method} model written to {cfg.out} (train loss {manifest['final_train_loss']:.4f}, "
               f"eval loss {manifest['final_eval_loss']})")


@cli.command("merge")
@click.argument("model_dir", type=click.Path())
@click.option("-o", "--out", type=click.Path(), required=True, help="Directory for the merged model.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output directory.")
@click.option("--trust-remote-code", is_flag=True, default=None,
              help="Run modelling code shipped with a hub model (only for models you trust) [off].")
def merge_cmd(model_dir: str, out: str, overwrite: bool, trust_remote_code: bool | None) -> None:
    """Fold a trained LoRA adapter into its base model (loads with plain AutoModelForCausalLM)."""
    from pathlib import Path

    from raft.train import merge

    path = merge(Path(model_dir), Path(out), overwrite=overwrite, trust_remote_code=bool(trust_remote_code))
    click.echo(f"merged model written to {path}")


@cli.command("export")
@click.argument("model_dir", type=click.Path())
@click.option("-o", "--out", type=click.Path(), required=True, help="Directory for the servable model.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output directory.")
@click.option("--trust-remote-code", is_flag=True, default=None,
              help="Run modelling code shipped with a hub model (only for models you trust) [off].")
def export_cmd(model_dir: str, out: str, overwrite: bool, trust_remote_code: bool | None) -> None:
    """Write a `raft train` model as one directory vLLM / SGLang / transformers load as it is.

    Full merged weights (safetensors), config, tokenizer with its chat template (carrying the prompt
    contract's chat adaptation, if any) and a generation_config.json whose eos ids stop at the turn end.

    \b
    Example:
      raft export models/raft -o exported/raft && vllm serve exported/raft --served-model-name raft
    """
    from pathlib import Path

    from raft.export import export

    path = export(Path(model_dir), Path(out), overwrite=overwrite, trust_remote_code=bool(trust_remote_code))
    click.echo(f"servable model written to {path} (serve it with: vllm serve {path})")


@cli.command("train-compare")
@click.argument("model_dirs", type=click.Path(), nargs=-1, required=True)
def train_compare_cmd(model_dirs: tuple[str, ...]) -> None:
    """Side-by-side eval loss of runs (A/B one knob): the settings that differ, then loss by step."""
    from pathlib import Path

    from raft.trainlog import compare_runs

    click.echo(compare_runs([Path(d) for d in model_dirs]))


# ---- end tiny-model / train / merge ----------------------------------------------------------

# ---- tune (raft/tune.py, raft/tune_report.py) ----------------------------------------------
@cli.command("tune")
@click.argument("dataset", type=click.Path())
@click.option("-o", "--out", type=click.Path(), required=True, help="Study directory (trials/, study.db, best).")
@click.option("--base-model", required=True, help="Hub id or local path of the model to tune.")
@click.option("--trials", type=click.IntRange(min=1), default=None,
              help="Finished trials the study should hold [10; with --sampler grid: the grid size].")
@click.option("--sampler", type=click.Choice(["tpe", "grid"]), default=None, help="Optuna sampler [tpe].")
@click.option("--lr", default=None, help="Learning rates: low:high (log scale) or a,b,c [2e-5:1e-3].")
@click.option("--lora-r", default=None, help="LoRA ranks, a,b,c [8,16,32]; 'none' to keep --config's.")
@click.option("--lora-alpha", default=None, help="LoRA alphas, a,b,c [16,32,64]; 'none' to keep --config's.")
@click.option("--epochs", default=None, help="Epochs: a,b,c or low:high [1,2,3]; 'none' to keep --config's.")
@click.option("--config", "config_file", type=click.Path(), default=None,
              help="YAML of fixed `raft train` knobs for every trial (batch_size, eval_steps, max_steps, ...).")
@click.option("--storage", default=None,
              help="Optuna storage URL shared by several machines, e.g. postgresql://user:pw@host/db "
                   "[sqlite:///OUT/study.db].")
@click.option("--study-name", default=None, help="Study name inside the storage [raft-tune].")
@click.option("--no-prune", is_flag=True, help="Run every trial to the end (no median pruning).")
@click.option("--seed", type=int, default=None, help="Sampler seed [0].")
@click.option("--heartbeat", "heartbeat_s", type=click.IntRange(min=1), default=None,
              help="Seconds between a trial's heartbeats; a trial silent for twice this is rerun [30].")
@click.option("--eval-top", type=click.IntRange(min=1), default=None,
              help="Also `raft eval` the N best trials on the test questions (needs --index and --qa).")
@click.option("--index", "index_dir", type=click.Path(), default=None, help="Index for --eval-top.")
@click.option("--qa", type=click.Path(), default=None, help="QA file with the test split, for --eval-top.")
def tune_cmd(dataset: str, out: str, base_model: str, config_file: str | None, no_prune: bool,
             eval_top: int | None, index_dir: str | None, qa: str | None, **options) -> None:
    """Search learning rate, LoRA rank/alpha and epochs with Optuna; pick the best by validation loss.

    \b
    Examples:
      raft tune datasets/helpdesk -o tunes/helpdesk --base-model Qwen/Qwen2.5-0.5B-Instruct --trials 12
      raft tune DATASET -o DIR --base-model BASE --sampler grid --lr 1e-4,3e-4 --lora-r 8,16 --epochs 3
      raft tune DATASET -o DIR --base-model BASE --storage postgresql://u:pw@db/raft --trials 40  # each machine
    """
    from pathlib import Path

    from raft.tune import DEFAULT_SPACE, TuneConfig, tune, tune_fixed_knobs

    space = dict(DEFAULT_SPACE)
    for name in ("lr", "lora_r", "lora_alpha", "epochs"):
        if options.get(name) is not None:
            space[name] = "" if options[name].strip().lower() == "none" else options[name]
    fixed = tune_fixed_knobs(Path(config_file) if config_file else None)
    space = {k: v for k, v in space.items() if v and k not in fixed}
    if eval_top and not (index_dir and qa):
        raise RaftError("--eval-top needs --index INDEX_DIR and --qa FILE (the questions with a test split)")
    overrides = {k: options[k] for k in ("trials", "sampler", "storage", "study_name", "seed", "heartbeat_s")
                 if options.get(k) is not None}
    cfg = TuneConfig(dataset=Path(dataset), out=Path(out), base_model=base_model, space=space, train=fixed,
                     prune=not no_prune, **overrides)
    manifest = tune(cfg)
    click.echo(manifest["table"])
    if manifest["best_trial"] is None:
        click.echo("no trial finished yet")
        return
    click.echo(f"\nbest: trial {manifest['best_trial']} (validation loss {manifest['best_validation_loss']:.4f}, "
               f"{manifest['best_params']}) -> {Path(out) / 'best'}")
    if eval_top:
        from raft.tune import eval_top_trials

        report_dir = eval_top_trials(Path(out), eval_top, Path(index_dir), Path(qa))
        click.echo(f"test-split report of the top {eval_top} trials: {report_dir}")
    click.echo(f"table: {Path(out) / 'trials.md'}  plot: {Path(out) / 'tune.png'}")


# ---- end tune --------------------------------------------------------------------------------


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
@click.option("--split", default=None,
              help="Question split: train, validation, test or all [test when the file has a split column, else "
                   "all; with --model and no split column, test = the questions `raft generate` held out].")
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
        click.option("--trust-remote-code", is_flag=True,
                     help="Run modelling code shipped with a hub model (only for models you trust) [off]."),
        click.option("--no-merge", is_flag=True, default=False,
                     help="Keep a LoRA adapter unmerged (slower; by default it is merged into an in-memory copy)."),
        click.option("--request-log", type=click.Path(dir_okay=False), default=None,
                     help="JSONL file logging each answer (question, chunk ids, answer, citations, latency)."),
        click.option("--request-log-max-bytes", type=click.IntRange(min=1024), default=None,
                     help="Rotate the request log at this size; 5 old files are kept [10485760]."),
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
             trust_remote_code: bool, no_merge: bool,
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
    for key in ("feedback", "request_log"):
        if key in overrides:
            overrides[key] = Path(overrides[key])
    cfg = ChatAppConfig(**overrides)
    parse_auth(cfg.auth)
    launch(build_engine(Path(index_dir), model, adapter, rag_model, device, trust_remote_code, merge=not no_merge), cfg)


@cli.command("serve")
@click.argument("index_dir", type=click.Path())
@_engine_options
@click.option("--api-key", default=None, help="Require Authorization: Bearer KEY on every route [env RAFT_SERVE_API_KEY].")
def serve_cmd(index_dir: str, model: str, adapter: str | None, rag_model: str | None, device: str | None,
              trust_remote_code: bool, no_merge: bool,
              **options) -> None:
    """OpenAI-compatible API over INDEX_DIR: /v1/models and /v1/chat/completions (streaming or not).

    Model names: `rag` (base) and `raft` (tuned). Requests without a system message get server-side
    retrieval and a `sources` field; requests with one (e.g. from `raft eval`) go to the model as given.

    \b
    Example:
      raft serve indexes/helpdesk --model BASE --adapter models/raft --port 8000 --api-key "$KEY"
      curl -H "Authorization: Bearer $KEY" http://127.0.0.1:8000/v1/models
    """
    from pathlib import Path

    from raft.engine import build_engine
    from raft.serve import ServeConfig, resolve_api_key, serve

    overrides = {k: v for k, v in options.items() if v is not None}
    if "request_log" in overrides:
        overrides["request_log"] = Path(overrides["request_log"])
    cfg = ServeConfig(**overrides)
    resolve_api_key(cfg.api_key)  # a bad key fails before the models load
    serve(build_engine(Path(index_dir), model, adapter, rag_model, device, trust_remote_code, merge=not no_merge), cfg)


@cli.group("feedback")
def feedback_group() -> None:
    """Ratings collected by `raft chat`."""


@feedback_group.command("export")
@click.argument("feedback_file", type=click.Path())
@click.option("-o", "--out", type=click.Path(dir_okay=False), required=True, help="QA JSONL file to write.")
@click.option("--as", "as_", type=click.Choice(["qa", "train", "preference"]), default="qa", show_default=True,
              help="qa: eval questions for `raft eval --qa`; train: rows with a verified oracle for `raft generate --qa`; "
                   "preference: 👍/👎 rows for `raft train --method kto` (needs --index).")
@click.option("--index", "index_dir", type=click.Path(), default=None,
              help="The index the chat app answered from (rebuilds the prompts for --as preference).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
def feedback_export_cmd(feedback_file: str, out: str, as_: str, index_dir: str | None, overwrite: bool) -> None:
    """Turn 👍 answers in FEEDBACK_FILE into a QA JSONL (id, question, answer, doc_id, chunk_id), or every
    rating into preference rows (prompt, completion, label) with --as preference."""
    from pathlib import Path

    from raft.feedback import export_feedback, export_preference

    if as_ == "preference":
        if not index_dir:
            raise RaftError("--as preference needs --index INDEX_DIR (the index `raft chat` answered from)")
        counts = export_preference(Path(feedback_file), Path(out), Path(index_dir), overwrite)
        click.echo(f"wrote {counts['written']} rows to {out} ({counts['up']} 👍, {counts['down']} 👎; "
                   f"{counts['skipped']} skipped: chunks no longer in the index)")
        return

    counts = export_feedback(Path(feedback_file), Path(out), as_, overwrite)
    click.echo(f"wrote {counts['written']} questions to {out} "
               f"({counts['skipped']} of {counts['ratings']} rated questions skipped: 👎 or no verified answer)")
    click.echo("note: the answers are the model's own (rated 👍), not human-written gold; every row says "
               "answer_source=model. Scoring the same model on them measures self-agreement, not accuracy.")


@feedback_group.command("report")
@click.argument("feedback_file", type=click.Path(), required=False)
@click.option("--requests", type=click.Path(dir_okay=False), default=None,
              help="Request log of `raft serve/chat --request-log` (abstentions, unanswered questions).")
@click.option("-o", "--out", type=click.Path(file_okay=False), required=True, help="Report directory to write.")
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True,
              help="How many of the most often unanswered questions to list.")
@click.option("--overwrite", is_flag=True, help="Replace an existing report directory.")
def feedback_report_cmd(feedback_file: str | None, requests: str | None, out: str, top: int, overwrite: bool) -> None:
    """Summarise ratings, abstentions and the most often unanswered questions (report.md/json/png)."""
    from pathlib import Path

    from raft.feedback_report import write_report

    s = write_report(Path(feedback_file) if feedback_file else None, Path(requests) if requests else None,
                     Path(out), top, overwrite)
    rate = "n/a" if s["abstain_rate"] is None else f"{s['abstain_rate']:.0%}"
    click.echo(f"{s['ratings']['up']} 👍 / {s['ratings']['down']} 👎; {s['answers']} logged answers, "
               f"{rate} abstained; report in {out}/report.md")
    for q in s["most_unanswered"][:3]:
        click.echo(f"  unanswered {q['count']}×: {q['question']}")


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
@click.option("--quick", is_flag=True, help="A smoke run of every stage: few steps, 40 test questions, under 3 minutes.")
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
