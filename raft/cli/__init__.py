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
      raft pull smollm2-135m            fetch a pretrained base model for offline use
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



def _quiet_libraries() -> None:
    """Keep library chatter (model loading, faiss CPU features) out of the output unless --verbose."""
    import logging
    import os

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    names = ("sentence_transformers", "transformers", "faiss", "bm25s", "httpx", "huggingface_hub", "datasets", "peft")
    for name in names:
        logging.getLogger(name).setLevel(logging.WARNING)
    if "transformers" in sys.modules:  # imported before the CLI ran (in-process use): the env var came too late
        sys.modules["transformers"].utils.logging.disable_progress_bar()



from raft.cli.data import generate_cmd  # noqa: E402
from raft.cli.demo import demo_cmd  # noqa: E402
from raft.cli.eval import eval_cmd  # noqa: E402
from raft.cli.index import index_cmd, search_cmd  # noqa: E402
from raft.cli.models import export_cmd, merge_cmd, pull_cmd  # noqa: E402
from raft.cli.serve import chat_cmd, feedback_group, serve_cmd  # noqa: E402
from raft.cli.train import train_cmd, train_compare_cmd, tune_cmd  # noqa: E402

for _command in (index_cmd, search_cmd, generate_cmd, pull_cmd, train_cmd, merge_cmd, export_cmd,
                 train_compare_cmd, tune_cmd, eval_cmd, chat_cmd, serve_cmd, feedback_group, demo_cmd):
    cli.add_command(_command)
