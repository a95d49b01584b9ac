"""The chat in a browser (Gradio): a chat column, a sources panel, uploads, feedback and the /ask API.

Every piece of document text goes through html.escape before it reaches the page, and chat
messages are rendered with Markdown off: documents are shown as text, never as HTML, Markdown
or script.
"""
import html
import ipaddress
import re
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

from . import documents, feedback
from .config import Settings
from .errors import BotError, UploadError

EXAMPLES = [
    "Who owns forecasting?",
    "What does a sales operations manager do in a startup?",
    "Wer entwickelt Verkaufsstrategien?",
    "Welche Fähigkeiten braucht ein Vertriebsleiter?",
]
STILL_INDEXING = ("Still indexing the documents. This takes a few seconds the first time; "
                  "please ask again in a moment.")
API_WAIT_SECONDS = 300
STREAM_WORDS = 3  # words per streamed update
STREAM_PAUSE = 0.012  # seconds between updates: fast, but visibly typed

CSS = """
#app-status { font-size: 0.9rem; opacity: 0.85; }
#app-status .err { color: #b91c1c; }
.src-empty { opacity: 0.7; padding: 0.5rem 0; }
.src-head { font-weight: 600; margin: 0 0 0.5rem; overflow-wrap: anywhere; }
.src-note { font-size: 0.9rem; margin: 0 0 0.6rem; padding: 0.5rem 0.7rem; border-radius: 6px;
            background: #fef3c7; color: #713f12; }
.src-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 0.6rem 0.75rem;
            margin: 0 0 0.6rem; background: var(--background-fill-primary); }
.src-top { display: flex; gap: 0.5rem; align-items: baseline; flex-wrap: wrap; }
.src-n { font-weight: 700; color: var(--color-accent); }
.src-file { font-family: ui-monospace, monospace; font-size: 0.85rem; overflow-wrap: anywhere; }
.src-meta { font-size: 0.8rem; opacity: 0.8; margin: 0.2rem 0 0.4rem; overflow-wrap: anywhere; }
.src-text { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 0.92rem; line-height: 1.45;
            margin: 0; max-height: 18rem; overflow-y: auto; }
.src-text mark { background: #fde68a; color: #111827; border-radius: 3px; padding: 0 1px; }
#sources-panel { max-width: 100%; }
#examples button { white-space: normal; text-align: left; }
@media (max-width: 640px) {  /* phones: keep the sources panel within a short scroll of the answer */
  #chat { height: 360px !important; }
  .src-text { max-height: none; }
}
"""


# --- rendering: pure functions from the Answer JSON to escaped HTML ---------------------------------

def _where(p: dict) -> str:
    lines = f"line {p['start_line']}" if p["start_line"] == p["end_line"] else \
        f"lines {p['start_line']}–{p['end_line']}"
    section = f"{p['section']} · " if p.get("section") else ""
    return f"{section}{lines} · score {p['score']:.2f}"


def highlighted(text: str, spans) -> str:
    """The excerpt, escaped, with the cited [start, end) spans wrapped in <mark>."""
    out, pos = [], 0
    for start, end in sorted((max(0, int(s)), min(len(text), int(e))) for s, e in spans):
        if start < pos or start >= end:
            continue
        out.append(html.escape(text[pos:start]))
        out.append(f"<mark>{html.escape(text[start:end])}</mark>")
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _card(label: str, p: dict, spans=()) -> str:
    return (f'<article class="src-card"><div class="src-top"><span class="src-n">{html.escape(label)}</span>'
            f'<span class="src-file">{html.escape(p["source"])}</span></div>'
            f'<div class="src-meta">{html.escape(_where(p))}</div>'
            f'<blockquote class="src-text">{highlighted(p["text"], spans)}</blockquote></article>')


