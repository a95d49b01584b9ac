"""Shared pieces of the browser tests: a real headless Chromium (Debian's, never downloaded), a real
server over a private copy of the article, and helpers to ask as a user does.

Every page opened through open_page fails its test if it requests anything outside 127.0.0.1 or
a script opens a dialog. Screenshots go to screenshots/ (gitignored).
"""
import json
import time
from pathlib import Path

import pytest

from ui_server import copy_settings, start

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
SHOTS = Path(__file__).resolve().parent.parent / "screenshots"
LOCAL = ("http://127.0.0.1:", "data:", "blob:", "about:")
BOT = '#chat [data-testid="bot"]'
ARTICLE = "vertriebsleiter-vs-vertriebsoperationsleiter.txt"
DESKTOP = dict(width=1280, height=800)
PHONE = dict(width=390, height=844, device_scale_factor=2, is_mobile=True, has_touch=True)
DICTIONARY = Path("/usr/share/trans/de-en")  # Debian's trans-de-en: glosses need it


def need_dictionary() -> None:
    """Skip a gloss test only where the dictionary is missing; where it is installed, a missing gloss fails."""
    if not DICTIONARY.is_file():
        pytest.skip(f"{DICTIONARY} is missing: apt-get install trans-de-en (glosses come from it)")


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
    yield url, settings, engine
    demo.close()


def opener(browser, url, contexts, outside, dialogs, ready=True):
    def open_(size=DESKTOP, context=None, **kw):
        size = dict(size)
        viewport = {"width": size.pop("width"), "height": size.pop("height")}
        ctx = context or browser.new_context(viewport=viewport, **size, **kw)
        contexts.append(ctx)
        page = ctx.new_page()
        page.on("request", lambda r: None if r.url.startswith(LOCAL) else outside.append(r.url))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(url)
        page.wait_for_selector("#question textarea", timeout=30_000)
        if ready:
            page.wait_for_selector("#documents .doc button.rm", timeout=30_000)
        return page
    return open_


@pytest.fixture
def open_page(browser, server):
    """open_page(size) -> a fresh browser session's page; fails the test on outside requests or dialogs."""
    contexts, outside, dialogs = [], [], []
    yield opener(browser, server[0], contexts, outside, dialogs)
    for ctx in set(contexts):
        ctx.close()
    assert not outside, f"requests left the machine: {outside}"
    assert not dialogs, f"a script ran or a dialog opened: {dialogs}"


def shot(page, name: str, full_page: bool = False) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def send(page, question: str) -> int:
    """Type the question and press Enter; the number of bot messages before it."""
    before = page.locator(BOT).count()
    page.fill("#question textarea", question)
    page.press("#question textarea", "Enter")
    return before


def ask_done(page, before: int, timeout: int = 30_000) -> str:
    """The text of the answer after the first `before` bot messages, once it is finished (.ans)."""
    page.wait_for_function(
        "([sel, n]) => { const b = document.querySelectorAll(sel); return b.length > n && b[n].querySelector('.ans'); }",
        arg=[BOT, before], timeout=timeout)
    return page.locator(BOT).nth(before).inner_text()


def ask(page, question: str) -> str:
    return ask_done(page, send(page, question))


def upload(page, path, notice: str, timeout: int = 90_000) -> None:
    """Add a file through the documents panel's file input; wait until the notice says notice."""
    page.locator("#upload-row input[type=file]").set_input_files(str(path))
    page.wait_for_selector(f"#upload-notice:has-text('{notice}')", timeout=timeout)


def no_horizontal_overflow(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def box_is_empty_at_once(page, within_ms: int = 250) -> bool:
    """Emptied in the browser right after Enter: within a few frames, no server round trip needed."""
    try:
        page.wait_for_function("document.querySelector('#question textarea').value === ''", polling="raf",
                               timeout=within_ms)
        return True
    except Exception:
        return False


def feedback_lines(settings, want: int, deadline: float = 10) -> list[dict]:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        text = settings.feedback.read_text(encoding="utf-8") if settings.feedback.exists() else ""
        lines = [json.loads(x) for x in text.splitlines() if x.strip()]
        if len(lines) == want and text.endswith("\n"):
            return lines
        time.sleep(0.1)
    return lines


