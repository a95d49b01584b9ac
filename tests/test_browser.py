"""The chat in a real headless Chromium: ask, see [1] and the cited excerpt, upload, vote, screenshots.

Needs Debian's chromium (/usr/bin/chromium) and the playwright Python package; never downloads a
browser. Screenshots go to screenshots/ (gitignored). Run with -s to see the latency numbers.
"""
import json
import statistics
import time
from pathlib import Path

import pytest

from ui_server import copy_settings, start

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]
SHOTS = Path(__file__).resolve().parent.parent / "screenshots"
LOCAL = ("http://127.0.0.1:", "data:", "blob:", "about:")
BOT = '#chat [data-testid="bot"]'
XSS_DOC = ("# Zanzibar\n\nThe Zanzibar protocol is owned by the platform team, led by Priya Raman. "
           "Its test string is <script>alert(1)</script> and <img src=x onerror=alert(1)> and ${alert(1)}.\n")
LATENCY_QUESTIONS = [
    "Who owns forecasting?", "What does a sales manager do?", "Wer entwickelt Verkaufsstrategien?",
    "Who analyses sales data?", "Welche Fähigkeiten braucht ein Vertriebsleiter?",
    "What does a sales operations manager do in a startup?", "Who sets sales targets?",
    "Wer ist für die Verkaufsprognose zuständig?", "Who manages the CRM system?", "Who coaches the sales team?",
]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (the test never downloads a browser)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(bot, article_settings, tmp_path_factory):
    settings = copy_settings(article_settings, tmp_path_factory.mktemp("browser"))
    url, demo, engine = start(settings)
    yield url, settings
    demo.close()


@pytest.fixture
def open_page(browser, server):
    """open_page(width, height) -> a fresh session's page; fails the test if anything non-local was requested."""
    contexts, outside, dialogs = [], [], []

    def open_(width=1280, height=900, **kw):
        ctx = browser.new_context(viewport={"width": width, "height": height}, **kw)
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("request", lambda r: None if r.url.startswith(LOCAL) else outside.append(r.url))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(server[0])
        page.wait_for_selector("#app-status:has-text('Knows')", timeout=30_000)
        page.wait_for_selector("#question textarea", timeout=30_000)
        return page

    yield open_
    for ctx in contexts:
        ctx.close()
    assert not outside, f"requests left the machine: {outside}"
    assert not dialogs, f"a script ran: {dialogs}"


def ask(page, question: str) -> str:
    """Type the question, press Enter, wait for the finished answer; its text."""
    before = page.locator(BOT).count()
    page.fill("#question textarea", question)
    page.press("#question textarea", "Enter")
    return ask_done(page, before)


def ask_done(page, before: int) -> str:
    """The text of the answer after the first `before` bot messages, once it is complete."""
    page.wait_for_function(
        "([sel, n]) => { const b = document.querySelectorAll(sel);"
        " return b.length > n + 1 && b[n].innerText.trim().length > 0; }",  # answer + its sources block
        arg=[BOT, before], timeout=20_000)
    return page.locator(BOT).nth(before).inner_text()


def no_horizontal_overflow(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_desktop_answer_shows_cited_excerpt_and_takes_a_vote(open_page, server):
    _, settings = server
    page = open_page(1280, 900)
    answer = ask(page, "Who owns forecasting?")
    assert "[1]" in answer
    card = page.locator("#sources-panel .src-card").first
    assert card.locator(".src-n").inner_text() == "[1]"
    assert "corpus/vertriebsleiter-vs-vertriebsoperationsleiter.txt" in card.inner_text()
    cited = " ".join(card.locator("mark").first.inner_text().split())
    assert cited and cited[:60] in " ".join(answer.split())  # the highlighted sentence is the one quoted
    assert no_horizontal_overflow(page)
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "desktop.png"), full_page=True)

    page.locator('#chat button[aria-label="Like"]').last.click()
    deadline = time.monotonic() + 10
    # The vote is written by the server thread: wait for a whole line, not just the file.
    while not (settings.feedback.exists() and settings.feedback.read_text(encoding="utf-8").endswith("\n")) \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    votes = [json.loads(x) for x in settings.feedback.read_text(encoding="utf-8").splitlines()]
    assert votes[-1]["vote"] == "up" and votes[-1]["question"] == "Who owns forecasting?"
    assert votes[-1]["citations"][0]["n"] == 1

    page.get_by_role("button", name="New conversation").click()
    page.wait_for_function(f"document.querySelectorAll('{BOT}').length === 0", timeout=10_000)
    assert page.locator("#sources-panel .src-card").count() == 0


