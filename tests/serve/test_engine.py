"""Chat engine logic with a fake retriever and a fake generator (citations, markers, follow-ups, threads)."""

import threading

import pytest

from raft.errors import RaftError
from raft.prompts import ANSWER_TAG, BEGIN_QUOTE, END_QUOTE, SYSTEM_PROMPT
from raft.serve.citations import CitationRenderer, highlight_html, render_answer
from raft.serve.engine import ChatEngine, ChatSettings, EngineLimits, condense_query, is_follow_up
from tests.fakes import ENGINE_DOCS, FakeGenerator, OverlapRetriever


def quoting(messages):
    return (
        f"The doc says {BEGIN_QUOTE}open Settings and choose Reset network.{END_QUOTE} and also "
        f"{BEGIN_QUOTE}made-up words{END_QUOTE}. {ANSWER_TAG} Open Settings, Reset network."
    )


@pytest.fixture
def engine():
    return ChatEngine(OverlapRetriever(), {"rag": FakeGenerator(quoting), "raft": FakeGenerator(quoting)})


def test_quotes_become_citations_of_the_chunk_that_contains_them(engine):
    retrieval = engine.retrieve("How do I reset the VPN client?")
    answer = engine.answer(retrieval, "raft")
    assert retrieval.hits[0].doc_id == "vpn/reset"
    assert [(c.quote, c.source) for c in answer.citations] == [
        ("open Settings and choose Reset network.", 1),
        ("made-up words", None),
    ]
    assert "“open Settings and choose Reset network.” [1]" in answer.markdown
    assert "“made-up words” [not in sources]" in answer.markdown
    assert answer.markdown.endswith("**Answer:** Open Settings, Reset network.")
    assert answer.answer == "Open Settings, Reset network."
    assert answer.cited_sources() == {1: ["open Settings and choose Reset network."]}


def test_raw_markers_never_appear_in_any_streamed_update(engine):
    retrieval = engine.retrieve("How do I reset the VPN client?")
    updates = list(engine.stream(retrieval, "rag"))
    assert len(updates) > 5 and updates[-1].done
    previous = ""
    for u in updates:
        for marker in (BEGIN_QUOTE, END_QUOTE, ANSWER_TAG, "##begin", "<ANSWER"):
            assert marker not in u.markdown
        assert u.markdown.startswith(previous.rstrip())
        previous = u.markdown


@pytest.mark.parametrize(
    "raw",
    [
        f"{BEGIN_QUOTE}Each mailbox holds 50 GB.",  # unterminated quote
        f"{END_QUOTE} stray end, {ANSWER_TAG} 50 GB {ANSWER_TAG} again",  # stray end marker, repeated tag
        "partial marker at the end ##begin_qu",
        f"{BEGIN_QUOTE}{BEGIN_QUOTE}Each mailbox holds{END_QUOTE}<|im_end|>",
    ],
)
def test_malformed_output_is_rendered_without_markers(raw):
    markdown, _ = render_answer(raw, [ENGINE_DOCS[1][2]])
    for marker in (BEGIN_QUOTE, END_QUOTE, ANSWER_TAG, "<|im_end|>", "##"):
        assert marker not in markdown


def test_renderer_feed_by_single_characters_matches_whole_render():
    raw = quoting([])
    renderer = CitationRenderer([ENGINE_DOCS[0][2]])
    pieces = [renderer.feed(ch) for ch in raw] + [renderer.finish()]
    whole, citations = render_answer(raw, [ENGINE_DOCS[0][2]])
    assert "".join(pieces).strip() == whole
    assert renderer.citations == citations


