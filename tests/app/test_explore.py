"""The Explore view's logic, the Search tab's judged-query metrics and the leaderboard's display tables, without a browser.

The reranked result is made by the real evaluation (``evaluate_retrieval``) with the 17m replica on a small SciFact
subset, so it is random-init: the view must offer it labelled as such.
"""

from __future__ import annotations

import numpy as np
import pytest

from demo.board import explore
from demo.board.figures import change_histogram
from ettin.metrics import per_query_metrics, ranking_as_run


def build_store(root, scifact_test, reranker):
    """bm25 alone and reranked by ``reranker`` on 8 SciFact test queries (150 documents), written to ``root``."""
    from eval.retrieval.data import subset
    from eval.retrieval.evaluate import evaluate_retrieval
    from eval.retrieval.score_cache import ScoreCache

    small = subset(scifact_test, n_queries=8, n_documents=150, name="scifact-small")
    with ScoreCache(root / "scores.sqlite") as cache:
        evaluate_retrieval(small, ["bm25"], ["17m"], top_k=10, settings=reranker.settings, score_cache=cache,
                           dataset_source="bundled data/scifact (BEIR SciFact), 8-query subset", results_dir=root,
                           reranker_loader=lambda spec, settings: reranker)
    return small


@pytest.fixture(scope="module")
def explored(tmp_path_factory, scifact_test, reranker_17m):
    root = tmp_path_factory.mktemp("explore-results")
    small = build_store(root, scifact_test, reranker_17m)
    return root, small


def test_the_reranked_result_is_offered_against_its_first_stage_and_labelled_random(explored):
    root, _ = explored
    (comparison,) = explore.comparisons(root)
    assert comparison.names == ("bm25", "bm25 » 17m")
    assert comparison.random_init and explore.RANDOM_LABEL in comparison.label


def test_changes_counts_and_summary_agree_with_the_records(explored):
    root, small = explored
    (comparison,) = explore.comparisons(root)
    changes = explore.query_changes(comparison, small.queries)
    base, system = comparison.baseline.record, comparison.system.record
    assert len(changes) == 8 and list(changes["change"]) == sorted(changes["change"], reverse=True)
    for r in changes.itertuples():
        assert r.ndcg10_before == base["per_query"][r.query_id]["ndcg_at_10"]
        assert r.change == pytest.approx(system["per_query"][r.query_id]["ndcg_at_10"] - r.ndcg10_before)
        assert r.query == small.queries[r.query_id]
    counts = explore.outcome_counts(changes["change"].tolist())
    assert sum(counts.values()) == 8
    text = explore.summary_markdown(comparison, changes)
    assert f"{counts['wins']} wins, {counts['ties']} ties, {counts['losses']} losses" in text
    assert explore.RANDOM_LABEL in text and "95% paired bootstrap interval" in text
    fig = change_histogram(changes)
    assert sum(len(t.x) for t in fig.data) == 8


def test_query_detail_shows_both_rankings_and_marks_the_judged_relevant_documents(explored):
    root, small = explored
    (comparison,) = explore.comparisons(root)
    dataset = explore.dataset_for(comparison)
    assert dataset is not None  # made on the bundled SciFact: texts and judgements are available
    qid = sorted(small.queries)[0]
    detail = explore.query_detail(comparison, qid, dataset)
    before = comparison.baseline.record["rankings"][qid]
    after = comparison.system.record["rankings"][qid]
    assert len(detail.before) == len(detail.after) == len(before) == len(after) == 10
    assert [d.split(":")[0] for d in detail.after["document"]] == after
    relevant = set(small.qrels[qid])
    marked_before = {before[i] for i, mark in enumerate(detail.before["relevant"]) if mark}
    marked_after = {after[i] for i, mark in enumerate(detail.after["relevant"]) if mark}
    assert marked_before == relevant & set(before) and marked_after == relevant & set(after)
    # the stored rankings give back the stored NDCG@10
    recomputed = per_query_metrics({qid: small.qrels[qid]}, {qid: ranking_as_run(before)})[qid]["ndcg_at_10"]
    assert recomputed == pytest.approx(comparison.baseline.record["per_query"][qid]["ndcg_at_10"])
    assert f"{comparison.baseline.record['per_query'][qid]['ndcg_at_10']:.4f}" in detail.header
    assert explore.escape_markdown(small.queries[qid][:20]) in detail.header
    with pytest.raises(KeyError):
        explore.query_detail(comparison, "no-such-query", dataset)


def test_markdown_from_data_is_escaped():
    assert explore.escape_markdown("<b>*x*</b> [a](b)") == r"\<b\>\*x\*\</b\> \[a\]\(b\)"


def test_search_says_plainly_that_a_random_replica_does_not_help(replica_17m):
    from demo.search.judged import judged_metrics, judged_query
    from demo.search.playground import Playground
    from demo.sources.user_corpus import example_queries, sample_corpus
    from demo.views.search_text import judged_text

    play = Playground(replica_17m.parent, include_hub=False)
    query = example_queries()[0]
    judged = judged_query("  " + query.upper() + " ")  # spaces and case aside
    assert judged is not None and judged.relevant
    assert judged_query("not a SciFact claim at all") is None
    outcome = play.search(query, sample_corpus(), "bm25", "17m", k=20, top_n=10)
    metrics = judged_metrics(outcome.result, judged)
    first = [h.doc_id for h in sorted(outcome.result.candidates, key=lambda h: h.first_stage_rank)]
    direct = per_query_metrics({"q": judged.grades}, {"q": ranking_as_run(first)})["q"]
    assert metrics["first stage"] == direct
    assert metrics["reranked"]["recall_at_100"] == metrics["first stage"]["recall_at_100"]  # reordering keeps recall@K
    text = judged_text(outcome, judged, set(sample_corpus().ids))
    assert "a random replica does not help" in text and "Recall@20" in text
    assert f"{metrics['reranked']['ndcg_at_10']:.4f}" in text


def test_board_tables_sort_by_value_and_show_ranges_and_params():
    import gradio as gr

    from demo.board.tables import QUALITY_TABLE, board_table
    from eval import leaderboard as lb

    board = lb.build_leaderboard(lb.DEFAULT_RESULTS_DIR / "no-such-folder")
    q = board.quality[board.quality["benchmark"] == "NanoBEIR"].assign(rank="2–4")
    shown = gr.Dataframe(interactive=False).postprocess(board_table(q, QUALITY_TABLE))
    headers = shown.headers
    first = dict(zip(headers, shown.data[0]))
    display = dict(zip(headers, shown.metadata["display_value"][0]))
    assert isinstance(first["Parameters"], float) and display["Parameters"].endswith(("M", "B"))
    assert display["Rank"] == "2–4" and isinstance(first["Rank"], (int, np.integer))
    assert display["95% CI low"] == "—"  # published: no interval
