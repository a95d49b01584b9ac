"""The Gradio UI: the /ask API through gradio_client, uploads, feedback, streaming, inert document text."""
import json
import re
from html.parser import HTMLParser

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
    cited = d["citations"][0]
    s, e = cited["highlights"][0]
    assert " ".join(cited["text"][s:e].split())[:40] in d["answer"]


@pytest.mark.slow
def test_only_ask_and_upload_are_exposed(client):
    assert set(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == {"/ask", "/upload"}


@pytest.mark.slow
def test_uploaded_markdown_can_be_asked_about(client, server, tmp_path):
    from gradio_client import handle_file
    _, settings, _ = server
    doc = tmp_path / "zanzibar-notes.md"
    doc.write_text("# Zanzibar\n\nThe Zanzibar protocol is owned by the platform team, led by Priya Raman. "
                   f"Its test string is {XSS} and {IMG}.\n\n"
                   "Über den Zanzibar-Ausfall berichtet das Plattform-Team jeden Montag.\n", encoding="utf-8")
    status, notice = client.predict([handle_file(str(doc))], False, api_name="/upload")
    assert "Added zanzibar-notes.md" in notice and "2 documents" in status
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
    _, notice = client.predict([handle_file(str(doc))], False, api_name="/upload")
    assert "already exists" in notice
    assert "Priya" in (settings.corpus / "zanzibar-notes.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_chat_turn_streams_growing_text_and_keeps_follow_up_history(server):
    from bot.ui import chat_turn
    _, _, engine = server
    steps = list(chat_turn(engine, "Who owns forecasting?", [], None))
    texts = [m[-1]["content"] for m, _, _ in steps[:-1]]
    assert len(texts) > 2 and all(b.startswith(a) for a, b in zip(texts, texts[1:]))  # grows, never rewrites
    messages, answer, session = steps[-1]
    assert [m["role"] for m in messages] == ["user", "assistant", "assistant"]
    assert messages[-1]["metadata"]["title"] == "Sources"
    assert session["history"] == ["Who owns forecasting?"] and session["answers"][1] is answer
    # A follow-up is resolved against this session's history only.
    *_, (messages2, answer2, session2) = chat_turn(engine, "And what about budgets?", messages, session)
    assert answer2["query"] != "And what about budgets?" and len(session2["history"]) == 2
    assert session["history"] == ["Who owns forecasting?"]  # the earlier state is not mutated


def test_questions_before_the_index_is_ready_get_a_polite_reply(article_settings):
    from bot.ui import STILL_INDEXING, Engine, chat_turn
    engine = Engine(article_settings)  # never started: still "indexing"
    [(messages, answer, session)] = list(chat_turn(engine, "Who owns forecasting?", [], None))
    assert answer is None and messages[-1]["content"] == STILL_INDEXING
    assert session["history"] == []


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _answer_with(text: str, refused: bool = False) -> dict:
    where = {"source": "corpus/x<b>.md", "section": IMG, "start_line": 1, "end_line": 2, "text": text, "score": 0.5}
    return {"question": f"what is {XSS}?", "query": "q", "answer": text if refused else f"“{text}” [1]",
            "refused": refused, "citations": [] if refused else [{"n": 1, **where, "highlights": [[0, len(XSS)]]}],
            "passages": [{"rank": 1, **where}], "timings_ms": {}}


def _parsed(markup: str) -> _Tags:
    parsed = _Tags()
    parsed.feed(markup)
    return parsed


@pytest.mark.parametrize("render", ["sources_html", "answer_html", "sources_list_html"])
def test_document_text_is_shown_as_text(render):
    import bot.ui
    text = f"{XSS} and {IMG} and ${{alert(1)}} & *not bold* [not a link](http://x)"
    for refused in (False, True):
        answer = _answer_with(text, refused)
        parsed = _parsed(getattr(bot.ui, render)(answer))
        tags = {t for t, _ in parsed.tags}
        assert tags <= {"div", "article", "span", "blockquote", "mark", "ul", "li", "br", "em"}, tags
        assert all(not any(k.startswith("on") or k in ("href", "src") for k in attrs) for _, attrs in parsed.tags)
        shown = "".join(parsed.text)
        if render == "sources_list_html":
            assert "corpus/x<b>.md · " + IMG in shown
        else:
            assert XSS in shown
        if render == "sources_html":
            assert IMG in shown and text in shown and "corpus/x<b>.md" in shown
            assert (("mark", {}) in parsed.tags) != refused  # the cited span is highlighted


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


def test_only_loopback_counts_as_private():
    from bot.ui import is_loopback
    assert all(map(is_loopback, ["127.0.0.1", "localhost", "::1", "127.0.0.2"]))
    assert not any(map(is_loopback, ["0.0.0.0", "192.168.1.5", "::", "example.org"]))