def test_phone_width_german_example_in_its_own_session(open_page):
    page = open_page(390, 844, device_scale_factor=2, is_mobile=True, has_touch=True)
    assert page.locator(BOT).count() == 0  # a new browser session does not see other conversations
    page.get_by_role("button", name="Wer entwickelt Verkaufsstrategien?").click()
    page.wait_for_function(f"(() => {{ const b = document.querySelectorAll('{BOT}');"
                           " return b.length > 1 && b[0].innerText.includes('[1]'); })()", timeout=20_000)
    answer = page.locator(BOT).first.inner_text()
    assert "Verkaufsstrategien" in answer
    panel = page.locator("#sources-panel").inner_text()
    assert "ü" in panel or "ä" in panel or "ö" in panel or "ß" in panel  # umlauts arrive intact
    assert "\ufffd" not in panel + answer and "Ã" not in panel + answer
    assert no_horizontal_overflow(page)
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "phone.png"), full_page=True)


def test_uploaded_document_is_answered_and_shown_inertly(open_page, server, tmp_path):
    _, settings = server
    page = open_page(1280, 900)
    doc = tmp_path / "zanzibar.md"
    doc.write_text(XSS_DOC, encoding="utf-8")
    page.locator("input[type=file]").set_input_files(str(doc))
    page.wait_for_selector("#upload-notice:has-text('Added zanzibar.md')", timeout=90_000)
    assert "2 documents" in page.locator("#app-status").inner_text()
    assert (settings.corpus / "zanzibar.md").is_file()

    answer = ask(page, "Who owns the Zanzibar protocol?")
    assert "Priya Raman" in answer and "[1]" in answer
    panel = page.locator("#sources-panel")
    assert "corpus/zanzibar.md" in panel.inner_text()
    shown = panel.inner_text()
    assert "<script>alert(1)</script>" in shown and "<img src=x onerror=alert(1)>" in shown and "${alert(1)}" in shown
    assert panel.locator("script, img").count() == 0
    assert page.locator("#chat .message-content img, #chat .message-content script").count() == 0
    page.wait_for_timeout(300)  # give an injected handler the chance to fire (open_page fails on dialogs)
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "upload-inert.png"), full_page=True)


def test_time_to_first_streamed_text(open_page):
    """Enter -> first answer text in the page, measured by the page's own clock."""
    page = open_page(1280, 900)
    latencies = []
    for q in LATENCY_QUESTIONS:
        page.wait_for_selector("#question textarea")
        page.evaluate("""([sel]) => {
            const chat = document.querySelector('#chat');
            const before = document.querySelectorAll(sel).length;
            let t0 = null;
            window.__first = new Promise(resolve => {
              document.querySelector('#question textarea').addEventListener('keydown', e => {
                if (e.key === 'Enter') t0 = performance.now(); }, {capture: true, once: true});
              const obs = new MutationObserver(() => {
                const b = document.querySelectorAll(sel);
                if (t0 !== null && b.length > before && b[before].innerText.trim()) {
                  obs.disconnect(); resolve([performance.now() - t0, b[before].innerText]); }
              });
              obs.observe(chat, {subtree: true, childList: true, characterData: true});
            });
        }""", [BOT])
        before = page.locator(BOT).count()
        page.fill("#question textarea", q)
        page.press("#question textarea", "Enter")
        ms, first_text = page.evaluate("window.__first")
        latencies.append(ms)
        final = ask_done(page, before)
        assert final.startswith(first_text.strip())  # what was timed is the start of the real answer
    median = statistics.median(latencies)
    print(f"\nEnter -> first streamed text: median {median:.0f} ms, min {min(latencies):.0f}, "
          f"max {max(latencies):.0f} over {len(latencies)} questions: {[round(x) for x in latencies]}")
    SHOTS.mkdir(exist_ok=True)
    (SHOTS / "latency.json").write_text(json.dumps({"median_ms": median, "all_ms": latencies}), encoding="utf-8")
    assert median < 1500  # target 300 ms; loose here so a loaded CI machine does not fail the suite
