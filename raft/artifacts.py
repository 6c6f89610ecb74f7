"""Self-describing artifact directories: build in a temp dir, rename at the end, manifest last."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from raft import __version__
from raft.errors import RaftError

MANIFEST = "manifest.json"

log = logging.getLogger(__name__)


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
        recover_swap(directory)
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
        raise RaftError(f"{directory} is {_a(manifest.get('kind', 'unknown'))} directory, not {_a(kind)}{hint}")
    return manifest


def _a(word: str) -> str:
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def check_output_dir(out: Path, overwrite: bool, what: str = "output") -> None:
    """Refuse an existing non-empty output directory unless `overwrite` is set, and a path that cannot
    be created (a file on the way, a folder we may not write to)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RaftError(f"{out} exists and is not a directory; choose another {what} path")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise RaftError(f"{out} already exists; pass --overwrite to replace it or choose another path")
    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise RaftError(f"cannot create {out}: {parent} is a file, not a folder; choose another {what} path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise RaftError(f"cannot create {out}: {parent} is not writable; choose another {what} path")


def pid_alive(pid: int) -> bool:
    """Whether a process with this id is running (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _leftovers(out: Path, tag: str) -> list[tuple[Path, int]]:
    """`.NAME.<tag>-PID` entries beside `out` whose process has died."""
    prefix = f".{out.name}.{tag}-"
    found = []
    if out.parent.is_dir():
        for p in out.parent.iterdir():
            pid = p.name[len(prefix):]
            if p.name.startswith(prefix) and pid.isdigit() and not pid_alive(int(pid)):
                found.append((p, int(pid)))
    return found


def recover_swap(out: Path) -> None:
    """Finish what a killed build left beside `out`: restore a backup when `out` is missing (a swap
    killed between its two renames), drop other backups and the staging folders of dead processes."""
    out = Path(out)
    for old, pid in sorted(_leftovers(out, "old"), key=lambda item: -item[0].stat().st_mtime):
        if not out.exists():
            os.replace(old, out)
            log.warning("restored %s from the backup left by killed process %d", out, pid)
        else:
            _remove(old)
    for tmp, pid in _leftovers(out, "tmp"):
        log.info("removing %s, left by killed process %d", tmp, pid)
        _remove(tmp)


def _first_missing(path: Path) -> Path | None:
    """The outermost folder of `path` that does not exist yet (None when `path` exists)."""
    missing = None
    path = path.absolute()
    while not path.exists():
        missing, path = path, path.parent
    return missing


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def staging_dir(out: Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temp directory beside `out`; on success it replaces `out`, on failure it is removed.

    Safe at every instant: the old `out` is renamed to a backup, the new one renamed into place, then
    the backup deleted; a build killed in between is repaired by the next one (`recover_swap`).
    """
    out = Path(out)
    if out.parent.is_dir():
        recover_swap(out)
    check_output_dir(out, overwrite)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    created = _first_missing(out.parent)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
    except OSError as exc:
        raise RaftError(f"cannot create {out} ({exc.strerror or exc}); choose another output path") from None
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if created is not None:  # the folders made for `out` go too: a failed build leaves nothing
            shutil.rmtree(created, ignore_errors=True)
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
