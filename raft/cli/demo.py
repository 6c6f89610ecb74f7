"""`raft demo`: thin shells over raft/demo.py."""

from __future__ import annotations

import click


@click.command("demo")
@click.option("-o", "--out", type=click.Path(), default=None, help="Run directory. [default: runs/demo]")
@click.option("--corpus", type=click.Path(), default=None, help="Documents to index. [default: the bundled corpus]")
@click.option("--qa", type=click.Path(), default=None,
              help="Gold questions with a train/test split column. [default: the bundled questions]")
@click.option("--base-model", default=None,
              help="HF id, path or offline alias of the base model. [default: smollm2-135m]")
@click.option("--full/--lora", default=None,
              help="Full fine-tuning or LoRA, for both trainings. [default: full; --lora-layers implies --lora]")
@click.option("--raft-steps", type=click.IntRange(min=1), default=None, help="Training steps of the RAFT model.")
@click.option("--dsf-steps", type=click.IntRange(min=1), default=None, help="Training steps of the DSF model.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Training batch size. [default: 4]")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True, max=1, max_open=True), default=None,
              help="Learning rate of both trainings. [default: 1e-4; 3e-4 with --lora]")
@click.option("--lora-layers", type=click.IntRange(min=1), default=None,
              help="LoRA on the last N decoder layers only. [default: all]")
@click.option("--eval-rows", type=click.IntRange(min=1), default=None,
              help="Validation rows each training evaluation reads (a seeded subset). [default: 32]")
@click.option("--eval-limit", type=click.IntRange(min=1), default=None,
              help="Evaluate on a seeded subset of N test questions. [default: 150]")
@click.option("--quick", is_flag=True, help="A smoke run of every stage: few steps, few test questions (about 3 minutes on 2 CPU cores).")
@click.option("--chat", is_flag=True, help="Launch the chat app on the result when done.")
@click.option("--port", type=int, default=7860, show_default=True, help="Port of the chat app with --chat.")
def demo_cmd(out, corpus, qa, base_model, full, raft_steps, dsf_steps, batch_size, lr, lora_layers, eval_rows,
             eval_limit, quick, chat, port) -> None:
    """Corpus -> index -> RAFT and DSF data -> training of the base model -> eval, offline, in one command.

    Each stage reuses its finished output on a re-run, so an interrupted demo picks up where it stopped.
    """
    from dataclasses import replace
    from pathlib import Path

    from raft import demo
    from raft.eval.report import format_table

    overrides = {"out": out, "corpus": corpus, "qa": qa, "base_model": base_model, "raft_steps": raft_steps,
                 "dsf_steps": dsf_steps, "batch_size": batch_size, "lr": lr, "lora_layers": lora_layers,
                 "eval_rows": eval_rows, "eval_limit": eval_limit}
    if full is None and lora_layers is not None:
        full = False
    cfg = demo.DemoConfig()
    if full is False:
        cfg = demo.lora(cfg)
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
        from raft.serve.engine import build_engine

        engine = build_engine(Path(cfg.out) / "index", str(Path(cfg.out) / "models" / "raft"), k=cfg.k)
        launch(engine, ChatAppConfig(port=port))
