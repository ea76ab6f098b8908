"""A real browser (Debian chromium driven by playwright, fixture ``browser`` in conftest) on an app that starts with no
reranker: the first-run panel builds the 17m replica, a search is readable at 1280 px and at 390 px, a row expands to
the whole document, and Stop cancels a running search."""

from __future__ import annotations

import pytest

from demo.tools.server import free_port

pytestmark = pytest.mark.slow

QUERY = "A deficiency of vitamin B12 increases blood levels of homocysteine."
TABS = ["Search", "Compare sizes", "Leaderboard", "Explore", "Evaluate", "Reproduce"]
CARD = "https://huggingface.co/cross-encoder/ettin-reranker-17m-v1"


@pytest.fixture(scope="module")
def empty_app(tmp_path_factory, app_results):
    """The app over an empty models folder, offline, no Hub models."""
    import app

    models = tmp_path_factory.mktemp("no-models")
    demo = app.build_app(models_dir=models, results_dir=app_results, include_hub=False, default_first_stage="bm25")
    port = free_port()
    app.serve(demo, block=False, server_name="127.0.0.1", server_port=port, quiet=True)
    yield f"http://127.0.0.1:{port}", models
    demo.close()


def _search(page, query: str = QUERY) -> None:
    page.get_by_label("Query").first.fill(query)
    page.click("#search-btn")
    page.wait_for_function(
        """() => { const s = document.querySelector('#search-status');
                   return s && s.innerText.includes('candidates') && document.querySelectorAll('#results-view details').length === 10; }""",
        timeout=120_000,
    )


STALE = "(id) => document.getElementById(id).dataset.stale === 'true'"
NOTICE = "(id) => getComputedStyle(document.getElementById(id), '::before').content"


def _stale_then_current(page) -> None:
    """An example query marks the shown results (dimmed, under a notice) until a search of it succeeds."""
    from demo.sources.user_corpus import example_queries

    assert not page.evaluate(STALE, "results-view")
    example = next(q for q in example_queries() if q != QUERY)
    page.get_by_text(example[:40]).first.click()
    page.wait_for_function(f"() => ({STALE})('results-view') && ({STALE})('search-status')", timeout=10_000)
    assert "Press Search" in page.evaluate(NOTICE, "results-view")
    assert page.locator("#results-view .ettin-results").evaluate("e => getComputedStyle(e).opacity") == "0.45"
    page.click("#search-btn")
    page.wait_for_function(f"() => !({STALE})('results-view') && !({STALE})('search-status')", timeout=120_000)
    assert page.evaluate(NOTICE, "results-view") in ("none", "normal")


def _inside(box, width: int) -> bool:
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width + 1