def test_quote_matching_is_case_sensitive_tolerates_line_breaks_and_highlight_escapes_html():
    """The one quote rule (raft/quotes.py): a citation the app shows is one `raft eval` counts as valid."""
    text = "Line one <b>bold</b>.\nIt takes a Minute to finish."
    markdown, citations = render_answer(f"{BEGIN_QUOTE}It takes a\nMinute{END_QUOTE}", ["other", text])
    assert citations[0].source == 2
    _, wrong_case = render_answer(f"{BEGIN_QUOTE}it takes a minute{END_QUOTE}", ["other", text])
    assert wrong_case[0].source is None
    html = highlight_html(text, ["<b>bold</b>. It takes"])
    assert "<mark>&lt;b&gt;bold&lt;/b&gt;.\nIt takes</mark>" in html
    assert "<b>" not in html


def test_follow_up_is_condensed_with_the_previous_question_terms():
    first = "How do I reset the VPN client?"
    assert condense_query(first) == first
    assert is_follow_up("How long does it take?")
    query = condense_query("How long does it take?", [first])
    assert query.startswith("reset VPN client") and query.endswith("How long does it take?")
    standalone = "What is the mailbox quota for archived mail folders?"
    assert not is_follow_up(standalone)
    assert condense_query(standalone, [first]) == standalone
    chained = condense_query("and its archive?", [standalone, "How big is it?"])
    assert "mailbox" in chained and chained.endswith("and its archive?")


def test_retrieval_uses_the_condensed_query_but_the_model_sees_only_the_question(engine):
    retrieval = engine.retrieve("How long does it take?", ["How do I reset the VPN client?"])
    assert engine.retriever.queries[-1] == retrieval.query != retrieval.question
    assert retrieval.hits[0].doc_id == "vpn/reset"
    engine.answer(retrieval, "raft")
    messages = engine.generators["raft"].seen[-1]
    assert messages[0]["content"] == SYSTEM_PROMPT
    assert messages[1]["content"].endswith("Question: How long does it take?")
    assert "reset the VPN client?" not in messages[1]["content"]
    assert retrieval.overhead_s >= 0


def test_bad_input_is_refused_with_a_clear_message(engine):
    with pytest.raises(RaftError, match="empty"):
        engine.retrieve("   ")
    with pytest.raises(RaftError, match="100,000 characters"):
        engine.retrieve("x" * 100_000)
    with pytest.raises(RaftError, match="k must be between"):
        engine.retrieve("ok question here", settings=ChatSettings(k=0))
    with pytest.raises(RaftError, match="unknown model 'gpt'"):
        engine.generator("gpt")
    small = ChatEngine(OverlapRetriever(), {}, EngineLimits(max_question_chars=10))
    with pytest.raises(RaftError, match="limit is 10"):
        small.retrieve("a question longer than ten")


def test_compare_streams_both_models_over_the_same_chunks():
    gens = {"rag": FakeGenerator(lambda m: f"{ANSWER_TAG} base"), "raft": FakeGenerator(quoting)}
    engine = ChatEngine(OverlapRetriever(), gens)
    retrieval = engine.retrieve("How do I reset the VPN client?")
    final = list(engine.compare(retrieval, ["rag", "raft"]))[-1]
    assert final["rag"].done and final["raft"].done
    assert final["rag"].markdown == "**Answer:** base"
    assert gens["rag"].seen[-1] == gens["raft"].seen[-1] == retrieval.messages


def test_engine_is_safe_across_threads():
    def echo(messages):
        question = messages[1]["content"].rsplit("Question: ", 1)[1]
        return f"{BEGIN_QUOTE}Archive old mail{END_QUOTE} {ANSWER_TAG} {question}"

    engine = ChatEngine(OverlapRetriever(), {"raft": FakeGenerator(echo)})
    results, errors = {}, []

    def ask(i):
        try:
            question = f"question number {i} about the mailbox quota"
            retrieval = engine.retrieve(question)
            results[i] = (retrieval, engine.answer(retrieval, "raft"))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors and len(results) == 16
    for i, (retrieval, answer) in results.items():
        assert answer.answer == f"question number {i} about the mailbox quota"
        assert retrieval.hits[answer.citations[0].source - 1].doc_id == "mail/quota"
