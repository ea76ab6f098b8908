"""A real browser (Debian chromium driven by Python playwright, fixture ``browser`` in conftest) runs a search and sees the
leaderboard plot render."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

QUERY = "A deficiency of vitamin B12 increases blood levels of homocysteine."


def test_search_then_leaderboard_in_a_real_browser(browser, app_url, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(app_url, wait_until="load")
    page.wait_for_selector("#search-btn", timeout=60_000)
    page.get_by_label("Query").first.fill(QUERY)
    page.click("#search-btn")
    grid = page.locator('#results [role="grid"]')
    # 10 result rows + the header row, once the search has finished
    page.wait_for_function(
        """() => { const g = document.querySelector('#results [role="grid"]');
                   const s = document.querySelector('#search-status');
                   return g && g.getAttribute('aria-rowcount') === '11' && s && s.innerText.includes('candidates'); }""",
        timeout=120_000,
    )
    text = grid.inner_text()
    for header in ("rank", "movement", "rerank_score", "first_stage_score", "title"):
        assert header in text
    assert any(arrow in text for arrow in ("↑", "↓", "="))
    status = page.locator("#search-status").inner_text()
    assert "random weights — scores meaningless" in status and "reranked by 17m" in status
    page.wait_for_selector("#movement-plot .js-plotly-plot .main-svg", timeout=60_000)
    page.screenshot(path=str(tmp_path / "search.png"), full_page=True)

    page.get_by_role("tab", name="Leaderboard").click()
    page.wait_for_selector("#quality-plot .js-plotly-plot .main-svg", timeout=60_000)
    assert page.locator("#quality-plot .js-plotly-plot .scatterlayer .trace").count() >= 2
    page.screenshot(path=str(tmp_path / "leaderboard.png"), full_page=True)
    assert (tmp_path / "search.png").stat().st_size > 10_000
    page.close()
