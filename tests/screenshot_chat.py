"""Take the README screenshot (docs/chat.png) of `raft chat` serving a finished demo run's own models.

    python tests/screenshot_chat.py runs/demo [--question "..."] [--out docs/chat.png]

Compare mode: the base model (plain RAG) answers on the left and the RAFT model on the right, both
real models from the run; the question defaults to the first held-out test question whose answer RAFT gets right in the run's
report (so the picture shows a citation the model produced itself, on a question it never trained on).
Needs Debian chromium at /usr/bin/chromium and playwright.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers import free_port, raft_process  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


def pick_question(run: Path) -> str:
    """The first test question RAFT answered exactly and with a valid quote under retrieval."""
    for line in (run / "report" / "per_question.jsonl").read_text().splitlines():
        row = json.loads(line)
        raft = row["systems"].get("raft", {})
        if row["condition"] == "retrieved" and raft.get("em_strict") == 1.0 and raft.get("quote_validity") == 1.0:
            return row["question"]
    raise SystemExit(f"{run}: no test question that RAFT answered exactly with a valid quote")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a finished `raft demo` output directory")
    ap.add_argument("--question", default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "chat.png")
    args = ap.parse_args()
    run = args.run.resolve()
    question = args.question or pick_question(run)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    config = json.loads((run / "report" / "report.json").read_text())["config"]
    systems = config["systems"]
    base = next(s["model"] for s in systems if s["name"] == "base")  # the untuned base the run compared against
    cmd = ["chat", str(run / "index"), "--model", str(run / "models" / "raft"), "--rag-model",
           base, "-k", str(config["k"]), "--port", str(port), "--device", "cpu",
           "--feedback", str(run / "screenshot-feedback.jsonl")]  # fmt: skip
    from playwright.sync_api import sync_playwright

    with raft_process(cmd, url, run / "screenshot-chat.log"), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(180_000)
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector("#question textarea")
        page.get_by_text("Settings", exact=True).click()
        page.locator("#compare input[type=checkbox]").check()
        page.wait_for_selector("#chat-b", state="visible")
        page.fill("#question textarea", question)
        page.click("#send")
        page.wait_for_function("document.querySelector('#status').innerText.includes('Answered with')")
        page.locator("#sources").scroll_into_view_if_needed()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(args.out), full_page=True)
        left, right = (page.locator(f"#chat-{x}").inner_text()[-400:] for x in "ab")
        print(f"question: {question}\n--- left ---\n{left}\n--- right ---\n{right}\nsaved {args.out}")
        browser.close()


if __name__ == "__main__":
    main()
