"""The chat app in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright).

The `rag` pane is the real tiny model; the `raft` pane is the scripted OpenAI-compatible endpoint of
tests/servers.py (deterministic text, so the UI assertions on citations and highlights can be exact).
The README screenshot is not taken here: tests/screenshot_chat.py takes it from a finished demo run's
own trained models.
"""

import json
from pathlib import Path

import pytest

from tests.servers import chat_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
QUESTION = "How do I reset my password?"
# Records every length the first model's last answer takes, to prove it streamed in the browser.
WATCH_STREAM = """() => { window.__lens = []; new MutationObserver(() => {
  const bots = document.querySelectorAll('#chat-a .message.bot, #chat-a [data-testid="bot"]');
  if (bots.length) window.__lens.push(bots[bots.length - 1].innerText.length);
}).observe(document.body, {subtree: true, childList: true, characterData: true}); }"""


@pytest.fixture(scope="module")
def app(tiny_model_dir, tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip("needs Debian chromium at /usr/bin/chromium (apt-get install -y chromium)")
    pytest.importorskip("playwright")
    tmp = tmp_path_factory.mktemp("chat-browser")
    with chat_app(tmp, tiny_model_dir, delay=0.05) as url:
        yield url, tmp / "feedback.jsonl"


@pytest.fixture
def page(app):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
            ],
        )
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.set_default_timeout(120_000)
        pg.goto(app[0], wait_until="domcontentloaded")
        pg.wait_for_selector("#question textarea")
        yield pg
        browser.close()


def ask(page, question, done="Answered with"):
    page.fill("#question textarea", question)
    page.click("#send")
    page.wait_for_function(f"document.querySelector('#status').innerText.includes({done!r})")


def test_ask_compare_rate_in_the_browser(app, page):
    page.evaluate(WATCH_STREAM)
    ask(page, QUESTION)
    answer = page.locator("#chat-a").inner_text()
    assert "[1]" in answer and "Answer:" in answer and "##begin_quote##" not in answer
    assert len(set(page.evaluate("window.__lens"))) >= 3, "the answer should appear in several streamed steps"
    marked = page.locator("#sources mark")
    assert marked.count() >= 1 and marked.first.inner_text().strip() in answer

    page.get_by_text("Settings", exact=True).click()
    page.locator("#compare input[type=checkbox]").check()
    page.wait_for_selector("#chat-b", state="visible")
    ask(page, QUESTION, done="Answered with RAG (base model), RAFT (tuned model)")
    assert "[1]" in page.locator("#chat-b").inner_text()
    assert page.locator("#chat-a").inner_text().count(QUESTION) == 1
    page.locator("#sources").scroll_into_view_if_needed()
    page.screenshot(path=str(app[1].parent / "compare.png"), full_page=True)
    assert (app[1].parent / "compare.png").stat().st_size > 10_000

    page.fill("#comment textarea", "quotes the right passage")
    like = page.locator("#chat-b button[aria-label='Like'], #chat-b button[title='Like']").last
    like.click()
    page.wait_for_function("document.querySelector('#status').innerText.includes('saved')")
    rows = [json.loads(line) for line in app[1].read_text().splitlines()]
    assert rows[-1]["rating"] == "up" and rows[-1]["comment"] == "quotes the right passage"
    assert (
        rows[-1]["model"] == "raft" and rows[-1]["question"] == QUESTION and len(rows[-1]["chunk_ids"]) == 4
    )
