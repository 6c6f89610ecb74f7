"""Build the bundled Korvane help-center corpus and its gold question set.

Run ``python corpora/build_helpdesk.py [OUT_DIR]`` to rewrite ``corpora/helpdesk/docs/`` and
``corpora/helpdesk/questions.jsonl``. The output depends only on this script and its data modules
(seeded ``random.Random(0)``), so every run produces byte-identical files.

Articles are written in a small markup: ``[[answer]]`` marks the gold answer inside a sentence and
``<<question | question>>`` right after that sentence lists the questions the sentence answers.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import helpdesk_catalog as cat  # noqa: E402
import helpdesk_templates as tpl  # noqa: E402
from helpdesk_articles import ARTICLES  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "helpdesk"
TEST_FRACTION = 0.2
SEED = 0

_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=>>))\s+(?=[A-Z0-9\[])")
_ANSWER = re.compile(r"\[\[(.+?)\]\]")
_QUESTIONS = re.compile(r"<<(.+?)>>")


def render_paragraph(raw: str) -> tuple[str, list[dict]]:
    """Clean text of one markup paragraph and the facts of its marked sentences."""
    stash = _QUESTIONS.findall(raw)
    masked = _QUESTIONS.sub("<<>>", raw.strip())
    sentences, facts = [], []
    for part in _SENTENCE_END.split(masked):
        clean = _ANSWER.sub(r"\1", part.replace("<<>>", "")).strip()
        answer, n_questions = _ANSWER.search(part), part.count("<<>>")
        if answer is None and n_questions == 0:
            sentences.append(clean)
            continue
        if answer is None or n_questions != 1:
            raise ValueError(f"unpaired markup in sentence: {part!r}")
        questions = [q.strip() for q in stash.pop(0).split("|")]
        facts.append({"answer": answer.group(1), "passage": clean, "questions": questions})
        sentences.append(clean)
    return " ".join(sentences), facts


def render(markup: str) -> tuple[str, list[dict]]:
    """Turn article markup into clean Markdown plus its facts (answer, passage, questions)."""
    blocks, facts = [], []
    for raw in markup.strip().split("\n"):
        if raw.startswith("#"):
            blocks.append(raw.strip())
        elif raw.strip():
            text, paragraph_facts = render_paragraph(raw)
            blocks.append(text)
            facts += paragraph_facts
    return "\n\n".join(blocks) + "\n", facts


def articles(rng: random.Random) -> dict[str, str]:
    """All articles as ``doc_id -> markup``, generated in a fixed order."""
    docs: dict[str, str] = {}
    for family in cat.FAMILIES:
        for tier, model in enumerate(family["models"]):
            names = tpl.model_names(family, model, tier)
            slug = tpl.slug(names["s"])
            values = tpl.model_values(family, tier, rng)
            docs[f"products/{slug}"] = tpl.spec_article(family, names, values, rng)
            docs[f"how-to/{slug}-setup"] = tpl.setup_article(family, names, rng)
            docs[f"how-to/{slug}-maintenance"] = tpl.maintenance_article(family, names, tier, rng)
        for error in cat.ERROR_CODES[family["slug"]]:
            docs[f"troubleshooting/{family['slug']}-{error[0].lower()}"] = tpl.error_article(
                family, error, rng
            )
        docs[f"troubleshooting/{family['slug']}-connection"] = tpl.connection_article(family, rng)
    docs.update(ARTICLES)
    return docs


def assign_splits(doc_ids: list[str], rng: random.Random) -> dict[str, str]:
    """Hold out about TEST_FRACTION of the documents of every folder as the test split."""
    splits = {}
    for folder in sorted({d.split("/")[0] for d in doc_ids}):
        members = sorted(d for d in doc_ids if d.split("/")[0] == folder)
        rng.shuffle(members)
        n_test = round(len(members) * TEST_FRACTION)
        splits.update({doc_id: "test" if i < n_test else "train" for i, doc_id in enumerate(members)})
    return splits


def build(out_dir: Path = DEFAULT_OUT) -> dict[str, int]:
    """Write ``out_dir/docs/**.md`` and ``out_dir/questions.jsonl``; return the counts."""
    rng = random.Random(SEED)
    rendered = {doc_id: render(markup) for doc_id, markup in articles(rng).items()}
    splits = assign_splits(list(rendered), rng)
    docs_dir = Path(out_dir) / "docs"
    if docs_dir.exists():
        shutil.rmtree(docs_dir)
    rows = []
    for doc_id in sorted(rendered):
        text, facts = rendered[doc_id]
        path = docs_dir / f"{doc_id}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
        for fact in facts:
            for question in fact["questions"]:
                row = {"id": f"q{len(rows) + 1:05d}", "question": question, "answer": fact["answer"]}
                rows.append(row | {"doc_id": doc_id, "passage": fact["passage"], "split": splits[doc_id]})
    lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    (Path(out_dir) / "questions.jsonl").write_text(lines, encoding="utf-8", newline="\n")
    counts = {"docs": len(rendered), "words": sum(len(t.split()) for t, _ in rendered.values())}
    counts |= {"questions": len(rows)} | {s: sum(r["split"] == s for r in rows) for s in ("train", "test")}
    return counts


if __name__ == "__main__":
    print(json.dumps(build(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT)))
