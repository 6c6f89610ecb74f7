"""The Gradio chat app behind `raft chat` (UI only; retrieval, prompts, generation and citations live
in `raft.serve.engine`, feedback in `raft.serve.feedback`, uploads in `raft.index.upload`)."""

from __future__ import annotations

import html
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raft.errors import RaftError
from raft.serve.citations import highlight_html
from raft.serve.engine import Answer, ChatEngine, ChatSettings, Retrieval
from raft.serve.feedback import FeedbackRecord, FeedbackStore
from raft.serve.monitoring import Metrics, RequestLog, RequestLogConfig, answer_record

log = logging.getLogger(__name__)

MODEL_LABELS = {"rag": "RAG (base model)", "raft": "RAFT (tuned model)"}
CSS = """
.raft-source {border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 10px; margin-bottom: 8px;}
.raft-source .meta {font-size: 0.85em; opacity: 0.75;}
.raft-source mark {background: #ffe066; color: inherit; padding: 0 2px;}
.raft-source .text {white-space: pre-wrap; font-size: 0.9em; max-height: 14em; overflow-y: auto;}
"""


@dataclass(frozen=True)
class ChatAppConfig:
    host: str = "127.0.0.1"
    port: int = 7860
    share: bool = False
    auth: str | None = None  # "user:password"; falls back to env RAFT_CHAT_AUTH
    feedback: Path = Path("feedback.jsonl")
    concurrency: int = 4
    title: str = "RAFT chat"
    request_log: Path | None = None
    request_log_max_bytes: int = 10 * 1024 * 1024


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """`user:password` (or env RAFT_CHAT_AUTH) as a tuple; RaftError when malformed."""
    value = value or os.environ.get("RAFT_CHAT_AUTH")
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise RaftError("--auth / RAFT_CHAT_AUTH must look like user:password")
    return user, password


def sources_html(retrieval: Retrieval | None, answers: list[Answer]) -> str:
    """The sources panel: title, source, score and text of each chunk, quoted passages in <mark>."""
    if retrieval is None or not retrieval.hits:
        return "<p><em>Sources appear here after a question.</em></p>"
    quotes: dict[int, list[str]] = {}
    for ans in answers:
        for number, found in ans.cited_sources().items():
            quotes.setdefault(number, []).extend(found)
    blocks = [f"<p class='meta'>Retrieval query: <code>{html.escape(retrieval.query)}</code></p>"]
    for number, hit in enumerate(retrieval.hits, start=1):
        cited = " · <strong>cited</strong>" if number in quotes else ""
        heading = f" › {html.escape(hit.heading)}" if getattr(hit, "heading", "") else ""
        blocks.append(
            f"<div class='raft-source' id='source-{number}'><div><strong>[{number}] {html.escape(hit.title)}</strong>"
            f"{heading}</div><div class='meta'>{html.escape(str(hit.source))} · score {hit.score:.3f}{cited}</div>"
            f"<div class='text'>{highlight_html(hit.text, quotes.get(number, []))}</div></div>"
        )
    return "\n".join(blocks)


def _text(content: Any) -> str:
    """Message content as text (the browser sends a list of parts, the API a string)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    if isinstance(content, dict):
        return str(content.get("text", ""))
    return ""


def _record(retrieval: Retrieval, ans: Answer, turn_id: str) -> dict[str, Any]:
    cited = ans.cited_sources()
    return {
        "turn_id": turn_id,
        "question": retrieval.question,
        "query": retrieval.query,
        "answer": ans.raw,
        "final_answer": ans.answer,
        "model": ans.model,
        "chunk_ids": retrieval.chunk_ids,
        "doc_ids": [h.doc_id for h in retrieval.hits],
        "cited_chunk_ids": [retrieval.hits[n - 1].chunk_id for n in sorted(cited)],
    }


def _failed(retrieval: Retrieval, model: str, turn_id: str, error: str) -> dict[str, Any]:
    """The turn record of an answer that failed: keeps turns aligned with the chat's messages."""
    return {"turn_id": turn_id, "question": retrieval.question, "model": model, "error": error}


