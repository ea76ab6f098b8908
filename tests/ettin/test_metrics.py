"""Our metrics against hand-computed values, mteb's own evaluator and pytrec_eval (to 1e-6)."""

from __future__ import annotations

import math
import random

import pytest

from ettin.metrics import METRIC_KEYS, evaluate_run, mean_metrics, mrr_at_k, per_query_metrics, ranking_as_run


def test_hand_computed_example_with_ties_grades_and_a_missing_query():
    qrels = {"q1": {"a": 1, "b": 0, "c": 2}, "q2": {"x": 1}}
    # b (not relevant) first; a and d tie and trec_eval breaks ties by doc id descending: d before a; then c.
    run = {"q1": {"a": 0.5, "b": 0.9, "c": 0.1, "d": 0.5}}
    per_query = per_query_metrics(qrels, run)
    dcg = 1 / math.log2(4) + 2 / math.log2(5)
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    assert per_query["q1"]["ndcg_at_10"] == pytest.approx(dcg / idcg, abs=1e-12)
    assert per_query["q1"]["mrr_at_10"] == pytest.approx(1 / 3)
    assert per_query["q1"]["map_at_10"] == pytest.approx((1 / 3 + 2 / 4) / 2)
    assert per_query["q1"]["recall_at_10"] == 1.0
    assert per_query["q2"] == dict.fromkeys(METRIC_KEYS, 0.0)  # judged but not retrieved: counts as 0
    assert evaluate_run(qrels, run)["ndcg_at_10"] == pytest.approx(dcg / idcg / 2)


def test_mrr_cutoff_and_grade_zero():
    assert mrr_at_k({"a": 0, "b": 1}, {"a": 3.0, "b": 2.0}) == 0.5
    assert mrr_at_k({"z": 1}, {f"d{i:02d}": float(-i) for i in range(10)} | {"z": -10.0}) == 0.0


def test_ranking_as_run_scores_a_ranking_in_its_order():
    # how the speed benchmark's accuracy check gets NDCG@10 of a ranking
    def ndcg(ranked: list[str], judged: dict[str, int]) -> float:
        return evaluate_run({"q": judged}, {"q": ranking_as_run(ranked)})["ndcg_at_10"]

    assert ndcg(["a", "b"], {"a": 1}) == pytest.approx(1.0)
    assert ndcg(["b", "a"], {"a": 1}) == pytest.approx(1 / math.log2(3))
    assert ndcg(["x"], {"a": 0}) == 0.0


def test_empty_evaluation_is_a_clear_error():
    with pytest.raises(ValueError, match="no judged query"):
        mean_metrics({})


def _mteb_means(qrels, run):
    from mteb._evaluators.retrieval_metrics import calculate_retrieval_scores

    result = calculate_retrieval_scores(run, qrels, [10, 100])
    scores = result.all_scores
    n = len(scores)
    return {
        "ndcg_at_10": sum(s["ndcg_cut_10"] for s in scores.values()) / n,
        "map_at_10": sum(s["map_cut_10"] for s in scores.values()) / n,
        "recall_at_10": sum(s["recall_10"] for s in scores.values()) / n,
        "recall_at_100": sum(s["recall_100"] for s in scores.values()) / n,
        "mrr_at_10": result.mrr["MRR@10"],
    }


def test_agrees_with_mteb_on_a_random_run_with_ties_and_graded_judgements():
    rng = random.Random(7)
    docs = [f"d{i}" for i in range(300)]
    qrels, run = {}, {}
    for q in range(60):
        qid = f"q{q}"
        qrels[qid] = {d: rng.choice([0, 1, 1, 2]) for d in rng.sample(docs, rng.randint(1, 6))}
        # coarse scores: many ties, which must be broken the way trec_eval and mteb break them
        run[qid] = {d: float(rng.randint(0, 20)) for d in rng.sample(docs, 150)}
        for d in qrels[qid]:
            if rng.random() < 0.7:
                run[qid][d] = float(rng.randint(0, 20))
    ours = evaluate_run(qrels, run)
    theirs = _mteb_means(qrels, run)
    for key in METRIC_KEYS:
        assert ours[key] == pytest.approx(theirs[key], abs=1e-6), key


