"""`raft chat`, `raft serve` and `raft feedback`: thin shells over raft/serve/, apps/."""

from __future__ import annotations

import click

from raft.errors import RaftError
from raft.index.backends import QUERY_BACKENDS
from raft.serve.engines import ENGINES

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
        click.option("--engine", type=click.Choice(ENGINES), default=None,
                     help="Local generation engine: transformers in fp32/bf16, or ONNX Runtime GenAI in fp32/int4 (docs/export.md) [torch-fp32 on CPU]."),
        click.option("--backend", type=click.Choice(QUERY_BACKENDS),
                     default=None, help="Query embedder backend; must match the index [as the index records]."),
        click.option("-k", "k", type=click.IntRange(min=1), default=None,
                     help="Documents retrieved per question unless a request says otherwise (the app's slider starts "
                          "here); use the k the model was evaluated with [4]."),
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


@click.command("chat")
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
    from raft.devices import check_device
    from raft.serve.engine import build_engine

    engine = options.pop("engine", None)
    backend = options.pop("backend")
    k = options.pop("k")
    overrides = {k: v for k, v in options.items() if v is not None}
    for key in ("feedback", "request_log"):
        if key in overrides:
            overrides[key] = Path(overrides[key])
    cfg = ChatAppConfig(**overrides)
    parse_auth(cfg.auth)
    check_device(device)
    launch(build_engine(Path(index_dir), model, adapter, rag_model, device, trust_remote_code, merge=not no_merge,
                        engine=engine, backend=backend, k=k), cfg)


@click.command("serve")
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

    from raft.devices import check_device
    from raft.serve.api import ServeConfig, check_port, resolve_api_key, serve
    from raft.serve.engine import build_engine

    engine = options.pop("engine", None)
    backend = options.pop("backend")
    k = options.pop("k")
    overrides = {k: v for k, v in options.items() if v is not None}
    if "request_log" in overrides:
        overrides["request_log"] = Path(overrides["request_log"])
    cfg = ServeConfig(**overrides)
    resolve_api_key(cfg.api_key)  # a bad key, device or busy port fails before the models load
    check_device(device)
    check_port(cfg.host, cfg.port)
    serve(build_engine(Path(index_dir), model, adapter, rag_model, device, trust_remote_code, merge=not no_merge,
                       engine=engine, backend=backend, k=k), cfg)


@click.group("feedback")
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

    from raft.serve.feedback import export_feedback, export_preference

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

    from raft.serve.feedback_report import write_report

    s = write_report(Path(feedback_file) if feedback_file else None, Path(requests) if requests else None,
                     Path(out), top, overwrite)
    rate = "n/a" if s["abstain_rate"] is None else f"{s['abstain_rate']:.0%}"
    click.echo(f"{s['ratings']['up']} 👍 / {s['ratings']['down']} 👎; {s['answers']} logged answers, "
               f"{rate} abstained; report in {out}/report.md")
    for q in s["most_unanswered"][:3]:
        click.echo(f"  unanswered {q['count']}×: {q['question']}")