def sources_html(answer: dict | None) -> str:
    """The sources panel for one answer: a card per citation, or the nearest passages of a refusal."""
    if not answer:
        return '<div class="src-empty">Sources appear here: each [n] in an answer with the passage it quotes.</div>'
    head = f'<div class="src-head">Sources for “{html.escape(answer["question"])}”</div>'
    if answer.get("query") and answer["query"] != answer["question"]:
        head += f'<div class="src-meta">searched for: {html.escape(answer["query"])}</div>'
    if answer["refused"]:
        note = ('<div class="src-note">The documents do not answer this. The nearest passages are below; '
                'they may still help.</div>')
        cards = "".join(_card(f"#{p['rank']}", p) for p in answer["passages"][:3])
        return f'<div class="sources">{head}{note}{cards}</div>'
    cards = "".join(_card(f"[{c['n']}]", c, c.get("highlights", ())) for c in answer["citations"])
    return f'<div class="sources">{head}{cards}</div>'


NOT_COVERED = {
    "en": "No answer in the documents: the nearest passages are in the sources panel.",
    "de": "Keine Antwort in den Dokumenten: die nächstgelegenen Textstellen stehen bei den Quellen.",
}


def answer_html(answer: dict) -> str:
    from .language import detect
    note = f"<br><em>{html.escape(NOT_COVERED[detect(answer['question'])])}</em>" if answer["refused"] else ""
    return html.escape(answer["answer"]) + note


def sources_list_html(answer: dict) -> str:
    """The collapsible sources block under an answer: where each [n] comes from."""
    items = answer["citations"] or [{**p, "n": f"#{p['rank']}"} for p in answer["passages"][:3]]
    return "<ul>" + "".join("<li>" + html.escape(f"[{c['n']}] {c['source']} · {_where(c)}") + "</li>"
                            for c in items) + "</ul>"


def status_html(engine: "Engine") -> str:
    if engine.error:
        return f'<span class="err">Index not available: {html.escape(engine.error)}</span>'
    bot = engine.bot
    if bot is None:
        return "Indexing the documents… you can already type; answers start when the index is ready."
    m = bot.index.manifest
    when = m.get("built_at", "")
    try:
        when = datetime.fromisoformat(when).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        pass
    model = m.get("embedder", "?")
    docs, chunks = m.get("documents", 0), m.get("chunks", 0)
    return html.escape(f"Knows {docs} document{'s' * (docs != 1)} · {chunks} passages · "
                       f"embedding model {model} · indexed {when}")


# --- the engine: the Chatbot, built in the background ------------------------------------------------

