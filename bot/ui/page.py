"""The chat page (Gradio Blocks): chat, documents panel, sources panel and viewer, feedback, /ask.

Questions go through a hidden, append-only list of everything asked in this conversation: Enter
adds to it in the browser (so the box empties at once), and one server loop answers whatever is
not answered yet, in order. Nothing typed is lost while an answer streams or the index builds.
"""
# No "from __future__ import annotations" here: Gradio finds gr.LikeData by its real annotation.
import html
import json
import re
import sys
import time
import uuid
from pathlib import Path

from .. import audit, documents, feedback
from ..readers import SUFFIXES
from ..config import Settings
from ..errors import BotError, UploadError
from . import assets
from .access import AUTH_MESSAGE, Access, is_loopback
from .engine import Engine
from .rendering import (answer_html, conversation_text, documents_html, progress_text, sources_html,
                        status_html, system_html)
from .viewer import viewer_html

EXAMPLES = [
    "Who owns forecasting?",
    "What does a sales operations manager do in a startup?",
    "Wer entwickelt Verkaufsstrategien?",
    "Welche Fähigkeiten braucht ein Vertriebsleiter?",
]
WAITING = "Waiting for the index to be ready; your question is answered as soon as it is."
API_WAIT_SECONDS = 300
STREAM_WORDS = 3  # words per streamed update
STREAM_PAUSE = 0.012  # seconds between updates: fast, but visibly typed
UPLOAD_SUFFIXES = list(SUFFIXES)
TITLE = "<h1>Ask the documents</h1>"


def new_session() -> dict:
    # history: standalone queries of earlier turns (for follow-ups); answers by id; by_index: chat
    # message index (as a string: the session round-trips through JSON in browser storage) -> answer id
    return {"history": [], "answers": {}, "by_index": {}, "order": []}


def _plain(text: str) -> str:
    return html.escape(text)


def _text(content) -> str:
    """A message's text: Gradio 6 hands messages back with content as a list of typed parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(_text(part) for part in content)
    if isinstance(content, dict):
        return str(content.get("text") or content.get("content") or "")
    return ""


def chat_turn(engine: Engine, question: str, messages: list | None, session: dict | None):
    """One turn, streamed: yields (messages, answer JSON or None, session) with the text growing.

    Waits (showing progress) while the index builds. Kept apart from Gradio so it can be tested
    directly; the session is a new dict each turn because gr.State keeps one per browser session."""
    messages = list(messages or [])
    session = session or new_session()
    question = (question or "").strip()
    if not question:
        yield list(messages), None, session
        return
    messages.append({"role": "user", "content": _plain(question)})
    slot = len(messages)
    if not engine.wait(0):
        deadline = time.monotonic() + API_WAIT_SECONDS
        while not engine.wait(0.5) and time.monotonic() < deadline:
            note = f"{WAITING} {progress_text(engine.progress)}"
            messages[slot:] = [{"role": "assistant", "content": system_html(note)}]
            yield list(messages), None, session
    if engine.bot is None:
        messages[slot:] = [{"role": "assistant", "content": system_html(
            f"The index is not available: {engine.error}" if engine.error else WAITING)}]
        yield list(messages), None, session
        return
    try:
        answer = engine.ask(question, session["history"]).to_dict()
    except BotError as e:
        messages[slot:] = [{"role": "assistant", "content": system_html(str(e))}]
        yield list(messages), None, session
        return
    answer["id"] = uuid.uuid4().hex[:12]
    aid = answer["id"]
    session = {"history": session["history"] + [answer["query"]], "answers": {**session["answers"], aid: answer},
               "by_index": {**session["by_index"], str(slot): aid}, "order": session["order"] + [aid]}
    words = re.findall(r"\S+\s*", _plain(answer["answer"]))
    for i in range(0, len(words), STREAM_WORDS):
        messages[slot:] = [{"role": "assistant", "content": "".join(words[:i + STREAM_WORDS])}]
        yield list(messages), answer, session
        time.sleep(STREAM_PAUSE)
    messages[slot:] = [{"role": "assistant", "content": answer_html(answer, engine.gloss)}]
    yield list(messages), answer, session


def pending(asked: str, messages: list | None) -> list[str]:
    """The questions asked but not yet in the chat: asked is the JSON list of all questions so far."""
    try:
        questions = [q for q in json.loads(asked or "[]") if isinstance(q, str)]
    except ValueError:
        return []
    shown = sum(1 for m in messages or [] if m.get("role") == "user")
    return questions[shown:]


def clean_notice(settings: Settings, message: str) -> str:
    """An upload or removal message with the server's folders taken out: file names only."""
    for folder in sorted({str(settings.corpus.resolve()), str(settings.corpus), str(settings.corpus.absolute())},
                         key=len, reverse=True):
        message = message.replace(folder + "/", "").replace(folder, "the documents folder")
    return message


