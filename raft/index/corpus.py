"""Corpus loading: stream `Document`s from a directory or a single file.

Supported: Markdown (.md, .markdown), plain text (.txt), HTML (.html, .htm; text extracted with
the stdlib parser, headings kept as Markdown `#` lines), PDF (.pdf, via pypdf) and row files
(.jsonl, .csv: one document per row, with a text column and optional title / id columns) and JSON
(.json): SQuAD (one document per paragraph, id `<title>#<paragraph index>`), PubMedQA `ori_pqal.json`
(one document per abstract section, id `<pmid>-<section index>`), a list of row objects or JSON Lines.
A .json file is parsed whole (the QA datasets read this way are a few MB).

Files that cannot be used (binary, undecodable, broken, empty, unsupported type) are recorded in
`Corpus.skipped` with a reason and skipped; with `strict=True` the first one raises `RaftError`.
Documents stream out one at a time, so a large corpus is never held in memory.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from raft.documents import Document
from raft.errors import RaftError, json_error
from raft.jsonl import decode_utf8, jsonl_rows

log = logging.getLogger(__name__)

TEXT_SUFFIXES = {".md", ".markdown", ".txt"}
HTML_SUFFIXES = {".html", ".htm"}
ROW_SUFFIXES = {".jsonl", ".csv"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | ROW_SUFFIXES | {".pdf", ".json"}

TEXT_COLUMNS = ("text", "content", "body", "context", "passage", "document", "page_content")
TITLE_COLUMNS = ("title", "name", "heading", "subject")
ID_COLUMNS = ("id", "doc_id", "document_id", "_id", "uid")


# The bundled help-desk corpus: corpora/helpdesk next to the raft package, in a checkout and in an
# installed wheel alike (it ships as package data of `corpora`, see pyproject.toml).
SAMPLE_DIR = Path(__file__).resolve().parents[2] / "corpora" / "helpdesk"
SAMPLE_DOCS = SAMPLE_DIR / "docs"
SAMPLE_QUESTIONS = SAMPLE_DIR / "questions.jsonl"


@dataclass(frozen=True)
class Skipped:
    """A file (or row) that was not loaded, and why."""

    path: str
    reason: str


class SkipFile(Exception):
    """Raised by a loader for a file that cannot be used; the message is the reason."""


class Corpus:
    """A directory (searched recursively) or a single file, iterated as `Document`s in path order."""

    def __init__(self, path: Path, strict: bool = False) -> None:
        self.root = Path(path)
        self.strict = strict
        self.skipped: list[Skipped] = []
        if not self.root.exists():
            raise RaftError(f"corpus {self.root} does not exist; pass a directory or a file of documents")

    def files(self) -> list[Path]:
        """All candidate files in a stable order (hidden files and folders are ignored)."""
        if self.root.is_file():
            return [self.root]
        found = []
        for p in self.root.rglob("*"):
            rel = p.relative_to(self.root)
            if p.is_file() and not any(part.startswith(".") for part in rel.parts):
                found.append(p)
        return sorted(found, key=lambda p: p.relative_to(self.root).as_posix())

    def __iter__(self) -> Iterator[Document]:
        return self.documents()

    def documents(self, progress: Callable[[], object] | None = None) -> Iterator[Document]:
        """Stream the documents; `progress()` is called after each file. Resets `skipped`."""
        self.skipped = []
        seen: dict[str, str] = {}
        for path in self.files():
            if progress is not None:
                progress()
            for doc in self.load_file(path):
                if self.first_seen(doc, seen):
                    yield doc

    def first_seen(self, doc: Document, seen: dict[str, str]) -> bool:
        """True for a new document id (noted in `seen`); a repeated id is recorded as skipped."""
        if doc.doc_id in seen:
            self._skip(doc.source, f"duplicate document id {doc.doc_id!r} (also in {seen[doc.doc_id]})")
            return False
        seen[doc.doc_id] = doc.source
        return True

    def load_file(self, path: Path) -> Iterator[Document]:
        """The documents of one file; problems are recorded (or raised when strict)."""
        rel = self._relpath(path)
        suffix = path.suffix.lower()
        if suffix not in SUPPORTED_SUFFIXES:
            self._skip(rel, f"unsupported file type {suffix or '(no suffix)'}", fatal=False)
            return
        base_id = rel[: -len(path.suffix)] if path.suffix else rel
        try:
            if suffix in ROW_SUFFIXES:
                rows = jsonl_rows(path) if suffix == ".jsonl" else read_csv_rows(path)
                yield from self._rows(rows, path, rel, base_id)
                return
            if suffix == ".json":
                yield from self._json(path, rel, base_id)
                return
            if suffix == ".pdf":
                title, text = read_pdf(path)
            else:
                raw = decode_text(path.read_bytes())
                title, text = read_html(raw) if suffix in HTML_SUFFIXES else read_markdown(raw)
        except SkipFile as exc:
            self._skip(rel, str(exc))
            return
        except OSError as exc:
            self._skip(rel, f"unreadable ({exc.strerror or exc})")
            return
        if not text.strip():
            self._skip(rel, "no text")
            return
        yield Document(doc_id=base_id, title=title or title_from_name(path), text=text, source=rel)

    def _rows(
        self, rows: Iterable[tuple[int, dict | str]], path: Path, rel: str, base_id: str
    ) -> Iterator[Document]:
        columns: tuple[str | None, str | None, str | None] | None = None
        for line, row in rows:
            if isinstance(row, str):
                self._skip(f"{rel}:{line}", row)
                continue
            if columns is None:
                columns = pick_columns(row)
                if columns[0] is None:
                    found = ", ".join(map(str, row))
                    self._skip(rel, f"no text column (looked for {', '.join(TEXT_COLUMNS)}; found {found})")
                    return
            text_col, title_col, id_col = columns
            text = str(row.get(text_col) or "")
            if not text.strip():
                self._skip(f"{rel}:{line}", f"empty {text_col!r}")
                continue
            row_id = str(row.get(id_col) or "").strip() if id_col else ""
            title = str(row.get(title_col) or "").strip() if title_col else ""
            yield Document(
                doc_id=row_id or f"{base_id}#{line}",
                title=title or f"{title_from_name(path)} #{line}",
                text=text,
                source=rel,
            )

    def _json(self, path: Path, rel: str, base_id: str) -> Iterator[Document]:
        """A JSON file: SQuAD, PubMedQA `ori_pqal.json`, a list of row objects or JSON Lines.

        A layout it does not know is skipped even with `strict` (like an unsupported file type).
        """
        try:
            data = json.loads(decode_text(path.read_bytes()))
        except json.JSONDecodeError as exc:
            if exc.msg != "Extra data":
                raise SkipFile(f"invalid JSON at line {exc.lineno} ({json_error(exc)})") from None
            yield from self._rows(jsonl_rows(path), path, rel, base_id)  # JSON Lines named .json
            return
        if is_squad(data):
            yield from self._squad(data["data"], rel)
        elif is_pubmedqa(data):
            yield from self._pubmedqa(data, rel)
        elif isinstance(data, list):
            rows = (
                (n, row if isinstance(row, dict) else "not a JSON object") for n, row in enumerate(data, 1)
            )
            yield from self._rows(rows, path, rel, base_id)
        else:
            self._skip(
                rel,
                'unrecognised JSON layout (expected SQuAD {"data": [...]}, PubMedQA '
                '{pmid: {"CONTEXTS": [...]}} or a list of objects); convert it to JSONL rows',
                fatal=False,
            )

    def _squad(self, articles: list, rel: str) -> Iterator[Document]:
        """SQuAD v1/v2: one document per paragraph, id `<title>#<paragraph index>`."""
        for a, article in enumerate(articles):
            if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
                self._skip(f"{rel}:data[{a}]", "no 'paragraphs' list")
                continue
            title, paragraphs = str(article.get("title") or f"article {a}"), article["paragraphs"]
            for i, para in enumerate(paragraphs):
                text = para.get("context") if isinstance(para, dict) else None
                if not isinstance(text, str) or not text.strip():
                    self._skip(f"{rel}:{title}#{i}", "no 'context' text")
                    continue
                yield Document(doc_id=f"{title}#{i}", title=title.replace("_", " "), text=text, source=rel)

    def _pubmedqa(self, records: dict, rel: str) -> Iterator[Document]:
        """PubMedQA: one document per abstract section, id `<pmid>-<i>`, titled `PubMed <pmid>`.

        The record's QUESTION is not used as the title: it would put the evaluation question itself
        into every oracle chunk (and into the prompt's document titles), so retrieval and training
        would learn to match the question rather than read the abstract.
        """
        for pmid, rec in records.items():
            contexts = rec.get("CONTEXTS")
            if not isinstance(contexts, list) or not contexts:
                self._skip(f"{rel}:{pmid}", "no 'CONTEXTS' list")
                continue
            for i, text in enumerate(contexts):
                if not isinstance(text, str) or not text.strip():
                    self._skip(f"{rel}:{pmid}-{i}", "empty section")
                    continue
                yield Document(doc_id=f"{pmid}-{i}", title=f"PubMed {pmid}", text=text, source=rel)

    def _relpath(self, path: Path) -> str:
        if self.root.is_file():
            return path.name
        return path.relative_to(self.root).as_posix()

    def _skip(self, path: str, reason: str, fatal: bool = True) -> None:
        if self.strict and fatal:
            raise RaftError(f"cannot load {path}: {reason}; fix or remove it, or drop --strict to skip it")
        log.debug("skipped %s: %s", path, reason)
        self.skipped.append(Skipped(path, reason))


def decode_text(data: bytes) -> str:
    """UTF-8 text (BOM tolerated); binary or undecodable bytes raise SkipFile."""
    try:
        return decode_utf8(data)
    except ValueError as exc:
        raise SkipFile(str(exc)) from None


def title_from_name(path: Path) -> str:
    """A readable title from a file name: `reset-the-hub_v2.md` -> `Reset the hub v2`."""
    words = re.sub(r"[_\-]+", " ", path.stem).strip()
    return words[:1].upper() + words[1:] if words else path.name


def read_markdown(text: str) -> tuple[str, str]:
    """(title, text): the title is the first `# ` heading, or a YAML front-matter `title:`."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    front = re.match(r"---\n(.*?)\n---\n", text, re.S)
    if front:
        found = re.search(r"^title:\s*(.+)$", front.group(1), re.M)
        if found:
            return found.group(1).strip().strip("\"'"), text
    heading = re.search(r"^#\s+(.+?)\s*#*\s*$", text, re.M)
    return (heading.group(1).strip() if heading else ""), text


class _HTMLText(HTMLParser):
    """Collect visible text; headings become Markdown `#` lines, block tags break paragraphs."""

    SKIP = {"script", "style", "noscript", "template", "head", "svg"}
    BLOCK = {"p", "div", "section", "article", "table", "ul", "ol", "pre", "blockquote", "dl"}
    LINE = {"li", "tr", "br", "dt", "dd"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._skip_depth = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self.SKIP:
            self._skip_depth += 1
        if tag == "title":
            self._in_title = True
        elif re.fullmatch(r"h[1-6]", tag):
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in self.BLOCK:
            self.parts.append("\n\n")
        elif tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self._skip_depth:
            self._skip_depth -= 1
        if tag == "title":
            self._in_title = False
        elif re.fullmatch(r"h[1-6]", tag) or tag in self.BLOCK or tag in self.LINE:
            self.parts.append("\n" if tag in self.LINE else "\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self._skip_depth:
            self.parts.append(re.sub(r"\s+", " ", data))


def read_html(html: str) -> tuple[str, str]:
    """(title, text) of an HTML page: <title> (else the first heading) and its visible text."""
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t]*\n[ \t]*", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    title = re.sub(r"\s+", " ", parser.title).strip()
    if not title:
        heading = re.search(r"^#+\s+(.+)$", text, re.M)
        title = heading.group(1).strip() if heading else ""
    return title, text


def read_pdf(path: Path) -> tuple[str, str]:
    """(title, text) of a PDF: pages joined by blank lines; the title from its metadata."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            raise SkipFile("encrypted PDF")
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
        meta = reader.metadata
        title = str(meta.title).strip() if meta and meta.title else ""
    except SkipFile:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError) as exc:
        raise SkipFile(f"broken PDF ({type(exc).__name__}: {exc})") from None
    text = "\n\n".join(p for p in pages if p)
    if not text:
        raise SkipFile("PDF has no extractable text (scanned image?)")
    return title, text


def is_squad(data: object) -> bool:
    """SQuAD layout: `{"data": [{"title", "paragraphs": [{"context", "qas"}]}]}`."""
    return isinstance(data, dict) and isinstance(data.get("data"), list)


def is_pubmedqa(data: object) -> bool:
    """PubMedQA `ori_pqal.json` layout: `{pmid: {"QUESTION", "CONTEXTS": [...], "LABELS"}}`."""
    return (
        isinstance(data, dict)
        and bool(data)
        and all(isinstance(rec, dict) and "CONTEXTS" in rec for rec in data.values())
    )


def read_csv_rows(path: Path) -> Iterator[tuple[int, dict | str]]:
    """(line number, row dict) per CSV record (the header is line 1)."""
    text = decode_text(path.read_bytes())
    csv.field_size_limit(2**31 - 1)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            yield reader.line_num, {k.strip(): v for k, v in row.items() if k is not None}
    except csv.Error as exc:
        raise SkipFile(f"broken CSV near line {reader.line_num} ({exc})") from None


def pick_columns(row: dict) -> tuple[str | None, str | None, str | None]:
    """(text, title, id) column names of a row, matched case-insensitively against known aliases."""
    lower = {str(k).lower(): k for k in row}

    def first(names: tuple[str, ...]) -> str | None:
        return next((lower[n] for n in names if n in lower), None)

    return first(TEXT_COLUMNS), first(TITLE_COLUMNS), first(ID_COLUMNS)