class Engine:
    """The Chatbot, built in a background thread so the page is up while the index builds."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.bot = None
        self.error: str | None = None
        self.ready = threading.Event()
        self._build_lock = threading.Lock()

    def start(self) -> "Engine":
        threading.Thread(target=self._build, name="bot-index", daemon=True).start()
        return self

    def _build(self) -> None:
        from .chatbot import Chatbot
        with self._build_lock:
            try:
                self.bot = Chatbot(self.settings, progress=False)
                self.error = None
            except BotError as e:
                self.error = str(e)
            except Exception as e:  # shown on the page instead of a dead server
                self.error = f"{type(e).__name__}: {e}"
                print(f"error: building the index failed: {self.error}", file=sys.stderr)
            finally:
                self.ready.set()

    def refresh(self) -> None:
        """After an upload: reload the index, or try again from scratch if it never came up."""
        if self.bot is None:
            self._build()
            return
        with self._build_lock:
            try:
                self.bot.refresh(progress=False)
                self.error = None
            except BotError as e:
                self.error = str(e)

    def ask(self, question: str, history=()):
        # Chatbot.ask is safe from several threads: the embedders and caches lock themselves.
        return self.bot.ask(question, history)


# --- the app -----------------------------------------------------------------------------------------

def _new_session() -> dict:
    # history: standalone queries of earlier turns (for follow-ups); answers: message index -> JSON
    return {"history": [], "answers": {}}


def chat_turn(engine: Engine, message: str, messages: list | None, session: dict | None):
    """One turn of the chat, streamed: yields (messages, answer JSON or None, session), text growing.

    Kept apart from Gradio so it can be tested directly; the session is a new dict each turn
    because gr.State keeps one per browser session.
    """
    messages = list(messages or [])
    session = session or _new_session()
    question = (message or "").strip()
    if not question:
        yield list(messages), None, session
        return
    messages.append({"role": "user", "content": html.escape(question)})
    if engine.bot is None:
        text = f"The index is not available: {engine.error}" if engine.error else STILL_INDEXING
        messages.append({"role": "assistant", "content": html.escape(text)})
        yield list(messages), None, session
        return
    try:
        answer = engine.ask(question, session["history"]).to_dict()
    except BotError as e:
        messages.append({"role": "assistant", "content": html.escape(str(e))})
        yield list(messages), None, session
        return
    session = {"history": session["history"] + [answer["query"]], "answers": dict(session["answers"])}
    index = len(messages)
    # Both the answer and its collapsible sources message map to the answer, for likes and clicks.
    session["answers"][index] = session["answers"][index + 1] = answer
    messages.append({"role": "assistant", "content": ""})
    full = answer_html(answer)
    words = re.findall(r"\S+\s*", html.escape(answer["answer"]))
    for i in range(0, len(words), STREAM_WORDS):
        messages[index] = {"role": "assistant", "content": "".join(words[:i + STREAM_WORDS])}
        yield list(messages), answer, session
        time.sleep(STREAM_PAUSE)
    messages[index] = {"role": "assistant", "content": full}
    messages.append({"role": "assistant", "content": sources_list_html(answer),
                     "metadata": {"title": "Nearest passages" if answer["refused"] else "Sources",
                                  "status": "done"}})
    yield list(messages), answer, session


def build(engine: Engine):
    """The gr.Blocks app around an Engine (not launched)."""
    import gradio as gr

    settings = engine.settings

    def respond(message, messages, session):
        first = True
        for shown, answer, state in chat_turn(engine, message, messages, session):
            panel = sources_html(answer) if first and answer else gr.update()
            first = False
            yield "", shown, panel, state

    def new_conversation():
        return [], sources_html(None), _new_session(), ""

    def show_sources(session, data: gr.SelectData):
        answer = (session or {}).get("answers", {}).get(data.index)
        return sources_html(answer) if answer else gr.update()

    def vote(session, data: gr.LikeData):
        answer = (session or {}).get("answers", {}).get(data.index)
        if answer is None or data.liked not in (True, False):
            return
        feedback.record(settings, answer, "up" if data.liked else "down")
        gr.Info("Thanks, your feedback was saved.")

    def status():
        return status_html(engine), gr.Timer(active=not engine.ready.is_set())

    def upload(files, replace):
        notes = []
        added = 0
        for f in files or []:
            path = Path(f)  # Gradio's temporary copy, named as the uploaded file
            try:
                size = path.stat().st_size
                if size > settings.max_upload_bytes:  # checked before reading it all
                    raise UploadError(f"{path.name} is {size:,} bytes, over the "
                                      f"{settings.max_upload_bytes:,}-byte limit: split it into smaller files")
                saved = documents.save(settings, path.name, path.read_bytes(), replace=bool(replace))
                notes.append(f"Added {saved.name}.")
                added += 1
            except BotError as e:
                notes.append(f"Not added: {e}")
        if added:
            engine.refresh()
            if engine.error:
                notes.append(f"Indexing failed: {engine.error}")
            elif engine.bot is not None:
                m = engine.bot.index.manifest
                notes.append(f"The index now has {m['documents']} documents, {m['chunks']} passages.")
        return status_html(engine), html.escape(" ".join(notes) or "No file was uploaded.")

    def api_ask(question: str, history: list[str] | None = None) -> dict:
        """Answer one question from the documents; returns the JSON object of the CLI contract.

        history: the "query" values of earlier turns of the same conversation, oldest first."""
        if not engine.ready.wait(API_WAIT_SECONDS) or engine.bot is None:
            raise gr.Error(engine.error or STILL_INDEXING)
        if not isinstance(history, (list, type(None))) or not all(isinstance(h, str) for h in history or ()):
            raise gr.Error("history must be a list of strings: the query of each earlier turn")
        try:
            return engine.ask(question, history or ()).to_dict()
        except BotError as e:
            raise gr.Error(str(e)) from None

    with gr.Blocks(title="Ask the documents") as demo:
        gr.HTML("<h1 style='margin:0;font-size:1.5rem'>Ask the documents</h1>")
        status_line = gr.HTML(status_html(engine), elem_id="app-status", js_on_load=None)
        timer = gr.Timer(1.0, active=True)
        session = gr.State(_new_session())
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=320):
                # Markdown off: messages are escaped text plus our own few tags, never document markup.
                chat = gr.Chatbot(label="Conversation", show_label=False, elem_id="chat", height=480,
                                  render_markdown=False, latex_delimiters=[],
                                  buttons=["copy"], feedback_options=("Like", "Dislike"),
                                  placeholder="Ask in English or German. Every answer quotes the documents, "
                                              "with numbered sources.")
                with gr.Row():
                    box = gr.Textbox(show_label=False, placeholder="Ask a question…",
                                     scale=5, min_width=200, elem_id="question", autofocus=True, max_lines=4)
                    send = gr.Button("Ask", variant="primary", scale=1, min_width=70)
                with gr.Row(elem_id="examples"):
                    example_buttons = [gr.Button(q, size="sm", min_width=120) for q in EXAMPLES]
                with gr.Row():
                    clear = gr.Button("New conversation", size="sm", min_width=120)
                    up = gr.UploadButton("Add .txt / .md documents", file_types=[".txt", ".md"],
                                         file_count="multiple", size="sm", min_width=160)
                    replace = gr.Checkbox(label="replace files with the same name", value=False, min_width=160)
                notice = gr.HTML(elem_id="upload-notice", js_on_load=None)
            with gr.Column(scale=2, min_width=300):
                sources = gr.HTML(sources_html(None), label="Sources", elem_id="sources-panel", js_on_load=None)

        chat_io = dict(inputs=[box, chat, session], outputs=[box, chat, sources, session],
                       api_visibility="private", concurrency_limit=8)
        box.submit(respond, **chat_io)
        send.click(respond, **chat_io)
        for b in example_buttons:
            b.click(respond, inputs=[b, chat, session], outputs=[box, chat, sources, session],
                    api_visibility="private", concurrency_limit=8)
        clear.click(new_conversation, outputs=[chat, sources, session, box], api_visibility="private")
        chat.clear(new_conversation, outputs=[chat, sources, session, box], api_visibility="private")
        chat.select(show_sources, inputs=[session], outputs=[sources], api_visibility="private")
        chat.like(vote, inputs=[session], outputs=None, api_visibility="private")
        demo.load(status, outputs=[status_line, timer], api_visibility="private")
        timer.tick(status, outputs=[status_line, timer], api_visibility="private")
        up.upload(upload, inputs=[up, replace], outputs=[status_line, notice], api_name="upload")
        gr.api(api_ask, api_name="ask")
    return demo


def theme():
    import gradio as gr
    # Plain font names only: a Google or packaged web font would be fetched by the browser.
    return gr.themes.Soft(font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica", "Arial",
                                "sans-serif"], font_mono=["ui-monospace", "Menlo", "Consolas", "monospace"])


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860, block: bool = True):
    """Build the index in the background and serve the chat; with block=False return (demo, engine)."""
    if not is_loopback(host):
        print(f"warning: serving on {host}: anyone who can reach this machine on port {port} can read the "
              "documents and add files. Use --host 127.0.0.1 to keep it on this machine.", file=sys.stderr)
    print(f"Thumbs up/down feedback is appended to {settings.feedback}", file=sys.stderr)
    engine = Engine(settings).start()
    demo = build(engine)
    demo.queue(default_concurrency_limit=4)
    demo.launch(server_name=host, server_port=port, share=False, inbrowser=False, quiet=not block,
                prevent_thread_lock=not block, show_error=True, theme=theme(), css=CSS,
                footer_links=["api"], max_file_size=settings.max_upload_bytes, ssr_mode=False,
                mcp_server=False, pwa=False, enable_monitoring=False)
    return demo, engine
