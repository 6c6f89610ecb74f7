"""Self-describing artifact directories: build in a temp dir, rename at the end, manifest last."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from raft import __version__
from raft.errors import RaftError

MANIFEST = "manifest.json"


def fingerprint(obj: Any) -> str:
    """A stable short hash of a JSON-serialisable object (settings, file lists)."""
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temp file next to `path`, then rename it into place."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)


def write_manifest(directory: Path, kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """Write `manifest.json` (call it last: its presence marks the directory as finished)."""
    manifest = {"kind": kind, "raft_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    manifest.update(data)
    write_json_atomic(Path(directory) / MANIFEST, manifest)
    return manifest


def read_manifest(directory: Path, kind: str, build_hint: str = "") -> dict[str, Any]:
    """Read and check a finished artifact's manifest; a clear RaftError if it is missing or of another kind."""
    directory = Path(directory)
    hint = f"; build it with `{build_hint}`" if build_hint else ""
    if not directory.exists():
        raise RaftError(f"{directory} does not exist{hint}")
    path = directory / MANIFEST
    if not path.is_file():
        raise RaftError(f"{directory} is not a finished {kind} (no {MANIFEST}){hint}")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RaftError(f"{path} is unreadable ({exc}){hint}") from None
    if manifest.get("kind") != kind:
        raise RaftError(f"{directory} is a {manifest.get('kind', 'unknown')} directory, not a {kind}{hint}")
    return manifest


def check_output_dir(out: Path, overwrite: bool, what: str = "output") -> None:
    """Refuse an existing non-empty output directory unless `overwrite` is set."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RaftError(f"{out} exists and is not a directory; choose another {what} path")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise RaftError(f"{out} already exists; pass --overwrite to replace it or choose another path")


@contextlib.contextmanager
def staging_dir(out: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temp directory beside `out`; on success it replaces `out`, on failure it is removed.

    A build killed half-way leaves any previous `out` untouched.
    """
    out = Path(out)
    check_output_dir(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def index_fingerprint(manifest: dict[str, Any]) -> str:
    """An index's identity: its manifest without the build time (the one rule every stage uses)."""
    return fingerprint({k: v for k, v in manifest.items() if k not in ("created", "seconds")})


def file_fingerprint(path: Path) -> str:
    """A content hash of a file, or of every file under a directory (names and bytes)."""
    h = hashlib.sha256()
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for p in files:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]
