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
# ---- end index / search ----------------------------------------------------------------------

# ---- generate (raft/raftdata.py, raft/teacher.py) ------------------------------------------
# ---- end generate ----------------------------------------------------------------------------

# ---- tiny-model / train / merge (raft/tiny_model.py, raft/train.py) -------------------------
# ---- end tiny-model / train / merge ----------------------------------------------------------

# ---- eval (raft/metrics.py, raft/evaluate.py) ----------------------------------------------
# ---- end eval --------------------------------------------------------------------------------

# ---- chat / serve / feedback (raft/engine.py, raft/serve.py, apps/) ------------------------
# ---- end chat / serve / feedback -------------------------------------------------------------

# ---- demo (raft/demo.py) ---------------------------------------------------------------------
# ---- end demo --------------------------------------------------------------------------------
