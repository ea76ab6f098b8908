"""A real browser (Debian chromium driven by playwright; fixtures ``browser`` and ``app_url`` in conftest), at desktop
and phone width, reads the leaderboard's tables and the Reproduce tab as a person does: no ``nan`` in any cell, no header
broken inside a word, and no untranslated Gradio i18n key (``common.complete``) anywhere on the page, announcements to
screen readers included."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.slow

TABLES = ("#quality-table", "#embedder-table", "#speed-table", "#ablation-table")
NAN = re.compile(r"\bnan\b", re.IGNORECASE)
I18N_KEY = re.compile(r"\b(?:common|chatbot|dataframe|errors|upload_text|blocks)\.[a-z_]+\b")

# Every text that ever appears in a screen-reader region (``role=status``): Gradio clears them a second later.
RECORD_ANNOUNCEMENTS = """
window.__announced = [];
new MutationObserver(() => {
  for (const el of document.querySelectorAll('[role="status"]')) {
    const t = (el.textContent || '').trim();
    if (t && !window.__announced.includes(t)) window.__announced.push(t);
  }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""

# For each header cell of a table: its words that the browser drew on more than one line (broken inside the word).
BROKEN_HEADER_WORDS = """
(sel) => {
  const broken = [];
  for (const th of document.querySelectorAll(sel + ' [role="columnheader"]')) {
    const walker = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
    let node;
    while ((node = walker.nextNode())) {
      if (node.parentElement.closest('button')) continue;
      for (const m of node.textContent.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const tops = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
        if (tops.size > 1) broken.push(th.innerText.trim() + ' → ' + m[0]);
      }
    }
  }
  return broken;
}
"""


def _cells(page, table: str) -> list[str]:
    return page.eval_on_selector_all(
        f'{table} [role="columnheader"], {table} [role="gridcell"]', "els => els.map(e => e.innerText.trim())"
    )


def _open_tab(page, name: str) -> None:
    """Click a tab: every tab is a visible button at every width (``demo/app.css`` wraps the overflow ones)."""
    page.locator("[role=tablist] button:visible, .overflow-dropdown button:visible", has_text=name).first.click()


@pytest.mark.parametrize("width,height", [(1400, 1000), (390, 844)], ids=["desktop", "phone"])
def test_tables_read_as_words_without_nan_or_raw_keys(browser, app_url, width, height):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.add_init_script(RECORD_ANNOUNCEMENTS)
    page.goto(app_url, wait_until="load")
    _open_tab(page, "Leaderboard")
    for table in TABLES:
        page.wait_for_selector(f'{table} [role="gridcell"]', timeout=60_000)
    page.wait_for_timeout(7_000)  # Gradio announces "complete" up to 5 s after an event ends
    for table in TABLES:
        page.locator(table).scroll_into_view_if_needed()
        cells = _cells(page, table)
        assert len(cells) > 10, table
        assert not [c for c in cells if NAN.search(c)], table
        assert page.evaluate(BROKEN_HEADER_WORDS, table) == [], table
    _open_tab(page, "Reproduce")
    page.wait_for_timeout(1_000)
    body = page.locator("body").inner_text()
    assert "python -m eval leaderboard" in body and not NAN.search(body)
    announced = page.evaluate("window.__announced")
    raw = [t for t in [*announced, page.evaluate("document.body.textContent")] if I18N_KEY.search(t)]
    assert raw == []
    page.close()