def test_bm25_on_full_scifact_matches_mteb_evaluator_and_published_score(scifact_test, tmp_path):
    from eval.retrieval import run_first_stage

    result = run_first_stage(scifact_test, "bm25", top_k=100, cache_root=tmp_path)
    run = result.as_run()
    ours = evaluate_run(scifact_test.qrels, run)
    theirs = _mteb_means(scifact_test.qrels, run)
    for key in METRIC_KEYS:
        assert ours[key] == pytest.approx(theirs[key], abs=1e-6), key
    # pinned to what this project measures and commits (eval/results/retrieval/scifact/test/bm25/retriever-only.json);
    # mteb's published baseline-bm25s figures (shared/data/REFERENCE_SCORES.md, table B1) are 0.68736 and 0.91267:
    # same library, its own tokenizer settings
    assert ours["ndcg_at_10"] == pytest.approx(0.686300261, abs=1e-9)
    assert ours["recall_at_100"] == pytest.approx(0.912666667, abs=1e-9)


# --- ignore_identical_ids: a retrieved document whose id equals the query id (ArguAna: the argument itself) ------------

_SELF_QRELS = {"q1": {"d1": 1}, "q2": {"d2": 1}}
_SELF_RUN = {
    "q1": {"q1": 9.0, "d1": 5.0, "d3": 1.0},  # the query's own document first, the relevant one second
    "q2": {"d2": 4.0, "q1": 3.0, "d3": 2.0},  # another query's id is not the query's own: it stays
}


def test_identical_ids_are_dropped_only_when_asked_hand_computed():
    kept = per_query_metrics(_SELF_QRELS, _SELF_RUN)
    assert kept["q1"]["ndcg_at_10"] == pytest.approx(1 / math.log2(3)) and kept["q1"]["mrr_at_10"] == 0.5
    dropped = per_query_metrics(_SELF_QRELS, _SELF_RUN, ignore_identical_ids=True)
    assert dropped["q1"]["ndcg_at_10"] == 1.0 and dropped["q1"]["mrr_at_10"] == 1.0  # d1 moves up to rank 1
    assert dropped["q2"] == kept["q2"] and dropped["q2"]["ndcg_at_10"] == 1.0
    assert evaluate_run(_SELF_QRELS, _SELF_RUN, ignore_identical_ids=True)["ndcg_at_10"] == 1.0
    assert _SELF_RUN["q1"]["q1"] == 9.0, "the caller's run is not changed"


def test_identical_ids_are_dropped_as_mtebs_own_evaluator_drops_them():
    import copy

    from mteb._evaluators.retrieval_evaluator import RetrievalEvaluator

    for ignore in (False, True):
        theirs = RetrievalEvaluator.evaluate(None, _SELF_QRELS, copy.deepcopy(_SELF_RUN), [10, 100], ignore_identical_ids=ignore)
        ours = per_query_metrics(_SELF_QRELS, _SELF_RUN, ignore_identical_ids=ignore)
        for qid, scores in theirs.all_scores.items():
            assert ours[qid]["ndcg_at_10"] == pytest.approx(scores["ndcg_cut_10"], abs=1e-12), (ignore, qid)
        assert evaluate_run(_SELF_QRELS, _SELF_RUN, ignore)["mrr_at_10"] == pytest.approx(theirs.mrr["MRR@10"], abs=1e-5)


@pytest.mark.parametrize(
    ("name", "ignore", "source"),
    [
        ("ArguAna", True, "mteb"), ("FiQA2018", True, "mteb"), ("FEVERHardNegatives", True, "mteb"), ("SciFact", False, "mteb"),
        ("ArguAna.first50q", True, "mteb"), ("ArguAna[:8q]", True, "mteb"),  # slices keep their task's rule
        ("arguana", True, "fallback"), ("fiqa", True, "fallback"),  # BEIR's folder names
        ("scifact", False, "default"), ("tinyfact", False, "default"),
    ],
)
def test_the_rule_comes_from_mtebs_task_then_the_fallback_table(name, ignore, source):
    from ettin.metrics import identical_ids_rule

    rule = identical_ids_rule(name)
    assert rule.ignore is ignore and rule.source.startswith(source), rule
    assert rule.as_protocol() == {"ignore_identical_ids": ignore, "ignore_identical_ids_source": rule.source}


def test_the_fallback_table_agrees_with_the_installed_mteb():
    import mteb

    from ettin.metrics import IDENTICAL_IDS_FALLBACK

    known = {t: mteb.get_task(t).ignore_identical_ids for t in ("ArguAna", "FiQA2018", "FEVER", "FEVERHardNegatives",
                                                               "QuoraRetrieval", "MSMARCO")}
    assert all(known.values())
    for name, ignore in known.items():
        assert IDENTICAL_IDS_FALLBACK[name.lower()] is ignore, name
    assert IDENTICAL_IDS_FALLBACK["fiqa"] and IDENTICAL_IDS_FALLBACK["quora"]  # BEIR's folder names of those tasks