class ChatHandlers:
    """Event handlers: thin adapters from Gradio values to the engine.

    Each question gets a turn id; the turn lists hold one record per answered (or failed) question,
    in the order of the chat's assistant messages, so a 👍/👎 always lands on the question it rates.
    """

    def __init__(
        self,
        engine: ChatEngine,
        store: FeedbackStore,
        metrics: Metrics | None = None,
        request_log: RequestLog | None = None,
    ) -> None:
        self.engine, self.store = engine, store
        self.metrics, self.request_log = metrics or Metrics(), request_log

    def respond(
        self, message, hist_a, hist_b, turns_a, turns_b, model, compare, k, temperature, max_tokens, hybrid
    ):
        hist_a, hist_b = list(hist_a or []), list(hist_b or [])
        turns_a, turns_b = list(turns_a or []), list(turns_b or [])
        previous = [_text(m["content"]) for m in hist_a if m.get("role") == "user"]
        settings = ChatSettings(
            k=int(k), temperature=float(temperature), max_new_tokens=int(max_tokens), hybrid=bool(hybrid)
        )
        models = ["rag", "raft"] if compare and len(self.engine.models) > 1 else [model]
        try:
            for m in models:
                self.engine.generator(m)
            retrieval = self.engine.retrieve(message, previous, settings)
        except RaftError as exc:
            yield message, hist_a, hist_b, None, turns_a, turns_b, f"⚠️ {exc}"
            return
        hists = [hist_a, hist_b][: len(models)]
        for h in hists:
            h += [{"role": "user", "content": retrieval.question}, {"role": "assistant", "content": "…"}]
        turn_id = uuid.uuid4().hex[:16]
        latest: dict[str, Answer] = {}
        status = (
            f"Retrieved {len(retrieval.hits)} chunks in {retrieval.overhead_s * 1000:.0f} ms; generating…"
        )
        t0 = time.perf_counter()
        updates = self.engine.compare(retrieval, models, settings)
        try:
            for latest in updates:  # noqa: B007
                for h, m in zip(hists, models, strict=False):
                    h[-1] = {"role": "assistant", "content": latest[m].markdown or "…"}
                yield (
                    "",
                    hist_a,
                    hist_b,
                    sources_html(retrieval, list(latest.values())),
                    turns_a,
                    turns_b,
                    status,
                )
        except Exception as exc:
            log.exception("generation failed")
            for h, turns, m in zip(hists, [turns_a, turns_b], models, strict=False):
                h[-1] = {"role": "assistant", "content": f"_(generation failed: {exc})_"}
                turns.append(_failed(retrieval, m, turn_id, str(exc)))
            yield (
                "",
                hist_a,
                hist_b,
                sources_html(retrieval, []),
                turns_a,
                turns_b,
                f"⚠️ generation failed: {exc}",
            )
            return
        finally:
            updates.close()  # a client that left cancels the generation here
        self.metrics.retrieval.observe(retrieval.overhead_s)
        for h, turns, m in zip(hists, [turns_a, turns_b], models, strict=False):
            h[-1] = {"role": "assistant", "content": latest[m].markdown or "_(the model returned no text)_"}
            turns.append(_record(retrieval, latest[m], turn_id))
            self._observe(retrieval, latest[m], time.perf_counter() - t0)
        done = f"Answered with {', '.join(MODEL_LABELS.get(m, m) for m in models)}. Rate each answer with its thumbs."
        yield "", hist_a, hist_b, sources_html(retrieval, list(latest.values())), turns_a, turns_b, done

    def _observe(self, retrieval: Retrieval, ans: Answer, seconds: float) -> None:
        from raft.prompts import is_abstention

        ttft = None if ans.first_token_s is None else ans.first_token_s + retrieval.overhead_s
        self.metrics.observe_answer(ans.model, is_abstention(ans.answer), ans.completion_tokens, seconds, ttft)
        if self.request_log is not None:
            self.request_log.write(answer_record(retrieval, ans, seconds, "chat"))

    def feedback(self, turns, comment, data) -> tuple[str, str]:
        liked = data.liked
        if liked is None or liked == "":
            return comment, "Rating removed from view (stored ratings are kept)."
        index = data.index if isinstance(data.index, int) else data.index[0]
        answer_number = index // 2
        if not turns or answer_number >= len(turns):
            return comment, "⚠️ That answer is still being written; rate it when it is finished."
        turn = turns[answer_number]
        if turn.get("error"):
            return comment, "⚠️ That answer failed, so there is nothing to rate; ask again."
        rating = "up" if liked is True or str(liked).lower() == "like" else "down"
        row = dict(turn, rating=rating, comment=comment or "")
        self.store.add(FeedbackRecord(**row))
        self.metrics.feedback.labels(rating).inc()
        return (
            "",
            f"Thanks: rating ({'helpful' if rating == 'up' else 'not helpful'}) saved to {self.store.path.name}.",
        )

    def upload(self, files) -> str:
        if not files:
            return "⚠️ Choose one or more documents first."
        paths = [Path(f if isinstance(f, str) else f.name) for f in files]
        try:
            added = self.engine.add_documents(paths)
        except RaftError as exc:
            return f"⚠️ {exc}"
        return f"Added {len(added)} document(s) to the index: {', '.join(added)}"


