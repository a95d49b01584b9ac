"""The page with a screen reader's and a keyboard user's needs: axe-core run inside the real page
at desktop and phone width, and the chips, viewer and glosses worked from the keyboard alone.

axe-core (MPL-2.0) comes from the npm registry at the version pinned in tests/a11y/package-lock.json:
`make axe` (part of `make test`) installs it into tests/a11y/node_modules; without npm these tests
skip and say so.
"""
from pathlib import Path

import pytest

from browser_kit import BOT, DESKTOP, PHONE, ask, browser, need_dictionary, open_page, server, shot, upload  # noqa: F401

AXE = Path(__file__).resolve().parent / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
DOC = "# Zanzibar notes\n\nThe Zanzibar protocol is owned by the platform team, led by Priya Raman.\n"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.is_file():
        pytest.skip("axe-core is not installed: `make axe` fetches it from npm (apt-get install npm)")
    return AXE.read_text(encoding="utf-8")


def serious(page, axe_source: str) -> list[str]:
    """axe-core's serious and critical violations in the page as it is now: "rule: element, ..."."""
    if not page.evaluate("!!window.axe"):
        page.add_script_tag(content=axe_source)
    return page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
          .map(v => `${v.id} (${v.impact}): ${v.nodes.map(n => n.target.join(' ')).join(', ')}`);
    }""")


def markup_labels(page) -> list[str]:
    return page.evaluate("[...document.querySelectorAll('[aria-label]')].map(e => e.getAttribute('aria-label'))"
                         ".filter(l => /<[a-z\\/]/i.test(l))")


def focused(page) -> dict:
    """What has the keyboard's focus: its classes, label, and whether a focus ring is drawn."""
    return page.evaluate("""() => { const a = document.activeElement; const s = getComputedStyle(a);
        return {cls: a.className || '', tag: a.tagName, label: a.getAttribute('aria-label') || '',
                text: (a.innerText || '').slice(0, 80), ring: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2,
                viewer: !!a.closest('.viewer'), answer: !!a.closest('.ans'),
                tip: getComputedStyle(a, '::after').content}; }""")


def tab_until(page, test: str, key: str = "Tab", limit: int = 60) -> dict:
    """Press key until the focused element passes test (a JS expression over `a`, the element)."""
    for _ in range(limit):
        page.keyboard.press(key)
        if page.evaluate(f"(() => {{ const a = document.activeElement; return !!({test}); }})()"):
            return focused(page)
    raise AssertionError(f"{test} was never reached with {key}; focus is on {focused(page)}")


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_no_serious_axe_violation_after_an_answer_and_with_a_citation_open(open_page, axe_source, size):
    page = open_page(size)
    name = "desktop" if size is DESKTOP else "phone"
    ask(page, "Who owns forecasting?")
    page.wait_for_timeout(300)
    assert serious(page, axe_source) == []
    assert markup_labels(page) == []  # Gradio labels messages with their HTML; the page takes that out
    if size is PHONE:
        page.locator("#sources-toggle").click()
        page.wait_for_timeout(400)
        assert serious(page, axe_source) == []
        page.locator("#sources-toggle").click()
    page.locator(f"{BOT} button.cite").first.click()
    page.wait_for_selector("#sources-panel .viewer #cited", timeout=10_000)
    page.wait_for_timeout(400)
    assert serious(page, axe_source) == []
    assert markup_labels(page) == []
    shot(page, f"{name}-a11y-viewer")


def test_no_serious_axe_violation_with_the_documents_panel_in_use(open_page, server, axe_source, tmp_path):
    _, settings, _ = server
    page = open_page(DESKTOP)
    doc = tmp_path / "zanzibar-notes.md"
    doc.write_text(DOC, encoding="utf-8")
    upload(page, doc, "Added zanzibar-notes.md")
    assert serious(page, axe_source) == []
    row = page.locator("#documents li.doc", has_text="zanzibar-notes.md")
    row.locator("button.rm").click()
    assert serious(page, axe_source) == []  # the confirmation in the row
    row.locator(".confirm .rm-yes").click()
    page.wait_for_selector("#upload-notice:has-text('Removed zanzibar-notes.md')", timeout=60_000)
    assert serious(page, axe_source) == []
    assert not (settings.corpus / "zanzibar-notes.md").exists()
    phone = open_page(PHONE)
    phone.locator("#documents li.doc button.rm").first.click()
    assert serious(phone, axe_source) == []
    phone.locator("#documents .confirm .rm-no").click()


def test_chips_viewer_and_glosses_work_from_the_keyboard_with_visible_focus(open_page):
    page = open_page(DESKTOP)
    ask(page, "Who owns forecasting?")
    page.locator("#question textarea").focus()
    # Back from the question box into the answer: its chips are buttons in the tab order.
    chip = tab_until(page, "a.matches('button.cite')", key="Shift+Tab")
    assert chip["ring"] and chip["label"].startswith("Source ")
    page.keyboard.press("Enter")
    page.wait_for_selector("#sources-panel .viewer #cited", timeout=10_000)
    page.wait_for_function("document.activeElement.matches('.viewer')", timeout=5_000)
    viewer = focused(page)
    assert viewer["label"].startswith("Source ") and "in its document" in viewer["label"]
    page.keyboard.press("Tab")
    back = focused(page)
    assert back["text"].startswith("← Sources") and back["ring"]
    shot(page, "desktop-keyboard-viewer")
    page.keyboard.press("Escape")  # as "← Sources": the cards again, from the top
    page.wait_for_selector("#sources-panel .src-card", timeout=10_000)
    page.wait_for_function("document.activeElement.matches('.src-head')", timeout=5_000)
    assert page.evaluate("document.querySelector('#sources-panel').scrollTop") == 0
    show = tab_until(page, "a.matches('button.open-doc')")
    assert show["ring"] and show["label"] == "Show in document: source 1"
    page.keyboard.press("Enter")
    page.wait_for_function("document.activeElement.matches('.viewer')", timeout=10_000)
    page.keyboard.press("Escape")
    page.wait_for_function("document.activeElement.matches('.src-head')", timeout=10_000)


def test_answer_glosses_open_on_keyboard_focus_and_enter(open_page):
    need_dictionary()
    page = open_page(DESKTOP)
    ask(page, "Who owns forecasting?")
    page.locator("#question textarea").focus()
    gloss = tab_until(page, "a.matches('.ans .gl')", key="Shift+Tab")
    title = page.evaluate("document.activeElement.title")
    assert gloss["ring"] and title and title in gloss["tip"]  # the gloss shows on focus
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.classList.contains('open')")
    page.keyboard.press("Escape")
    assert not page.evaluate("document.activeElement.classList.contains('open')")
