"""A real browser (fixture ``browser`` in conftest) runs Compare over three sizes: the first size's result shows while
the next still runs (streaming), and Stop ends the comparison after the running size, the last one never loaded."""

from __future__ import annotations

import shutil
import time

import pytest

from demo.search.playground import Playground
from demo.tools.server import free_port

pytestmark = pytest.mark.slow

SLOW_SECONDS = 4.0  # the middle size takes this long to load, so the browser sees the partial result and can press Stop


@pytest.fixture(scope="module")
def compare_app(tmp_path_factory, replica_17m, app_results):
    """The app over three copies of the 17m replica (``a``, ``b``, ``c``); loading ``b`` is slowed down and every load
    recorded."""
    import app

    root = tmp_path_factory.mktemp("models-browser-compare")
    for name in ("a", "b", "c"):
        shutil.copytree(replica_17m, root / name)
    loaded: list[str] = []
    real = Playground.reranker

    def recorded(self, choice, precision="auto", **kwargs):
        loaded.append(choice.key)
        if choice.key == "b":
            time.sleep(SLOW_SECONDS)
        return real(self, choice, precision, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Playground, "reranker", recorded)
        demo = app.build_app(models_dir=root, results_dir=app_results, include_hub=False, default_first_stage="bm25")
        port = free_port()
        demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
        yield f"http://127.0.0.1:{port}", loaded
        demo.close()


def _status(page) -> str:
    return page.locator("#compare-status").inner_text()


def test_compare_streams_size_by_size_and_stop_runs_no_further_size(browser, compare_app, tmp_path):
    url, loaded = compare_app
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    page.goto(url, wait_until="load")
    page.get_by_role("tab", name="Compare sizes").click()
    page.locator("#compare-query textarea").fill("vitamin B12 homocysteine")
    page.locator("#compare-btn").click()
    page.wait_for_function(
        "() => { const s = document.querySelector('#compare-status'); return s && s.innerText.includes('1 of 3'); }",
        timeout=120_000,
    )
    status = _status(page)
    assert "running b" in status and "Agreement is measured against c (the largest size selected)" in status
    assert "Precision auto" in status
    table = page.locator("#compare-table").inner_text()
    assert "done" in table and "running…" in table and "waiting" in table  # a: done, b: running, c: waiting
    assert "nan" not in table.lower() and "Rerank (s)" in table and "rerank_s" not in table  # blank until it ran
    page.wait_for_selector("#compare-plot .js-plotly-plot .main-svg", timeout=30_000)
    assert "Rerank time for 20 documents" in page.locator("#compare-plot").inner_text()
    page.screenshot(path=str(tmp_path / "partial.png"))  # for a look when it fails
    page.locator("#compare-stop").click()
    page.wait_for_function(
        "() => document.querySelector('#compare-status').innerText.includes('Stopped after 2 of 3')", timeout=60_000
    )
    assert "not run: c" in _status(page) and "Stop pressed" in page.locator("#compare-stopped").inner_text()
    assert "not run (stopped)" in page.locator("#compare-table").inner_text()
    assert loaded == ["a", "b"]  # c never started
    page.locator("#compare-query textarea").fill("another claim entirely")  # the results shown are now earlier ones
    page.wait_for_function("() => document.getElementById('compare-status').dataset.stale === 'true' && "
                           "document.getElementById('compare-table').dataset.stale === 'true'", timeout=10_000)  # fmt: skip

    # Stop pressed while a compare waits for the one slot (another session's compare holds it): once the slot frees,
    # the stopped compare runs nothing
    waiting = browser.new_page(viewport={"width": 1400, "height": 1200})
    waiting.goto(url, wait_until="load")
    waiting.get_by_role("tab", name="Compare sizes").click()
    waiting.locator("#compare-query textarea").fill("homocysteine")
    loads_before = len(loaded)
    page.locator("#compare-btn").click()
    page.wait_for_function(
        "() => document.querySelector('#compare-status').innerText.includes('1 of 3')", timeout=120_000
    )
    waiting.locator("#compare-btn").click()
    waiting.wait_for_timeout(500)
    waiting.locator("#compare-stop").click()
    waiting.wait_for_function(
        "() => document.querySelector('#compare-stopped').innerText.includes('Stop pressed')", timeout=30_000
    )
    page.wait_for_function(
        "() => document.querySelector('#compare-status').innerText.includes('3 of 3 size(s) ran')", timeout=120_000
    )
    assert page.evaluate("document.getElementById('compare-status').dataset.stale") is None  # current again
    waiting.wait_for_timeout(3000)
    assert loaded[loads_before:] == ["a", "b", "c"]  # the first session's sizes only
    assert "size(s)" not in _status(waiting) and "Stop pressed" in waiting.locator("#compare-stopped").inner_text()
    waiting.close()
    page.close()


@pytest.fixture(scope="module")
def tight_app(tmp_path_factory, replica_17m, app_results):
    """The app over two copies of the 17m replica with a time limit no rerank fits (a cache folder of its own, so the
    first size is timed here)."""
    import app

    root = tmp_path_factory.mktemp("models-browser-limit")
    for name in ("a", "b"):
        shutil.copytree(replica_17m, root / name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ETTIN_CACHE", str(tmp_path_factory.mktemp("cache-browser-limit")))
        demo = app.build_app(models_dir=root, results_dir=app_results, include_hub=False, default_first_stage="bm25",
                             max_rerank_seconds=0.001)  # fmt: skip
        port = free_port()
        demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
        yield f"http://127.0.0.1:{port}"
        demo.close()


def test_sizes_over_the_limit_are_marked_skipped_in_the_chart_and_run_anyway_runs_them(browser, tight_app):
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    page.goto(tight_app, wait_until="load")
    page.get_by_role("tab", name="Compare sizes").click()
    page.locator("#compare-query textarea").fill("vitamin B12 homocysteine")
    page.locator("#compare-btn").click()
    page.wait_for_function(
        "() => document.querySelector('#compare-status').innerText.includes('0 of 2 size(s) ran')", timeout=120_000
    )
    assert _status(page).count("fits, or tick Run anyway") >= 2  # each skipped line (and the reference note)
    page.wait_for_selector("#compare-plot .js-plotly-plot .main-svg", timeout=30_000)
    chart = page.locator("#compare-plot").inner_text()
    assert chart.count("skipped") >= 2 and "est. " in chart  # each slot says skipped, with its estimate
    page.locator("#compare-run-anyway input").check()
    page.locator("#compare-btn").click()
    page.wait_for_function(
        "() => document.querySelector('#compare-status').innerText.includes('2 of 2 size(s) ran')", timeout=120_000
    )
    assert _status(page).count("⚠️ run anyway") == 2 and "⚠️" in page.locator("#compare-plot").inner_text()
    page.close()
