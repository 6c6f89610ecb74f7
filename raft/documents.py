"""The one `Document` type: a title and its text, as the model is shown it (raft.prompts); a corpus
document also carries its id and the file it came from (raft.index.corpus yields those; chunk offsets
point into `text`)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Document:
    """A document: `title` and `text`; `doc_id` and `source` are set for documents read from a corpus."""

    title: str
    text: str
    doc_id: str = ""
    source: str = ""

    @property
    def content_hash(self) -> str:
        """Hash of everything that shapes this document's chunks (used by incremental updates)."""
        blob = json.dumps([self.doc_id, self.title, self.source, self.text]).encode()
        return hashlib.sha256(blob).hexdigest()[:24]
