"""The `raft` command line: fast help, version, `python -m raft`, one-line user errors, index + search."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from raft import __version__

HEAVY = ["torch", "transformers", "sentence_transformers", "trl", "peft", "gradio", "faiss", "datasets", "optuna"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def raft(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "raft", *args], capture_output=True, text=True, env=ENV, timeout=timeout
    )


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["index", "--help"], ["search", "--help"], ["tune", "--help"]])
def test_help_and_version_import_no_heavy_library(args: list[str]) -> None:
    code = (
        "import json, sys\n"
        f"sys.argv = ['raft', *{args!r}]\n"
        "from raft.cli import main\n"
        "code = 0\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    code = exc.code\n"
        f"print(json.dumps({{'code': code, 'heavy': [m for m in {HEAVY!r} if m in sys.modules]}}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=60)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report == {"code": 0, "heavy": []}


def test_python_dash_m_raft_version_and_help() -> None:
    proc = raft("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"raft, version {__version__}"
    proc = raft("index", "--help")
    assert proc.returncode == 0
    for flag in (
        "--embedder",
        "--chunk-size",
        "--overlap",
        "--index-type",
        "--batch-size",
        "--device",
        "--processes",
        "--hybrid",
        "--strict",
        "--update",
        "--overwrite",
    ):
        assert flag in proc.stdout


def assert_user_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if line.startswith("Error")]
    assert len(lines) == 1, proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_user_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    assert_user_error(raft("index", str(tmp_path / "missing"), "-o", str(tmp_path / "idx")), "does not exist")
    assert_user_error(raft("search", str(tmp_path / "noindex"), "query"), "does not exist", "raft index")
    assert_user_error(
        raft("index", str(tmp_path), "-o", str(tmp_path / "i"), "--index-type", "annoy"), "--index-type"
    )
    assert_user_error(
        raft("index", str(tmp_path), "-o", str(tmp_path / "i"), "--overlap", "500"), "--overlap"
    )
    assert_user_error(raft("search", str(tmp_path), "q", "-k", "0"), "-k")


def test_index_then_search_end_to_end(tmp_path: Path) -> None:
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "adapter.md").write_text("# Power adapter\n\nThe hub needs a 12 volt adapter.\n")
    (corpus / "warranty.md").write_text("# Warranty\n\nEvery device has a two year warranty.\n")
    (corpus / "blob.txt").write_bytes(b"\x00\x01")
    out = tmp_path / "idx"
    proc = raft("index", str(corpus), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "Indexed 2 documents" in proc.stdout and "1 skipped" in proc.stdout
    assert "blob.txt: binary file" in proc.stderr
    proc = raft("search", str(out), "what voltage does the hub need", "-k", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert [h["doc_id"] for h in result["hits"]] == ["adapter", "warranty"]
    assert set(result["hits"][0]) >= {"chunk_id", "doc_id", "title", "source", "score", "text"}
    proc = raft("search", str(out), "two year warranty", "-k", "1")
    assert proc.returncode == 0 and proc.stdout.startswith("1. [") and "Warranty (warranty.md)" in proc.stdout
    assert_user_error(raft("index", str(corpus), "-o", str(out)), "--overwrite")
    assert_user_error(raft("search", str(out), "q", "--hybrid"), "--hybrid")
    assert_user_error(
        raft("index", str(corpus), "-o", str(out), "--strict", "--overwrite"), "blob.txt", "--strict"
    )
