"""README.md and docs/*.md: every relative link resolves, every `raft ...` command shown parses."""

import re
import shlex
from pathlib import Path

import click
import pytest

from raft.cli import cli

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)


def broken_links(page: Path) -> list[str]:
    """Relative link targets of `page` (anchors dropped) that do not exist."""
    out = []
    for target in _LINK.findall(page.read_text()):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0]
        if path and not (page.parent / path).exists():
            out.append(target)
    return out


def shown_commands(text: str) -> list[str]:
    """Every `raft ...` command in the fenced code blocks of `text` (continuation lines joined; lines of a
    pipeline picture, with arrows, are not commands)."""
    commands = []
    for block in _FENCE.findall(text):
        joined = re.sub(r"\s*\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.strip()
            for prefix in ("$ ", ".venv/bin/"):
                line = line.removeprefix(prefix)
            if "►" not in line and re.match(r"^(PYTHONPATH=\S+ |HF_HUB_OFFLINE=1 )*raft\s", line):
                commands.append(line[line.index("raft") :])
    return commands


def command_problems(command: str, root: click.Group = cli) -> list[str]:
    """Why `command` (as shown in the docs) would not parse: an unknown subcommand or flag."""
    command = command.split(" #", 1)[0]
    for sep in (" | ", " && ", " ; ", " > ", " 2>"):
        command = command.split(sep, 1)[0]
    try:
        tokens = shlex.split(command)[1:]
    except ValueError as exc:
        return [f"{command!r}: {exc}"]
    group: click.Command = root
    path = ["raft"]
    while isinstance(group, click.Group) and tokens and not tokens[0].startswith("-"):
        name = tokens.pop(0)
        if name not in group.commands:
            if name.startswith("[") or name.isupper() or name.startswith("<"):
                break  # a placeholder such as [COMMAND] or INDEX_DIR
            return [f"{' '.join(path)}: no subcommand {name!r}"]
        group = group.commands[name]
        path.append(name)
    known = {opt for p in group.params for opt in (*p.opts, *p.secondary_opts)} | {"--help", "-h"}
    problems = []
    for tok in tokens:
        for flag in re.findall(r"(?:^|[\[|(])(--?[A-Za-z][\w-]*)", tok):
            if flag not in known:
                problems.append(f"{' '.join(path)}: no option {flag}")
    return problems


def test_command_problems_catch_a_made_up_flag_and_subcommand() -> None:
    assert command_problems("raft index corpora/helpdesk -o INDEX_DIR --chunk-size 128") == []
    assert command_problems("raft index CORPUS -o INDEX --made-up-flag 3") == ["raft index: no option --made-up-flag"]
    assert command_problems("raft feedback export F.jsonl -o OUT --as qa") == []
    assert command_problems("raft feedback export F.jsonl --bogus") == ["raft feedback export: no option --bogus"]
    assert command_problems("raft frobnicate X") == ["raft: no subcommand 'frobnicate'"]
    assert command_problems("raft demo [-o runs/demo] [--chat] [--quick]") == []
    assert command_problems("raft demo [--nope]") == ["raft demo: no option --nope"]


def test_shown_commands_join_continuations_and_skip_prose() -> None:
    text = "raft index A -o B\n```bash\nraft eval I --qa Q \\\n    --k 4   # note\necho raft\n```\n"
    assert shown_commands(text) == ["raft eval I --qa Q --k 4   # note"]


def test_broken_links_are_found(tmp_path) -> None:
    (tmp_path / "there.md").write_text("x")
    page = tmp_path / "page.md"
    page.write_text("[a](there.md) [b](missing.md#part) [c](https://example.org) [d](#anchor)")
    assert broken_links(page) == ["missing.md#part"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves(page: Path) -> None:
    assert broken_links(page) == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_shown_command_parses(page: Path) -> None:
    commands = shown_commands(page.read_text())
    problems = [p for c in commands for p in command_problems(c)]
    assert problems == []