def build_app(
    engine: ChatEngine,
    store: FeedbackStore,
    title: str = ChatAppConfig.title,
    metrics: Metrics | None = None,
    request_log: RequestLog | None = None,
):
    """The Blocks UI."""
    import gradio as gr

    h = ChatHandlers(engine, store, metrics, request_log)
    models = engine.models
    default_model = "raft" if "raft" in models else models[0]
    with gr.Blocks(title=title) as demo:
        gr.Markdown(
            f"## {html.escape(title)}\nAnswers cite the passages they quote; quoted text is highlighted in the sources."
        )
        turns_a, turns_b = gr.State([]), gr.State([])
        with gr.Row():
            with gr.Column(scale=3):
                with gr.Row():
                    chat_a = gr.Chatbot(
                        label=MODEL_LABELS.get(default_model, default_model), height=460, elem_id="chat-a"
                    )
                    chat_b = gr.Chatbot(
                        label=MODEL_LABELS["raft"], height=460, visible=False, elem_id="chat-b"
                    )
                with gr.Row():
                    msg = gr.Textbox(
                        placeholder="Ask a question…", show_label=False, scale=5, elem_id="question"
                    )
                    send = gr.Button("Send", variant="primary", scale=1, elem_id="send")
                comment = gr.Textbox(
                    label="Comment (optional, saved with your rating)", lines=1, elem_id="comment"
                )
                status = gr.Markdown(elem_id="status")
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                sources = gr.HTML(sources_html(None, []), elem_id="sources")
        with gr.Accordion("Settings", open=False):
            with gr.Row():
                model = gr.Radio(models, value=default_model, label="Model", elem_id="model")
                compare = gr.Checkbox(
                    label="Compare RAG-only and RAFT side by side",
                    value=False,
                    interactive=len(models) > 1,
                    elem_id="compare",
                )
                hybrid = gr.Checkbox(
                    label="Hybrid retrieval (dense + BM25)"
                    + ("" if engine.has_bm25 else " — index built without --hybrid"),
                    value=engine.has_bm25,
                    interactive=engine.has_bm25,
                    elem_id="hybrid",
                )
            with gr.Row():
                lim = engine.limits
                k = gr.Slider(1, lim.max_k, value=engine.defaults.k, step=1, label="Documents (k)")
                temperature = gr.Slider(
                    0.0, lim.max_temperature, value=ChatSettings.temperature, step=0.05, label="Temperature"
                )
                max_tokens = gr.Slider(
                    16, lim.max_new_tokens, value=ChatSettings.max_new_tokens, step=16, label="Max new tokens"
                )
        with gr.Accordion("Add documents to the index", open=False):
            files = gr.File(
                file_count="multiple", type="filepath", label="Markdown, text, HTML or PDF", elem_id="upload"
            )
            add = gr.Button("Add to index", elem_id="add-docs")
            upload_status = gr.Markdown(elem_id="upload-status")

        inputs = [msg, chat_a, chat_b, turns_a, turns_b, model, compare, k, temperature, max_tokens, hybrid]
        outputs = [msg, chat_a, chat_b, sources, turns_a, turns_b, status]
        send.click(h.respond, inputs, outputs, api_name="chat")
        msg.submit(h.respond, inputs, outputs, api_name=False)

        def rate(turns, text, data):
            return h.feedback(turns, text, data)

        rate.__annotations__ = {"data": gr.LikeData}  # how Gradio knows to pass the like event
        chat_a.like(rate, [turns_a, comment], [comment, status], api_name=False)
        chat_b.like(rate, [turns_b, comment], [comment, status], api_name=False)
        add.click(h.upload, [files], [upload_status], api_name="upload", concurrency_limit=1)

        def toggle(on: bool, chosen: str):
            label = MODEL_LABELS["rag"] if on else MODEL_LABELS.get(chosen, chosen)
            return gr.update(visible=on, value=[]), gr.update(label=label, value=[]), [], []

        compare.change(toggle, [compare, model], [chat_b, chat_a, turns_a, turns_b], api_name=False)
        model.change(lambda m: gr.update(label=MODEL_LABELS.get(m, m)), [model], [chat_a], api_name=False)
    return demo


def launch(engine: ChatEngine, cfg: ChatAppConfig = ChatAppConfig(), block: bool = True):
    """Start the app on cfg.host:cfg.port (loopback unless told otherwise)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    auth = parse_auth(cfg.auth)
    metrics = Metrics()
    request_log = None
    if cfg.request_log is not None:
        request_log = RequestLog(RequestLogConfig(cfg.request_log, cfg.request_log_max_bytes))
    demo = build_app(engine, FeedbackStore(cfg.feedback), cfg.title, metrics, request_log)
    demo.queue(default_concurrency_limit=cfg.concurrency)
    log.info("chat app on http://%s:%d (feedback -> %s)", cfg.host, cfg.port, cfg.feedback)
    demo.launch(
        server_name=cfg.host,
        server_port=cfg.port,
        share=cfg.share,
        auth=auth,
        show_error=True,
        prevent_thread_lock=True,
        footer_links=["api"],
        css=CSS,
        max_file_size="10mb",
    )
    add_metrics_route(demo.server_app, metrics)
    if block:
        demo.block_thread()
    return demo


def add_metrics_route(app: Any, metrics: Metrics) -> None:
    """`GET /metrics` (Prometheus) on the Gradio server, behind the app's login when it has one."""
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    def prometheus(request) -> Response:
        if app.auth is not None:
            token = request.cookies.get(f"access-token-{app.cookie_id}") or request.cookies.get(
                f"access-token-unsecure-{app.cookie_id}"
            )
            if app.tokens.get(token) is None:
                return JSONResponse({"error": "Not authenticated"}, status_code=401)
        data, content_type = metrics.render()
        return Response(data, media_type=content_type)

    app.router.routes.insert(0, Route("/metrics", prometheus, methods=["GET"]))  # ahead of Gradio's routes