def test_first_run_then_results_readable_at_1280_and_390_then_stop(browser, empty_app, tmp_path):
    url, models = empty_app
    first = browser.new_page(viewport={"width": 390, "height": 844})  # a phone, before any reranker exists
    first.goto(url, wait_until="load")
    first.wait_for_selector("#first-run-btn", timeout=60_000)
    top = "(s) => document.querySelector(s).getBoundingClientRect().top + window.scrollY"
    assert first.evaluate(top, "#search-btn") < min(844, first.evaluate(top, "#first-run"))  # Search first, the panel below
    assert "No local models folder" not in first.locator(".block.note").inner_text()  # the panel says it; no second note
    first.close()
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(url, wait_until="load")
    page.wait_for_selector("#first-run-btn", timeout=60_000)
    assert "python -m train scifact" in page.locator("#first-run").inner_text()
    page.click("#first-run-btn")
    page.wait_for_function(
        "() => { const s = document.querySelector('#first-run-status'); return s && s.innerText.includes('Built'); }",
        timeout=180_000,
    )
    assert (models / "17m" / "config.json").is_file() and not page.locator("#first-run").is_visible()

    _search(page)
    status = page.locator("#search-status")
    assert "reranked by 17m" in status.inner_text() and status.locator(f'a[href="{CARD}"]').count() == 1
    head = page.locator("#results-view .head").bounding_box()
    assert head["height"] < 60  # headers on one line, not one letter per line
    first = page.locator("#results-view details").first
    title, snippet = first.locator("summary b"), first.locator(".snippet")
    assert _inside(title.bounding_box(), 1280) and _inside(snippet.bounding_box(), 1280)
    assert title.bounding_box()["width"] > 400 and snippet.inner_text().endswith("…")
    assert page.locator("#results-view .bar > span").count() == 10
    first.locator("summary").click()
    document = first.locator(".document")
    document.wait_for(state="visible")
    assert len(document.inner_text()) > len(snippet.text_content()) + 100  # the whole abstract, not the snippet
    page.get_by_text("Reproduce this ranking in Python").click()
    page.wait_for_function(
        "() => (document.querySelector('#ranking-code') || {}).innerText?.includes('model = CrossEncoder(')",
        timeout=30_000,
    )
    page.screenshot(path=str(tmp_path / "search-1280.png"), full_page=True)

    # Stop: a deep rerank (K = 200) in a precision not loaded yet (fp32; auto was bf16 or fp32) is cancelled; its results never replace the shown ones
    before = status.inner_text()
    page.locator("#k-slider input[type=number]").fill("200")
    page.locator("#precision label", has_text="fp32").click()
    page.get_by_label("Query").first.fill("vitamin B12 deficiency and blood levels of homocysteine in the elderly")
    page.click("#search-btn")
    page.wait_for_timeout(300)
    page.click("#stop-btn")
    page.wait_for_function(
        "() => (document.querySelector('#search-progress') || {}).innerText?.includes('Stopped')", timeout=30_000
    )
    page.wait_for_timeout(3000)
    assert status.inner_text() == before
    assert "Stopped" in page.locator("#search-progress").inner_text()  # still there: nothing that started with the
    # search (its own clearing of an older note included) answers after the Stop
    page.close()

    phone = browser.new_page(viewport={"width": 390, "height": 844})
    phone.goto(url, wait_until="load")
    phone.wait_for_selector("#search-btn", timeout=60_000)
    phone.locator("#first-run").wait_for(state="hidden", timeout=30_000)  # a new page knows the replica exists now
    laid_out = "() => { const e = document.querySelector('#first-run-status'); return !!e && e.offsetParent !== null; }"
    assert not phone.evaluate(laid_out)  # nor is its empty status block laid out (it left a gap in the column)
    top = phone.evaluate("document.querySelector('#search-btn').getBoundingClientRect().top + window.scrollY")
    assert top < 844  # Search is on the first screen
    for name in TABS:  # every tab visible, none behind a "•••" menu
        tab = phone.locator("[role=tablist] button, .overflow-dropdown button", has_text=name).first
        box = tab.bounding_box()
        assert _inside(box, 390) and box["height"] > 20 and box["y"] < 400, name
    phone.locator("[role=tablist] button, .overflow-dropdown button", has_text="Reproduce").first.click()
    phone.get_by_text("Reproduce every number").wait_for(state="visible")
    phone.locator("[role=tablist] button", has_text="Search").first.click()
    _search(phone)
    progress_top = phone.evaluate("document.getElementById('search-progress').getBoundingClientRect().top")
    assert -2 <= progress_top < 844 / 2  # Search scrolled down to where the results come (2.5 screens below on a phone)
    _stale_then_current(phone)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 391  # nothing wider than the phone
    row = phone.locator("#results-view details").first
    assert phone.locator("#results-view .head").is_hidden()
    assert row.locator("summary b").bounding_box()["width"] > 220 and _inside(row.locator(".score").bounding_box(), 390)
    phone.screenshot(path=str(tmp_path / "search-390.png"), full_page=True)
    phone.close()


def test_a_dropped_file_is_loaded_examples_follow_the_corpus_and_nothing_is_a_placeholder(browser, app_url, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(app_url, wait_until="load")
    page.wait_for_selector("#search-btn", timeout=60_000)
    assert page.locator("#search-examples").is_visible()
    assert not page.locator("#search-details").is_visible()  # no latency table or empty chart before a search
    mine = tmp_path / "mine.txt"
    mine.write_text("The heart pumps blood through the body.\nBones store calcium and phosphate.\n", encoding="utf-8")
    page.get_by_text("Use your own documents").click()
    page.locator("#search-upload input[type=file]").set_input_files(str(mine))  # and no press of "Use these documents"
    page.wait_for_function("() => document.querySelector('#corpus-status').innerText.includes('2 documents')",
                           timeout=30_000)  # fmt: skip
    assert page.get_by_label("My documents").is_checked()
    page.locator("#search-examples").wait_for(state="hidden", timeout=10_000)  # SciFact claims: not for these documents
    page.get_by_label("Query").first.fill("where is calcium stored")
    page.click("#search-btn")
    page.locator("#search-details").wait_for(state="visible", timeout=120_000)
    assert "Bones store calcium" in page.locator("#results-view").inner_text()
    page.close()
