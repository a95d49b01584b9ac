"""What a user meets on a phone (nothing covers a control or the drawer's text) and the viewer's state
(where "← Sources" comes back to, what removing a document does to the panel and the notice)."""
import pytest

from browser_kit import BOT, DESKTOP, PHONE, ask, browser, open_page, server, shot, upload  # noqa: F401

DOC = "# Zanzibar\n\nThe Zanzibar protocol is owned by the platform team, led by Priya Raman.\n"

pytestmark = pytest.mark.slow

# For each control on screen: is the element at its centre the control itself (or inside it)?
COVERED_CONTROLS = """() => {
  const out = [];
  for (const el of document.querySelectorAll('#main button, #main textarea, #main input[type=checkbox]')) {
    if (el.closest('#sources-panel')) continue;  // the drawer: checked on its own
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height || getComputedStyle(el).visibility === 'hidden') continue;
    const x = r.left + r.width / 2, y = r.top + r.height / 2;
    if (y < 0 || y >= innerHeight || x < 0 || x >= innerWidth) continue;
    let clipped = false;  // scrolled out of sight inside a scrolling box (the chat): not covered, just not shown
    for (let a = el.parentElement; a && !clipped; a = a.parentElement) {
      if (getComputedStyle(a).overflowY === 'visible') continue;
      const b = a.getBoundingClientRect();
      clipped = y < b.top || y >= b.bottom || x < b.left || x >= b.right;
    }
    if (clipped) continue;
    const top = document.elementFromPoint(x, y);
    if (top && !el.contains(top) && !top.contains(el))
      out.push(`${el.id || el.className || el.tagName} "${(el.innerText || '').trim().slice(0, 30)}" under ` +
               `${top.id || top.className || top.tagName} "${(top.innerText || '').trim().slice(0, 30)}"`);
  }
  return out;
}"""

# Points over the open drawer's text: is what the user sees there the drawer's own content?
COVERED_TEXT = """() => {
  const panel = document.querySelector('#sources-panel');
  const box = panel.getBoundingClientRect();
  const out = [];
  for (const el of panel.querySelectorAll('.src-text, .doc-text, .src-file, .src-head')) {
    for (const r of el.getClientRects()) {
      for (let y = r.top + 4; y < r.bottom; y += 12) for (let x = r.left + 4; x < r.right; x += 16) {
        if (y < Math.max(0, box.top) || y >= Math.min(innerHeight, box.bottom)) continue;
        const top = document.elementFromPoint(x, y);
        if (top && !panel.contains(top))
          out.push(`${top.id || top.className || top.tagName} "${(top.innerText || top.getAttribute('aria-label') || '')
                    .trim().slice(0, 30)}" at ${Math.round(x)},${Math.round(y)}`);
      }
    }
  }
  return [...new Set(out)];
}"""


def test_phone_nothing_covers_a_control_at_any_scroll_position(open_page):
    page = open_page(PHONE)
    ask(page, "Who owns forecasting?")
    covered = set()
    height = page.evaluate("document.documentElement.scrollHeight")
    for y in range(0, height, 30):
        page.evaluate(f"window.scrollTo(0, {y})")
        covered.update(page.evaluate(COVERED_CONTROLS))
    assert not covered, sorted(covered)
    toggle = page.locator("#sources-toggle")
    toggle.scroll_into_view_if_needed()
    assert toggle.is_visible() and toggle.inner_text().startswith("Sources (")


def test_phone_drawer_text_is_never_covered(open_page):
    """Neither the chat's ↓ arrow nor the drawer's own "Close sources" lies over the quoted text."""
    page = open_page(PHONE)
    ask(page, "Who owns forecasting?")
    ask(page, "Wer entwickelt Verkaufsstrategien?")
    # Scrolled back to the first answer, the chat shows its ↓ "scroll to the latest" arrow.
    page.evaluate("document.querySelector('#chat .bubble-wrap').scrollTop = 0")
    page.wait_for_timeout(300)
    page.locator("#sources-toggle").click()
    page.wait_for_timeout(400)
    assert page.locator("#sources-panel").bounding_box()["y"] < 844 * 0.5
    for where in ("0", "panel.scrollHeight / 2", "panel.scrollHeight"):
        page.evaluate(f"(() => {{ const panel = document.querySelector('#sources-panel'); panel.scrollTop = {where}; }})()")
        page.wait_for_timeout(150)
        assert page.evaluate(COVERED_TEXT) == [], where
    shot(page, "phone-drawer-bottom")
    close = page.locator("#sources-toggle")
    assert close.inner_text() == "Close sources" and close.is_visible()
    close.click()
    page.wait_for_timeout(400)
    assert page.locator("#sources-panel").bounding_box()["y"] >= 844 - 1
    # A chip opens the drawer at the passage; its text too is uncovered.
    page.locator(f"{BOT} button.cite").first.click()
    page.wait_for_selector("#sources-panel .viewer #cited", timeout=20_000)
    page.wait_for_timeout(400)
    assert page.evaluate(COVERED_TEXT) == []
    shot(page, "phone-drawer-viewer")


def test_back_to_sources_starts_at_the_first_card(open_page):
    page = open_page(DESKTOP)
    ask(page, "Who owns forecasting?")
    page.locator(f"{BOT} button.cite").last.click()
    page.wait_for_selector("#sources-panel .viewer #cited", timeout=20_000)
    page.wait_for_timeout(400)
    assert page.evaluate("document.querySelector('#sources-panel').scrollTop") > 0  # at the passage
    page.locator("#sources-panel .viewer button.back").click()
    page.wait_for_selector("#sources-panel .src-card", timeout=20_000)
    page.wait_for_timeout(400)
    panel = page.locator("#sources-panel").bounding_box()
    first = page.locator("#sources-panel .src-card").first.bounding_box()
    assert page.evaluate("document.querySelector('#sources-panel').scrollTop") == 0
    assert panel["y"] <= first["y"] < panel["y"] + panel["height"] / 2  # card [1] whole at the top, not cut off
    shot(page, "desktop-back-to-sources")


def test_removing_a_document_says_so_at_once_and_clears_its_viewer(open_page, server, tmp_path):
    _, settings, _ = server
    page = open_page(DESKTOP)
    doc = tmp_path / "zanzibar.md"
    doc.write_text(DOC, encoding="utf-8")
    upload(page, doc, "Added zanzibar.md")
    assert "Priya Raman" in ask(page, "Who owns the Zanzibar protocol?")
    page.locator(f"{BOT} button.cite").last.click()
    page.wait_for_selector("#sources-panel .viewer #cited", timeout=20_000)
    assert "corpus/zanzibar.md" in page.locator("#sources-panel .viewer").inner_text()

    row = page.locator("#documents li.doc", has_text="zanzibar.md")
    row.locator("button.rm").click()
    row.locator(".confirm .rm-yes").click()
    # While it runs, the notice says what is happening, not the last upload's "Added ...".
    page.wait_for_selector("#upload-notice:has-text('Removing zanzibar.md')", timeout=10_000)
    assert "Added" not in page.locator("#upload-notice").inner_text()
    page.wait_for_selector("#upload-notice:has-text('Removed zanzibar.md')", timeout=60_000)
    assert not (settings.corpus / "zanzibar.md").exists()
    panel = page.locator("#sources-panel").inner_text()
    assert "corpus/zanzibar.md" not in panel and "Priya" not in panel
    assert "zanzibar.md was removed" in panel
    shot(page, "desktop-removed")