def build(engine: Engine, access: Access | None = None):
    """The gr.Blocks app around an Engine (not launched); access: sign-in and roles (default: open)."""
    import gradio as gr

    settings = engine.settings
    access = access or Access()

    def gloss_for(text):
        return engine.gloss(text)

    def side_panels(request=None):
        return (TITLE + status_html(engine.manifest, engine.building, engine.error, engine.progress)
                + access.whoami_html(request),
                documents_html(engine.manifest, engine.passages_per_document(), engine.progress, engine.building,
                               engine.waiting_files() if engine.manifest is None else (),
                               editable=access.may_edit(request)))

    def saved_value(messages, session):
        return {"messages": messages, "session": session}

    def respond(asked, messages, session):
        messages, session = list(messages or []), session or new_session()
        todo = pending(asked, messages)
        if not todo:
            yield gr.update(), gr.update(), gr.update(), gr.update(), gr.update()
            return
        for question in todo:
            first = True
            for shown, answer, state in chat_turn(engine, question, messages, session):
                panel = sources_html(answer, gloss_for) if first and answer else gr.update()
                first = first and not answer
                messages, session = shown, state
                yield shown, panel, state, gr.update(), gr.update()
            turns = [session["answers"][a] for a in session["order"]]
            yield messages, gr.update(), session, saved_value(messages, session), conversation_text(turns)

    def restore(saved, request: gr.Request):
        saved = saved if isinstance(saved, dict) else {}
        messages, session = saved.get("messages") or [], saved.get("session") or new_session()
        if not isinstance(messages, list) or not isinstance(session, dict) or set(session) != set(new_session()):
            messages, session = [], new_session()
        asked = json.dumps([html.unescape(re.sub(r"<[^>]+>", "", _text(m.get("content"))))
                            for m in messages if m.get("role") == "user"], ensure_ascii=False)
        last = session["answers"].get(session["order"][-1]) if session["order"] else None
        turns = [session["answers"][a] for a in session["order"]]
        return (messages, session, asked, sources_html(last, gloss_for), conversation_text(turns),
                *side_panels(request), gr.update(visible=access.may_edit(request)))

    def new_conversation():
        return [], sources_html(None), new_session(), "[]", saved_value([], new_session()), ""

    def bridge(command, session, request: gr.Request):
        """Clicks in the page's own HTML (chips, 'Show in document', Remove) arrive here as JSON."""
        try:
            cmd = json.loads(command or "{}") if isinstance(command, str) else None
        except ValueError:
            cmd = None
        if not isinstance(cmd, dict):
            yield gr.update(), gr.update(), gr.update(), gr.update()
            return
        if cmd.get("op") == "remove":
            shows = cmd.get("shows")
            yield from remove(str(cmd.get("name", "")), shows if isinstance(shows, list) else [], request)
            return
        yield answer_panel(cmd, session)

    def remove(name: str, shows: list, request):
        """Remove one document: the notice says so at once, and a sources panel showing it is cleared.

        shows: the sources ("corpus/x.txt") the sources panel shows, sent by the page."""
        if access.may_edit(request):
            shown = f"{settings.corpus.name}/{name}" in shows
            panel = (sources_html(None).replace("Sources appear here", f"{html.escape(name)} was removed from the "
                                                "documents. Sources appear here") if shown else gr.update())
            yield panel, gr.update(), gr.update(), _plain(f"Removing {name}…")
        note = remove_document(name, request)
        yield gr.update(), *side_panels(request), _plain(clean_notice(settings, note))

    def answer_panel(cmd: dict, session):
        answers = (session or {}).get("answers", {})
        op = cmd.get("op")
        if op in ("open", "sources"):
            answer = answers.get(str(cmd.get("aid")))
            if answer is None:
                return (sources_html(None).replace("Sources appear here", "That answer is from an earlier visit; "
                                                   "ask again to see its sources. Sources appear here"),
                        gr.update(), gr.update(), gr.update())
            cited = next((c for c in answer["citations"] if c["n"] == cmd.get("n")), None)
            if op == "sources" or cited is None or engine.bot is None:
                return sources_html(answer, gloss_for), gr.update(), gr.update(), gr.update()
            html_ = viewer_html(settings.corpus, engine.bot.index.chunks, answer["question"], cited, gloss_for)
            return html_.replace('class="back"', f'class="back" data-aid="{answer["id"]}"'), \
                gr.update(), gr.update(), gr.update()
        return gr.update(), gr.update(), gr.update(), gr.update()

    def remove_document(name: str, request) -> str:
        """Remove one document as the request's user; the note to show. Editors only."""
        if not access.may_edit(request):
            access.reject(request, "remove: only editors may remove documents")
            return "Not removed: only editors may remove documents."
        try:
            engine.begin_change()
            digest = audit.sha256(documents.located(settings, name).read_bytes())
            removed = documents.remove(settings, name)
            audit.record(settings, "remove", access.name(request), removed.name, digest)
            note = f"Removed {removed.name}."
            engine.refresh()
        except BotError as e:
            engine.end_change()
            note = f"Not removed: {e}"
        return note

    def vote(session, data: gr.LikeData, request: gr.Request):
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        aid = (session or {}).get("by_index", {}).get(str(index))
        answer = (session or {}).get("answers", {}).get(aid)
        if answer is None:
            return gr.update()
        choice = {True: "up", False: "down", "Like": "up", "Dislike": "down"}.get(data.liked)
        feedback.record(settings, answer, choice, answer_id=aid, user=access.name(request))
        return _plain("Vote saved." if choice else "Vote withdrawn.")

    def status(request: gr.Request):
        engine.sync()  # another server over the same store may have re-indexed
        return side_panels(request)

    def upload(files, replace, request: gr.Request):
        if not access.may_edit(request):
            access.reject(request, "upload: only editors may add documents")
            yield gr.update(), gr.update(), "Not added: only editors may add documents."
            return
        if not isinstance(files, (list, type(None))) or not all(isinstance(f, str) for f in files or ()):
            raise access.reject(request, "upload: files must be a list of uploaded files")
        names = [Path(f).name for f in files or []]
        if not names:
            yield gr.update(), gr.update(), "No file was uploaded."
            return
        engine.begin_change()
        yield (*side_panels(request), _plain(f"Adding {', '.join(names)}…"))
        notes, added = [], 0
        for f in files:
            path = Path(f)  # Gradio's temporary copy, named as the uploaded file
            try:
                size = path.stat().st_size
                if size > settings.max_upload_bytes:  # checked before reading it all
                    raise UploadError(f"{path.name} is {size:,} bytes, over the "
                                      f"{settings.max_upload_bytes:,}-byte limit: split it into smaller files")
                data = path.read_bytes()
                existed = (settings.corpus / documents.check_name(path.name)).is_file()
                saved = documents.save(settings, path.name, data, replace=bool(replace))
                audit.record(settings, "replace" if existed else "upload", access.name(request), saved.name,
                             audit.sha256(data))
                notes.append(f"Added {saved.name}.")
                added += 1
            except BotError as e:
                notes.append(f"Not added: {e}")
        if added:
            engine.refresh()  # finished before "Added" is shown, so the next question sees the new index
            if engine.error:
                notes.append(f"Indexing failed: {engine.error}")
            elif engine.manifest is not None:
                m = engine.manifest
                notes.append(f"The index now has {m['documents']} document{'s' * (m['documents'] != 1)}, "
                             f"{m['chunks']} passages.")
        else:
            engine.end_change()
        yield (*side_panels(request), _plain(clean_notice(settings, " ".join(notes))))

    def api_ask(question: str, history: list[str] | None = None, request: gr.Request = None) -> dict:
        """Answer one question from the documents; returns the JSON object of the CLI contract.

        history: the "query" values of earlier turns of the same conversation, oldest first."""
        if not isinstance(question, str):
            raise access.reject(request, f"/ask: the question is a {type(question).__name__}, not text")
        if not question.strip():
            raise access.reject(request, "/ask: the question is empty")
        if not isinstance(history, (list, type(None))) or not all(isinstance(h, str) for h in history or ()):
            raise access.reject(request, "/ask: history must be a list of strings: the query of each earlier turn")
        if not engine.wait(API_WAIT_SECONDS) or engine.bot is None:
            raise gr.Error(engine.error or WAITING, print_exception=False)
        try:
            return engine.ask(question, history or ()).to_dict()
        except BotError as e:
            raise access.reject(request, f"/ask: {e}") from None

    def api_remove(name: str, request: gr.Request = None) -> str:
        """Remove one document from the documents folder by its file name (editors only); says what happened."""
        if not isinstance(name, str) or not name.strip():
            raise access.reject(request, "/remove: no file name given")
        note = clean_notice(settings, remove_document(name, request))
        if not note.startswith("Removed"):
            raise gr.Error(note, print_exception=False)
        return note

    with access.blocks(title="Ask the documents") as demo:
        status_line = gr.HTML(TITLE + status_html(None), elem_id="app-status", padding=False)
        timer = gr.Timer(1.0, active=True)
        session = gr.State(new_session())
        saved = gr.BrowserState(saved_value([], new_session()), storage_key="ask-the-documents-chat")
        with gr.Row(equal_height=False, elem_id="main"):
            with gr.Column(scale=3, min_width=320, elem_id="chat-col"):
                # Markdown off: messages are escaped text plus our own few tags, never document markup.
                chat = gr.Chatbot(label="Conversation", show_label=False, elem_id="chat", height=420,
                                  render_markdown=False, latex_delimiters=[],
                                  buttons=["copy"], feedback_options=("Like", "Dislike"),
                                  placeholder="Ask in English or German. Every answer quotes the documents; "
                                              "click an [n] to read the passage in its document.")
                with gr.Row(elem_id="ask-row"):
                    box = gr.Textbox(show_label=False, placeholder="Ask a question…",
                                     scale=5, min_width=200, elem_id="question", autofocus=True, max_lines=4)
                    send = gr.Button("Ask", variant="primary", scale=1, min_width=70, elem_id="ask")
                with gr.Row(elem_id="examples"):
                    example_buttons = [gr.Button(q, size="sm", min_width=120) for q in EXAMPLES]
                with gr.Row(elem_id="chat-tools"):
                    clear = gr.Button("New conversation", size="sm", min_width=120, elem_id="new-conv")
                    copy = gr.Button("Copy with sources", size="sm", min_width=120, elem_id="copy-btn")
                    vote_note = gr.HTML("", elem_id="vote-note", padding=False)
            with gr.Column(scale=2, min_width=300, elem_id="side-col"):
                docs = gr.HTML(documents_html(None), elem_id="documents", padding=False)
                # Hidden until the page knows its user is an editor (always, without sign-in).
                with gr.Row(elem_id="upload-row", visible=not access.enabled) as upload_row:
                    up = gr.UploadButton("Add documents", file_types=UPLOAD_SUFFIXES, file_count="multiple",
                                         size="sm", min_width=120, elem_id="upload-btn")
                    replace = gr.Checkbox(label="replace same name", value=False, min_width=120, elem_id="replace")
                notice = gr.HTML("", elem_id="upload-notice", padding=False)
                sources = gr.HTML(sources_html(None), elem_id="sources-panel", padding=False)
        asked = gr.Textbox("[]", visible="hidden", elem_id="asked")
        copy_text = gr.Textbox("", visible="hidden", elem_id="copy-text")
        command = gr.Textbox("", visible="hidden", elem_id="bridge")
        go = gr.Button("go", visible="hidden", elem_id="bridge-go")

        private = dict(api_visibility="private")
        # Enter and Ask only touch the browser: the box empties at once and the question joins the list.
        box.submit(None, [box, asked], [box, asked], js=assets.ENQUEUE_JS, **private)
        send.click(None, [box, asked], [box, asked], js=assets.ENQUEUE_JS, **private)
        for b in example_buttons:
            b.click(None, [b, asked], [b, asked], js=assets.ENQUEUE_EXAMPLE_JS, **private)
        # always_last: questions added while one streams are answered right after it, none skipped.
        asked.change(respond, [asked, chat, session], [chat, sources, session, saved, copy_text],
                     trigger_mode="always_last", concurrency_limit=8, show_progress="hidden", **private)
        clear.click(new_conversation, outputs=[chat, sources, session, asked, saved, copy_text], **private)
        chat.clear(new_conversation, outputs=[chat, sources, session, asked, saved, copy_text], **private)
        copy.click(None, [copy_text], None, js=assets.COPY_JS, **private)
        chat.like(vote, inputs=[session], outputs=[vote_note], **private)
        go.click(bridge, [command, session], [sources, status_line, docs, notice], show_progress="hidden",
                 concurrency_limit=4, **private)
        demo.load(restore, [saved], [chat, session, asked, sources, copy_text, status_line, docs, upload_row],
                  **private)
        timer.tick(status, outputs=[status_line, docs], show_progress="hidden", queue=False, **private)
        up.upload(upload, inputs=[up, replace], outputs=[status_line, docs, notice], api_name="upload",
                  show_progress="hidden")
        gr.api(api_ask, api_name="ask")
        gr.api(api_remove, api_name="remove")
    return demo


