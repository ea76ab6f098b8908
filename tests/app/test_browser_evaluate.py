"""The Evaluate tab in a real browser (Debian chromium driven by playwright; fixtures ``browser`` and ``app_url`` in
conftest) at desktop and phone width, as a visitor uses it: preview the bundled SciFact, a seeded sample of three
queries, BM25 top-3 reranked by the 17m replica, Run; the results (table without ``nan``, recommendation, chart, the
CLI command) are readable and nothing is wider than the screen."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.slow

NAN = re.compile(r"\bnan\b", re.IGNORECASE)


def _only_reranker(page, key: str) -> None:
    boxes = page.locator("#evaluate-rerankers label")
    for i in range(boxes.count()):
        label = boxes.nth(i)
        box = label.locator("input[type=checkbox]")
        if box.is_checked() != label.inner_text().strip().startswith(key):
            label.click()


@pytest.mark.parametrize("width,height", [(1400, 1000), (390, 844)], ids=["desktop", "phone"])
def test_a_visitor_evaluates_a_sample_and_reads_the_results(browser, app_url, width, height):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(app_url, wait_until="load")
    page.locator("[role=tablist] button:visible, .overflow-dropdown button:visible", has_text="Evaluate").first.click()
    page.click("#evaluate-preview-button")
    page.wait_for_function("() => document.querySelector('#evaluate-preview').innerText.includes('judged queries')",
                           timeout=60_000)  # fmt: skip
    page.locator("#evaluate-k input[type=number]").fill("3")
    page.locator("#evaluate-sample input").fill("3")
    _only_reranker(page, "17m")
    page.click("#evaluate-run")
    page.wait_for_function("() => document.querySelector('#evaluate-status').innerText.includes('Done')",
                           timeout=240_000)  # fmt: skip
    table = page.locator("#evaluate-table").inner_text()
    assert "bm25 → 17m" in table and not NAN.search(table)
    assert page.locator("#evaluate-recommendation").inner_text().startswith("Recommendation:")
    assert "python -m eval retrieval" in page.locator("#evaluate-command").inner_text()
    page.wait_for_selector("#evaluate-chart .js-plotly-plot .main-svg", timeout=30_000)
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 1  # nothing wider than the screen
    page.close()
