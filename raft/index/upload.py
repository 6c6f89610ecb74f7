"""Documents uploaded from the chat app, added to an existing index incrementally.

Every file is checked before anything is written: an allowed document type, a size limit, a plain
file name (directories, hidden names and `..` are refused, the name is reduced to safe characters)
and content that the corpus loader can read. Accepted files are copied into `INDEX_DIR/uploads/`,
a folder the index owns (the source corpus, often a repository checkout, is never written), and
the index is updated with `build_index(IndexConfig(..., update=True))`, which embeds only the new
chunks and carries the uploads folder into every later build. A second upload with the same name
is kept as a new version (`guide.v2.md`, doc id `uploads/guide.v2`), never written over the first.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raft.errors import RaftError

if TYPE_CHECKING:
    from raft.index.retriever import Retriever

log = logging.getLogger(__name__)

UPLOAD_SUBDIR = "uploads"  # the same folder name as raft.index.build.UPLOADS_DIR
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class UploadPolicy:
    """What the app accepts."""

    suffixes: tuple[str, ...] = (".md", ".markdown", ".txt", ".html", ".htm", ".pdf")
    max_bytes: int = 5 * 1024 * 1024
    max_files: int = 10


def safe_name(name: str, policy: UploadPolicy = UploadPolicy()) -> str:
    """The upload's file name reduced to `[A-Za-z0-9._-]`; RaftError for names that are not plain files."""
    raw = str(name).replace("\\", "/")
    base = raw.rsplit("/", 1)[-1]
    stem, dot, ext = base.rpartition(".")
    stem, suffix = (stem, f".{ext.lower()}") if dot else (base, "")
    if not base or base.startswith(".") or base in ("..", ".") or not stem:
        raise RaftError(f"upload {name!r}: not a plain file name; rename the file")
    if suffix not in policy.suffixes:
        raise RaftError(
            f"upload {base!r}: type {suffix or '(none)'} is not accepted; allowed: {' '.join(policy.suffixes)}"
        )
    clean = _UNSAFE.sub("_", stem).strip("._-")[:100]
    if not clean:
        raise RaftError(f"upload {base!r}: the name has no usable characters; rename the file")
    return clean + suffix


def check_upload(path: Path, policy: UploadPolicy = UploadPolicy(), name: str | None = None) -> str:
    """Validate one uploaded file (type, size, readable content); returns its safe name."""
    from raft.index.corpus import Corpus

    path = Path(path)
    target = safe_name(name or path.name, policy)
    if path.is_symlink() or not path.is_file():
        raise RaftError(f"upload {target!r}: not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise RaftError(f"upload {target!r} is empty")
    if size > policy.max_bytes:
        raise RaftError(
            f"upload {target!r} is {size / 1e6:.1f} MB, the limit is {policy.max_bytes / 1e6:.1f} MB"
        )
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / target
        shutil.copyfile(path, probe)
        corpus = Corpus(probe, strict=True)
        try:
            docs = list(corpus.load_file(probe))
        except RaftError as exc:
            raise RaftError(f"upload {target!r} cannot be read ({exc})") from None
    if not docs or not any(d.text.strip() for d in docs):
        raise RaftError(f"upload {target!r} has no text to index")
    return target


def versioned_name(folder: Path, name: str) -> str:
    """`name`, or `stem.vN.suffix` with the first free N >= 2 when `name` is taken in `folder`."""
    if not (folder / name).exists():
        return name
    stem, suffix = Path(name).stem, Path(name).suffix
    n = 2
    while (folder / f"{stem}.v{n}{suffix}").exists():
        n += 1
    return f"{stem}.v{n}{suffix}"


def corpus_dir(manifest: dict) -> Path:
    """The corpus directory an index was built from (read again when the index is updated)."""
    corpus = Path(str(manifest.get("corpus", "")))
    if not corpus.is_dir():
        raise RaftError(
            f"the index's corpus {corpus} is not a directory on this machine; uploads need it "
            "(build the index from a corpus directory)"
        )
    return corpus


def add_documents(
    retriever: Retriever,
    files: Sequence[Path],
    policy: UploadPolicy = UploadPolicy(),
    names: Sequence[str] | None = None,
) -> tuple[list[str], Any]:
    """Validate every file (all problems reported at once), copy them into the corpus, update the index.

    Returns the doc ids added and a Retriever over the updated index (the embedder is reused).
    `names` are the user's original file names (default: the files' own).
    """
    from raft.index.build import IndexConfig, build_index
    from raft.index.retriever import Retriever

    if not files:
        raise RaftError("no file to add; choose one or more documents")
    if len(files) > policy.max_files:
        raise RaftError(f"{len(files)} files at once; the limit is {policy.max_files}")
    names = list(names) if names else [Path(f).name for f in files]
    checked, problems = [], []
    for path, name in zip(files, names, strict=True):
        try:
            checked.append((Path(path), check_upload(Path(path), policy, name)))
        except RaftError as exc:
            problems.append(str(exc))
    if problems:
        raise RaftError("; ".join(problems))
    manifest = retriever.manifest
    corpus = corpus_dir(manifest)
    dest = Path(retriever.directory) / UPLOAD_SUBDIR
    dest.mkdir(exist_ok=True)
    stored = []
    for path, target in checked:
        target = versioned_name(dest, target)
        part = dest / f".{target}.part"
        shutil.copyfile(path, part)
        part.replace(dest / target)
        stored.append(target)
    chunking = manifest.get("chunking") or {}
    cfg = IndexConfig(
        corpus=corpus,
        out=Path(retriever.directory),
        embedder=manifest["embedder"],
        chunk_size=chunking.get("chunk_size", IndexConfig.chunk_size),
        overlap=chunking.get("overlap", IndexConfig.overlap),
        index_type=manifest.get("index_type", IndexConfig.index_type),
        hybrid=bool(manifest.get("hybrid")),
        update=True,
    )
    try:
        build_index(cfg, embedder=retriever.embedder)
    except BaseException:  # the index is unchanged, so drop what it does not hold
        for target in stored:
            (dest / target).unlink(missing_ok=True)
        raise
    updated = Retriever.load(retriever.directory, embedder=retriever.embedder)
    return [f"{UPLOAD_SUBDIR}/{Path(t).stem}" for t in stored], updated