def theme():
    import gradio as gr
    # Plain font names only: a Google or packaged web font would be fetched by the browser.
    soft = gr.themes.Soft(font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica", "Arial",
                                "sans-serif"], font_mono=["ui-monospace", "Menlo", "Consolas", "monospace"])
    # One shade darker than Soft's accent and grey text: its indigo-500 and neutral-400 read below
    # WCAG's 4.5:1 contrast on the light background (axe-core's color-contrast rule).
    return soft.set(color_accent="*primary_600", button_primary_background_fill="*primary_600",
                    button_primary_background_fill_hover="*primary_700", body_text_color_subdued="*neutral_600",
                    block_label_text_color="*primary_600")


def _check_port(host: str, port: int) -> None:
    """Fail before anything starts when the port is taken (Gradio's own message names its API)."""
    import errno
    import socket
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise BotError(f"port {port} on {host} is in use (another server?): pick another with --port "
                           f"{port + 1} (make run PORT={port + 1})") from None
        reason = re.sub(r" \(while attempting.*", "", e.strerror or str(e))
        raise BotError(f"cannot serve on {host}:{port} ({reason}): check --host and --port") from None


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860, block: bool = True,
          users: Path | None = None, no_auth: bool = False):
    """Build the index in the background and serve the chat; with block=False return (demo, engine).

    users: the users file; everyone must sign in and their role decides what they may do. Without
    one the page is open, which is refused on any address but this machine's unless no_auth."""
    access = Access.for_server(users, host, no_auth)
    if not is_loopback(host) and not access.enabled:
        print(f"warning: serving on {host} without sign-in (--no-auth): anyone who can reach this machine on port "
              f"{port} can read the documents, add and remove files.", file=sys.stderr)
    _check_port(host, port)
    print(f"Votes on answers are kept in {settings.feedback}, uploads and removals in {audit.path(settings)}",
          file=sys.stderr)
    if access.enabled:
        print(f"Sign-in required: {len(access.directory.users())} user(s) in {users}", file=sys.stderr)
    engine = Engine(settings).start()
    demo = build(engine, access)
    demo.queue(default_concurrency_limit=4)
    signin = dict(auth=access.auth, auth_message=AUTH_MESSAGE) if access.enabled else {}
    from starlette.middleware import Middleware
    # quiet: Gradio's own lines suggest share=True (a public tunnel), which an offline tool never wants.
    demo.launch(server_name=host, server_port=port, share=False, inbrowser=False, quiet=True,
                prevent_thread_lock=True, show_error=True, theme=theme(), css=assets.CSS, js=assets.PAGE_JS,
                footer_links=["api"], max_file_size=settings.max_upload_bytes, ssr_mode=False,
                mcp_server=False, pwa=False, enable_monitoring=False,
                app_kwargs={"middleware": [Middleware(access.middleware())]}, **signin)
    if block:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        print(f"The chat page is at http://{shown}:{port}/ : open it in a browser. Ctrl-C stops the server.",
              file=sys.stderr, flush=True)
        demo.block_thread()
    return demo, engine
