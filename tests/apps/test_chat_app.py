"""`raft chat` driven through its API with gradio_client: streaming, compare, bad input, uploads."""

import pytest

from tests.servers import chat_app

pytestmark = pytest.mark.slow

QUESTION = "How do I reset my password?"


@pytest.fixture(scope="module")
def app(tiny_model_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("chat-app")
    with chat_app(tmp, tiny_model_dir) as url:
        yield url, tmp


def text(message):
    content = message["content"]
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content)


def ask(client, message, compare=False, model="raft", k=3):
    job = client.submit(
        message=message,
        hist_a=[],
        hist_b=[],
        model=model,
        compare=compare,
        k=k,
        temperature=0,
        max_tokens=32,
        hybrid=True,
        api_name="/chat",
    )
    final = job.result(timeout=300)
    return final, job.outputs()


def test_streamed_answer_with_citations_and_highlighted_sources(app):
    from gradio_client import Client

    client = Client(app[0], verbose=False)
    final, updates = ask(client, QUESTION)
    _, hist_a, _, sources, status = final
    answer = text(hist_a[-1])
    assert len(updates) > 3, "the answer should stream in several updates"
    assert text(hist_a[-2]) == QUESTION
    assert "” [1]" in answer and "**Answer:**" in answer and "##begin_quote##" not in answer
    assert "<mark>" in sources and "cited" in sources
    assert status.startswith("Answered")


def test_compare_mode_answers_with_both_models_over_the_same_sources(app):
    from gradio_client import Client

    client = Client(app[0], verbose=False)
    final, _ = ask(client, QUESTION, compare=True)
    _, hist_a, hist_b, sources, status = final
    assert text(hist_a[-2]) == text(hist_b[-2]) == QUESTION
    assert "” [1]" in text(hist_b[-1])  # the tuned (remote) model quotes
    assert "RAG (base model)" in status and "RAFT (tuned model)" in status
    # The left pane is the base model's own answer: greedy, it is what the base alone answers over these sources.
    alone, _ = ask(client, QUESTION, model="rag")
    assert text(hist_a[-1]) == text(alone[1][-1]) and "##begin_quote##" not in text(hist_a[-1])
    assert text(hist_a[-1]) != text(hist_b[-1])


@pytest.mark.parametrize("message, expected", [("   ", "empty"), ("x" * 100_000, "100,000 characters")])
def test_bad_messages_get_a_clear_message(app, message, expected):
    from gradio_client import Client

    client = Client(app[0], verbose=False)
    final, _ = ask(client, message)
    assert expected in final[-1] and final[-1].startswith("⚠️")
    assert ask(client, QUESTION)[0][-1].startswith("Answered")  # still serving


def test_uploads_malformed_refused_good_added_and_found(app):
    from gradio_client import Client, handle_file

    url, tmp = app
    client = Client(url, verbose=False)
    bad = tmp / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 not really")
    assert "broken.pdf" in client.predict(files=[handle_file(str(bad))], api_name="/upload")
    script = tmp / "evil.sh"
    script.write_text("rm -rf /")
    assert "not accepted" in client.predict(files=[handle_file(str(script))], api_name="/upload")
    good = tmp / "zebras.md"
    good.write_text("# Zebra crossing policy\n\nStaff must walk zebras across the car park at 9 am sharp.\n")
    assert "uploads/zebras" in client.predict(files=[handle_file(str(good))], api_name="/upload")
    final, _ = ask(client, "Who must walk zebras across the car park?", k=1)
    assert "zebras across the car park" in text(final[1][-1])


def test_metrics_endpoint_counts_the_answers(app):
    import urllib.request

    from gradio_client import Client

    assert ask(Client(app[0], verbose=False), QUESTION)[0][-1].startswith("Answered")
    with urllib.request.urlopen(app[0] + "metrics", timeout=30) as resp:
        text = resp.read().decode()
    assert 'raft_answers_total{abstained="false",model="raft"}' in text
    assert 'raft_time_to_first_token_seconds_count{model="raft"}' in text and "raft_retrieval_seconds_count" in text


def test_auth_comes_from_the_flag_or_the_environment(monkeypatch):
    from apps.chat_app import ChatAppConfig, parse_auth
    from raft.errors import RaftError

    monkeypatch.delenv("RAFT_CHAT_AUTH", raising=False)
    assert parse_auth(None) is None
    assert parse_auth("alice:s3:cret") == ("alice", "s3:cret")
    monkeypatch.setenv("RAFT_CHAT_AUTH", "bob:pw")
    assert parse_auth(None) == ("bob", "pw")
    with pytest.raises(RaftError, match="user:password"):
        parse_auth("nopassword")
    assert ChatAppConfig().host == "127.0.0.1" and not ChatAppConfig().share
