"""Serving a team: the users file, sign-in on the page and on /ask, roles checked on the server for
every request, slowed-down sign-in failures, the per-corpus limit, the audit log and one-line logs.

The server tests run the real Gradio server with a users file (gradio_client with and without
credentials, raw HTTP for malformed calls, Chromium for the page); the unit tests use real argon2
hashes. All sign-ins come from 127.0.0.1, which counts failures per address too: the module's
server sees fewer than 5 wrong passwords in all, so no test is slowed down by another.
"""
import asyncio
import io
import json
import os
import subprocess
import sys
import time

import pytest

from bot import audit, documents, feedback, users
from bot.cli import main
from bot.errors import UploadError, UsersError
from bot.signin import FREE_FAILURES, SignIn, Throttle
from conftest import ARTICLE, ROOT
from ui_server import copy_settings, free_port, start, wait_until_up

READER, READER_PW = "rita", "reader-password-1"
EDITOR, EDITOR_PW = "eddie", "editor-password-2"
DOC = "Zanzibar notes\n\nThe Zanzibar protocol is owned by the platform team, led by Priya Raman.\n"


def users_cli(*args, stdin: str | None = None, monkeypatch=None, capsys=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(["users", *args])
    out, err = capsys.readouterr()
    return code, out, err


# --- the users file -------------------------------------------------------------------------------

def test_users_add_list_remove_keep_only_hashes_in_a_private_file(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("BOT_USERS", raising=False)
    corpus = tmp_path / "corpus"
    code, _, err = users_cli("add", "rita", "--role", "reader", "--password-stdin", "--corpus", str(corpus),
                             stdin=READER_PW + "\n", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0 and "Added rita (reader)" in err
    path = tmp_path / "users.toml"  # the default: beside the corpus folder
    assert path.is_file() and (path.stat().st_mode & 0o777) == 0o600
    text = path.read_text()
    assert READER_PW not in text and "$argon2id$" in text
    assert users.verify(users.load(path)["rita"], READER_PW) and not users.verify(users.load(path)["rita"], "guess")

    f = str(path)
    assert users_cli("add", "eddie", "--role", "editor", "--password-stdin", "--users", f,
                     stdin=EDITOR_PW + "\n", monkeypatch=monkeypatch, capsys=capsys)[0] == 0
    code, out, _ = users_cli("list", "--users", f, capsys=capsys)
    assert code == 0 and out.splitlines() == ["eddie\teditor", "rita\treader"] and "argon2" not in out
    # add on an existing name changes role and password
    code, _, err = users_cli("add", "rita", "--role", "editor", "--password-stdin", "--users", f,
                             stdin="a-new-password\n", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0 and "Updated rita (editor)" in err
    assert users.verify(users.load(path)["rita"], "a-new-password") and users.load(path)["rita"].may_edit
    assert users_cli("remove", "rita", "--users", f, capsys=capsys)[0] == 0
    assert list(users.load(path)) == ["eddie"] and (path.stat().st_mode & 0o777) == 0o600
    monkeypatch.setenv("BOT_USERS", f)  # the environment names the file too
    assert users_cli("list", capsys=capsys)[1] == "eddie\teditor\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".users")]  # no temporary file left


@pytest.mark.parametrize("args, stdin, message", [
    (["remove", "nobody"], None, "'nobody' is not a user"),
    (["add", "bad name", "--role", "reader", "--password-stdin"], "long-enough-pw\n", "not a usable user name"),
    (["add", "rita", "--role", "reader", "--password-stdin"], "short\n", "shorter than 8 characters"),
    (["add", "rita", "--role", "reader"], "", "no terminal to ask for the password"),
])
def test_users_mistakes_are_one_line_errors(tmp_path, monkeypatch, capsys, args, stdin, message):
    users.add(tmp_path / "u.toml", "eddie", "editor", EDITOR_PW)
    before = (tmp_path / "u.toml").read_text()
    code, _, err = users_cli(*args, "--users", str(tmp_path / "u.toml"), stdin=stdin, monkeypatch=monkeypatch,
                             capsys=capsys)
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1 and message in err
    assert (tmp_path / "u.toml").read_text() == before


def test_a_broken_users_file_is_named_not_a_traceback(tmp_path, capsys):
    path = tmp_path / "users.toml"
    path.write_text('[users.rita]\nrole = "admin"\npassword_hash = "x"\n')
    assert main(["users", "list", "--users", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and "role 'admin'" in err
    path.write_text("[users\n")
    assert main(["users", "list", "--users", str(path)]) == 1
    assert "is not a valid users file" in capsys.readouterr().err


# --- safe by default -----------------------------------------------------------------------------

def test_serve_refuses_an_open_public_address(make_corpus, monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("BOT_USERS", raising=False)
    s = make_corpus({"a.txt": "hello"})
    where = ["--corpus", str(s.corpus), "--index", str(s.index), "--port", str(free_port())]
    assert main(["serve", "--host", "0.0.0.0", *where]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs sign-in" in err and "users add" in err and "--no-auth" in err
    assert not s.index.exists()  # refused before anything was built
    assert main(["serve", "--host", "0.0.0.0", "--users", str(tmp_path / "none.toml"), *where]) == 1
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty.toml").write_text("")
    assert main(["serve", "--users", str(tmp_path / "empty.toml"), *where]) == 1
    assert "holds no users" in capsys.readouterr().err
    assert main(["serve", "--no-auth", "--users", str(tmp_path / "empty.toml"), *where]) == 1
    assert "contradict" in capsys.readouterr().err


@pytest.mark.slow
def test_no_auth_serves_every_address_on_purpose(bot, article_settings, tmp_path):
    s = copy_settings(article_settings, tmp_path)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "BOT_USERS"}
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve", "--host", "0.0.0.0", "--no-auth", "--port",
                             str(port), "--corpus", str(s.corpus), "--index", str(s.index)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until_up(f"http://127.0.0.1:{port}/", 120), "the server did not come up"
        from gradio_client import Client
        d = Client(f"http://127.0.0.1:{port}/", verbose=False).predict("Who owns forecasting?", api_name="/ask")
        assert d["citations"]
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "without sign-in (--no-auth)" in err


# --- sign-in failures slow down --------------------------------------------------------------------

class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_throttle_doubles_the_wait_after_five_failures():
    clock = Clock()
    t = Throttle(clock)
    keys = ["name:rita", "address:10.0.0.7"]
    delays = [t.failed(keys) for _ in range(FREE_FAILURES + 4)]
    assert delays == [0, 0, 0, 0, 1, 2, 4, 8, 16]
    assert t.wait(["name:rita"]) == 16 and t.wait(["address:10.0.0.7"]) == 16 and t.wait(["name:eddie"]) == 0
    clock.now += 16
    assert t.wait(keys) == 0
    t.succeeded("name:rita")  # a success clears the name, not the address
    assert t.failures("name:rita") == 0 and t.failures("address:10.0.0.7") == FREE_FAILURES + 4
    assert max(t.failed(["address:10.0.0.7"]) for _ in range(12)) == 600  # capped at ten minutes


def test_sign_in_checks_the_hash_and_refuses_while_the_name_must_wait(tmp_path, capsys):
    path = tmp_path / "users.toml"
    users.add(path, READER, "reader", READER_PW)
    clock = Clock()
    signin = SignIn(users.Directory(path), Throttle(clock))
    assert signin.check(READER, READER_PW, "10.0.0.7")
    for _ in range(FREE_FAILURES):
        assert not signin.check(READER, "wrong-password", "10.0.0.7")
    assert not signin.check(READER, READER_PW, "10.0.0.8")  # the right password, but the name must wait 1 s
    clock.now += 1
    assert signin.check(READER, READER_PW, "10.0.0.8")
    assert not signin.check("nobody", READER_PW) and not signin.check("x" * 5000, READER_PW)
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert sum("sign-in failed user=rita" in x for x in lines) == FREE_FAILURES
    assert sum("sign-in refused user=rita" in x and "next attempt in 1 s" in x for x in lines) == 1
    assert "wrong-password" not in err and READER_PW not in err and "x" * 100 not in err
    assert "user=(not a user name, 5000 characters)" in err
    assert SignIn.keys("x" * 5000, None) == SignIn.keys("a b", None) == ["name:(not a user name)"]


def test_a_burst_of_guesses_is_checked_one_at_a_time(tmp_path, capsys):
    """Parallel attempts queue per name, so the sixth waits out the delay the fifth failure set."""
    from bot.ui.access import Access
    path = tmp_path / "users.toml"
    users.add(path, READER, "reader", READER_PW)
    access = Access(path)

    async def burst():
        done = []

        async def attempt():
            ok = await access.auth(READER, "wrong-password")
            done.append(time.monotonic())
            return ok
        results = await asyncio.gather(*(attempt() for _ in range(FREE_FAILURES + 1)))
        return results, sorted(done)
    results, done = asyncio.run(burst())
    assert results == [False] * (FREE_FAILURES + 1)
    assert done[-1] - done[-2] >= 1.0  # the last one slept out the 1 s delay before its check
    assert capsys.readouterr().err.count("sign-in failed user=rita") == FREE_FAILURES + 1


# --- limits and the audit log ------------------------------------------------------------------------

def test_uploads_stop_at_the_total_size_of_the_documents(make_corpus):
    s = make_corpus({"a.txt": "x" * 600}, max_corpus_bytes=1000)
    documents.save(s, "b.txt", b"y" * 300)
    with pytest.raises(UploadError, match="over the 1,000-byte limit for all documents: remove some first"):
        documents.save(s, "c.txt", b"z" * 101)
    assert sorted(p.name for p in s.corpus.iterdir()) == ["a.txt", "b.txt"]
    documents.save(s, "b.txt", b"w" * 400, replace=True)  # a replaced file's old size no longer counts
    assert (s.corpus / "b.txt").read_bytes() == b"w" * 400


def test_audit_and_feedback_lines_name_the_user(make_corpus):
    s = make_corpus({"a.txt": "hello"})
    entry = audit.record(s, "upload", "eddie", "a.txt", audit.sha256(b"hello"))
    line = json.loads(audit.path(s).read_text())
    assert line == entry and set(line) == {"time", "user", "action", "file", "sha256"}
    assert audit.path(s).parent == s.feedback.parent
    assert line["sha256"] == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    fb = feedback.record(s, {"question": "q", "answer": "a"}, "up", answer_id="x1", user="rita")
    assert fb["user"] == "rita" and json.loads(s.feedback.read_text())["user"] == "rita"


# --- the real server with a users file ---------------------------------------------------------------

@pytest.fixture(scope="module")
def team(bot, article_settings, tmp_path_factory):
    folder = tmp_path_factory.mktemp("team")
    settings = copy_settings(article_settings, folder)
    path = folder / "team-users.toml"
    users.add(path, READER, "reader", READER_PW)
    users.add(path, EDITOR, "editor", EDITOR_PW)
    url, demo, engine = start(settings, users=path)
    yield url, settings, engine, path
    demo.close()


def client(url, who=None):
    from gradio_client import Client
    return Client(url, auth={READER: (READER, READER_PW), EDITOR: (EDITOR, EDITOR_PW)}.get(who, who), verbose=False)


def audit_lines(settings) -> list[dict]:
    p = audit.path(settings)
    return [json.loads(x) for x in p.read_text().splitlines()] if p.exists() else []


@pytest.mark.slow
def test_ask_needs_credentials_and_a_reader_gets_the_cited_answer(team, capsys):
    import httpx
    url, *_ = team
    with pytest.raises(Exception, match="credentials were not provided"):
        client(url)
    r = httpx.post(f"{url}gradio_api/call/ask", json={"data": ["Who owns forecasting?", None]}, timeout=30)
    assert r.status_code == 401
    with pytest.raises(Exception, match="Could not login"):
        client(url, (READER, "not-the-password"))
    assert "sign-in failed user=rita: wrong name or password from 127.0.0.1" in capsys.readouterr().err
    d = client(url, READER).predict("Who owns forecasting?", api_name="/ask")
    assert not d["refused"] and "[1]" in d["answer"] and "Verkaufsprognose" in d["answer"]
    assert d["citations"][0]["source"] == f"corpus/{ARTICLE.name}"


@pytest.mark.slow
def test_a_reader_cannot_change_the_documents_through_the_api(team, tmp_path, capsys):
    from gradio_client import handle_file
    url, settings, _, _ = team
    reader = client(url, READER)
    with pytest.raises(Exception, match="only editors may remove documents"):
        reader.predict(ARTICLE.name, api_name="/remove")
    assert (settings.corpus / ARTICLE.name).is_file()
    doc = tmp_path / "zanzibar.txt"
    doc.write_text(DOC)
    with pytest.raises(Exception, match="403"):  # turned away before Gradio stores the file
        reader.predict([handle_file(str(doc))], False, api_name="/upload")
    assert not (settings.corpus / "zanzibar.txt").exists()
    assert not [x for x in audit_lines(settings) if x["user"] == READER]
    err = capsys.readouterr().err
    assert "rejected user=rita: remove: only editors may remove documents" in err
    assert "rejected user=rita: file upload: only editors may add documents" in err and "Traceback" not in err


@pytest.mark.slow
def test_an_editor_adds_and_removes_and_the_audit_log_has_the_lines(team, tmp_path):
    from gradio_client import handle_file
    url, settings, _, _ = team
    editor = client(url, EDITOR)
    doc = tmp_path / "zanzibar.txt"
    doc.write_text(DOC)
    _, _, notice = editor.predict([handle_file(str(doc))], False, api_name="/upload")
    assert "Added zanzibar.txt" in notice and (settings.corpus / "zanzibar.txt").read_text() == DOC
    d = client(url, READER).predict("Who owns the Zanzibar protocol?", api_name="/ask")
    assert "Priya Raman" in d["answer"]
    assert editor.predict("zanzibar.txt", api_name="/remove") == "Removed zanzibar.txt."
    assert not (settings.corpus / "zanzibar.txt").exists()
    digest = audit.sha256(DOC.encode())
    lines = [x for x in audit_lines(settings) if x["file"] == "zanzibar.txt"]
    assert [(x["user"], x["action"], x["sha256"]) for x in lines] == [(EDITOR, "upload", digest),
                                                                      (EDITOR, "remove", digest)]


@pytest.mark.slow
def test_rejected_calls_log_one_line_each_never_the_input(team, capsys):
    import httpx
    url, *_ = team
    http = httpx.Client(timeout=60)
    assert http.post(f"{url}login", data={"username": READER, "password": READER_PW}).status_code == 200
    capsys.readouterr()
    big = "x" * 100_000
    calls = {"missing argument (1 of 2 values given)": [big], "missing argument (0 of 2 values given)": [],
             "the question is empty": ["  ", None], "the question is a int": [12, None],
             "history must be a list of strings": ["Who owns forecasting?", big]}
    for reason, data in calls.items():
        event = http.post(f"{url}gradio_api/call/ask", json={"data": data}).json()["event_id"]
        result = http.get(f"{url}gradio_api/call/ask/{event}").text
        assert "event: error" in result and reason in result and big not in result
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == len(calls) and "Traceback" not in "\n".join(lines)
    for line, reason in zip(lines, calls):
        assert line.endswith(f"rejected user=rita: /ask: {reason}") or f"rejected user=rita: /ask: {reason}" in line
        assert len(line) < 200 and "xxxxxxxxxx" not in line


@pytest.mark.slow
def test_a_removed_user_is_signed_out_at_the_next_request(team, capsys):
    url, _, _, path = team
    users.add(path, "carol", "reader", "carols-password")
    carol = client(url, ("carol", "carols-password"))
    assert carol.predict("Who owns forecasting?", api_name="/ask")["citations"]
    users.remove(path, "carol")
    with pytest.raises(Exception):
        carol.predict("Who owns forecasting?", api_name="/ask")
    assert "rejected user=carol: /ask: carol is not in the users file (removed?): signed out" in \
        capsys.readouterr().err


# --- the page in Chromium ------------------------------------------------------------------------------

from browser_kit import ARGS, CHROMIUM, LOCAL, ask, browser, feedback_lines, upload  # noqa: E402,F401 (browser: a fixture)


@pytest.fixture
def signed_in(browser, team):
    """signed_in(name, password) -> a fresh browser session's page after the sign-in form."""
    contexts, outside = [], []

    def open_(name, password, expect_page=True):
        ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("request", lambda r: None if r.url.startswith(LOCAL) else outside.append(r.url))
        page.goto(team[0])
        page.wait_for_selector("input[type=password]", timeout=30_000)
        page.fill("input[type=text]", name)
        page.fill("input[type=password]", password)
        page.keyboard.press("Enter")
        if expect_page:
            page.wait_for_selector("#question textarea", timeout=30_000)
            page.wait_for_selector("#documents .doc", timeout=30_000)
        return page
    yield open_
    for ctx in contexts:
        ctx.close()
    assert not outside, f"requests outside 127.0.0.1: {outside}"


@pytest.mark.slow
def test_a_reader_signs_in_sees_no_remove_and_a_forged_remove_is_refused(signed_in, team, capsys):
    _, settings, _, _ = team
    page = signed_in(READER, "not-the-password", expect_page=False)
    page.wait_for_selector("text=Incorrect credentials", timeout=30_000)
    assert page.locator("#question").count() == 0
    page = signed_in(READER, READER_PW)
    assert "Signed in as rita (reader)" in page.locator("#app-status").inner_text()
    assert ARTICLE.name in page.locator("#documents").inner_text()
    assert page.locator("#documents button.rm").count() == 0
    assert page.locator("#upload-row").count() == 0 or not page.locator("#upload-row").is_visible()
    answer = ask(page, "Who owns forecasting?")
    assert "[1]" in answer and "Verkaufsprognose" in answer
    settings.feedback.unlink(missing_ok=True)
    page.locator("#chat .message-buttons").nth(1).locator('button[aria-label="Like"]').click()
    assert feedback_lines(settings, 1)[0]["user"] == READER

    # What the page's Remove button would send, sent by hand from the reader's session.
    capsys.readouterr()
    page.evaluate("""(name) => {
        const t = document.querySelector('#bridge textarea, #bridge input');
        t.value = JSON.stringify({op: 'remove', name: name, t: Date.now()});
        t.dispatchEvent(new Event('input', {bubbles: true}));
        setTimeout(() => document.querySelector('#bridge-go').click(), 0);
    }""", ARTICLE.name)
    page.wait_for_selector("#upload-notice:has-text('only editors may remove documents')", timeout=30_000)
    assert (settings.corpus / ARTICLE.name).is_file()
    assert "rejected user=rita: remove: only editors may remove documents" in capsys.readouterr().err

    page.locator("#app-status a", has_text="Sign out").click()
    page.wait_for_selector("input[type=password]", timeout=30_000)


@pytest.mark.slow
def test_an_editor_signs_in_uploads_and_removes_on_the_page(signed_in, team, tmp_path):
    _, settings, _, _ = team
    page = signed_in(EDITOR, EDITOR_PW)
    assert "Signed in as eddie (editor)" in page.locator("#app-status").inner_text()
    assert page.locator("#documents button.rm").count() == 1
    doc = tmp_path / "pagenotes.txt"
    doc.write_text(DOC)
    upload(page, doc, "Added pagenotes.txt")
    row = page.locator("#documents li.doc", has_text="pagenotes.txt")
    row.locator("button.rm").click()
    row.locator(".confirm .rm-yes").click()
    page.wait_for_selector("#upload-notice:has-text('Removed pagenotes.txt')", timeout=60_000)
    assert not (settings.corpus / "pagenotes.txt").exists()
    lines = [x for x in audit_lines(settings) if x["file"] == "pagenotes.txt"]
    assert [(x["user"], x["action"]) for x in lines] == [(EDITOR, "upload"), (EDITOR, "remove")]
