"""A real browser (Debian chromium driven by Python playwright; fixture ``browser`` in conftest) opens the Explore view, picks a query and sees its judged
relevant documents marked; the leaderboard shows the regenerated rows' intervals."""

from __future__ import annotations

import pytest

from demo.board import explore
from demo.tools.server import free_port

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def explore_app(tmp_path_factory, scifact_test, replica_17m, reranker_17m):
    """The app over a results store holding bm25 alone and reranked by the 17m replica on 8 SciFact queries."""
    from eval.retrieval.data import subset
    from eval.retrieval.evaluate import evaluate_retrieval
    from eval.retrieval.score_cache import ScoreCache

    import app

    root = tmp_path_factory.mktemp("explore-browser")
    small = subset(scifact_test, n_queries=8, n_documents=150, name="scifact-small")
    with ScoreCache(root / "scores.sqlite") as cache:
        evaluate_retrieval(small, ["bm25"], ["17m"], top_k=10, settings=reranker_17m.settings, score_cache=cache,
                           dataset_source="bundled data/scifact (BEIR SciFact), 8-query subset", results_dir=root,
                           reranker_loader=lambda spec, settings: reranker_17m)
    demo = app.build_app(models_dir=replica_17m.parent, results_dir=root, include_hub=False, default_first_stage="bm25")
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}", small, root
    demo.close()


def _header_text(page) -> str:
    return page.locator("#explore-header").inner_text()


def test_explore_pick_a_query_and_see_its_relevant_documents_marked(browser, explore_app, tmp_path):
    url, small, root = explore_app
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    page.goto(url, wait_until="load")
    page.get_by_role("tab", name="Explore").click()
    page.wait_for_function(
        "() => { const s = document.querySelector('#explore-summary'); return s && s.innerText.includes('wins'); }",
        timeout=120_000,
    )
    summary = page.locator("#explore-summary").inner_text()
    assert "random weights" in summary and "ties" in summary and "losses" in summary
    page.wait_for_selector("#explore-histogram .js-plotly-plot .main-svg", timeout=60_000)
    page.wait_for_function(
        "() => { const h = document.querySelector('#explore-header'); return h && h.innerText.includes('NDCG@10'); }",
        timeout=60_000,
    )
    first_header = _header_text(page)

    # pick the last query of the table (the biggest loss) by clicking its id
    rows = page.locator('#explore-queries [role="row"]:has([role="gridcell"])')
    page.wait_for_function(
        "() => document.querySelectorAll('#explore-queries [role=\"gridcell\"]').length === 8 * 5", timeout=60_000
    )
    id_cell = rows.nth(7).locator('[role="gridcell"]').first
    query_id = id_cell.inner_text().strip()
    assert query_id in small.queries
    id_cell.click()
    page.wait_for_function(
        "(qid) => { const h = document.querySelector('#explore-header');"
        " return h && h.innerText.includes('Query ' + qid); }",
        arg=query_id,
        timeout=60_000,
    )
    header = _header_text(page)
    assert header != first_header and small.queries[query_id][:30] in header
    rankings = page.locator("#explore-rankings").inner_text()
    (comparison,) = explore.comparisons(root)
    relevant = set(small.qrels[query_id])
    expected = sum(len(relevant & set(c.record["rankings"][query_id])) for c in (comparison.baseline, comparison.system))
    assert rankings.count(explore.RELEVANT_MARK) == expected >= 1  # the biggest loss had a relevant document before
    for doc_id in relevant & set(comparison.baseline.record["rankings"][query_id]):
        assert doc_id in rankings
    page.screenshot(path=str(tmp_path / "explore.png"), full_page=True)
    assert (tmp_path / "explore.png").stat().st_size > 10_000

    page.get_by_role("tab", name="Leaderboard").click()
    page.wait_for_selector("#embedder-plot .js-plotly-plot .main-svg", timeout=60_000)
    notes = page.locator("#leaderboard-notes").inner_text()
    assert "95% bootstrap interval" in notes and "paired bootstrap" in notes

    # parameters are shown as 16.9M / 1.03B (the registry's counts) but sorted as numbers
    header = page.locator('#quality-table [role="columnheader"][title="Parameters"]')
    header.hover()
    header.locator("button.cell-menu-button").click(force=True)
    page.get_by_role("menuitem", name="Sort ascending").click()
    page.wait_for_timeout(1000)
    rows = page.locator('#quality-table [role="row"]:has([role="gridcell"])')
    shown = [rows.nth(i).locator('[role="gridcell"]').nth(3).inner_text().strip() for i in range(rows.count())]
    assert len(shown) > 10 and all(p[-1] in "MB" for p in shown)
    values = [float(p[:-1]) * (1e9 if p.endswith("B") else 1e6) for p in shown]
    assert values == sorted(values) and "16.9M" in shown and "1.03B" in shown
    page.close()
