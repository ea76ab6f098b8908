"""A real browser (Debian chromium driven by Python playwright, fixture ``browser`` in conftest) sees the leaderboard plot
render. The Search tab's browser walk is ``test_browser_search.py``, Compare's ``test_browser_compare.py``."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_leaderboard_in_a_real_browser(browser, app_url, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(app_url, wait_until="load")
    page.get_by_role("tab", name="Leaderboard").click()
    page.wait_for_selector("#quality-plot .js-plotly-plot .main-svg", timeout=60_000)
    assert page.locator("#quality-plot .js-plotly-plot .scatterlayer .trace").count() >= 2
    page.screenshot(path=str(tmp_path / "leaderboard.png"), full_page=True)
    assert (tmp_path / "leaderboard.png").stat().st_size > 10_000
    page.close()
