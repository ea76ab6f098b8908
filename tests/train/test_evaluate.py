"""Reranking evaluation: NDCG@10 comes from ettin.metrics and matches hand-computed values on a small known case."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from ettin.corpus import BeirDataset, Corpus
from train.evaluate import evaluate_scorers, first_stage_run, rerank_run


@pytest.fixture
def toy():
    ids = tuple(f"d{i}" for i in range(4))
    corpus = Corpus(ids, tuple(f"text {i}" for i in range(4)), tuple("" for _ in ids), "toy")
    # Every judgement is positive (as in SciFact); q3 is judged but has no candidate.
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1, "d3": 1}, "q3": {"d0": 1}}
    dataset = BeirDataset("toy", "test", corpus, {"q1": "a", "q2": "b", "q3": "c"}, qrels)
    rows = [("q1", "d0", 0), ("q1", "d1", 1), ("q2", "d2", 0), ("q2", "d0", 1), ("q2", "d3", 2)]
    candidates = pa.table(
        {
            "query_id": [r[0] for r in rows],
            "query": [r[0] for r in rows],
            "doc_id": [r[1] for r in rows],
            "document": [r[1] for r in rows],
            "first_stage_rank": [r[2] for r in rows],
        }
    )
    return dataset, candidates


def _dcg(gains):
    return sum(g / math.log2(i + 2) for i, g in enumerate(gains))


def test_ndcg_matches_a_hand_computation(toy):
    dataset, candidates = toy
    # First stage: q1 finds its positive at rank 2; q2 finds d2 at rank 1 and d3 at rank 3; q3 gets nothing (counts 0).
    q1 = _dcg([0, 1]) / _dcg([1])
    q2 = _dcg([1, 0, 1]) / _dcg([1, 1])
    perfect = {"d1": 9.0, "d2": 8.0, "d3": 7.0}
    scores = evaluate_scorers(dataset, candidates, {"oracle": lambda pairs: np.array([perfect.get(d, 0.0) for _, d in pairs])})
    assert scores["first_stage"] == pytest.approx((q1 + q2 + 0.0) / 3)
    assert scores["oracle"] == pytest.approx((1.0 + 1.0 + 0.0) / 3), "a perfect reranker still misses q3's document"


def test_the_same_as_the_old_positive_only_definition_when_every_judgement_is_positive(toy):
    """train/evaluate.py used to average over queries with a positive judgement; ettin.metrics averages over queries
    with any judgement. With positive judgements only (SciFact), both give the same number."""
    import pytrec_eval

    dataset, candidates = toy
    run = first_stage_run(candidates)
    judged = {q: rel for q, rel in dataset.qrels.items() if any(g > 0 for g in rel.values())}
    per_query = pytrec_eval.RelevanceEvaluator(judged, {"ndcg_cut.10"}).evaluate({q: run[q] for q in judged if run.get(q)})
    old = sum(v["ndcg_cut_10"] for v in per_query.values()) / len(judged)
    assert evaluate_scorers(dataset, candidates, {})["first_stage"] == pytest.approx(old, abs=1e-12)


def test_rerank_run_keeps_one_score_per_candidate(toy):
    _, candidates = toy
    run, scores = rerank_run(candidates, lambda pairs: np.arange(len(pairs), dtype=float))
    assert scores.tolist() == [0, 1, 2, 3, 4]
    assert run == {"q1": {"d0": 0.0, "d1": 1.0}, "q2": {"d2": 2.0, "d0": 3.0, "d3": 4.0}}


def test_scifact_first_stage_ndcg_is_unchanged():
    """On SciFact test (positive judgements only) the shared metric gives exactly the old train/evaluate.py number."""
    import pytrec_eval

    from ettin.corpus import scifact
    from train.data.candidates import build_candidates

    test = scifact("test")
    candidates = build_candidates(test, ["bm25"], depth=20, show_progress=False)
    run = first_stage_run(candidates)
    judged = {q: {d: int(g) for d, g in rel.items()} for q, rel in test.qrels.items() if any(g > 0 for g in rel.values())}
    per_query = pytrec_eval.RelevanceEvaluator(judged, {"ndcg_cut.10"}).evaluate({q: run[q] for q in judged if run.get(q)})
    old = sum(v["ndcg_cut_10"] for v in per_query.values()) / len(judged)
    assert evaluate_scorers(test, candidates, {})["first_stage"] == pytest.approx(old, abs=1e-12)


def _self_retrieving(name: str) -> tuple[BeirDataset, pa.Table]:
    """q1's own text is in the corpus under its id (as in ArguAna) and ranks first; the judged document second."""
    ids = ("q1", "c1", "x1")
    corpus = Corpus(ids, ("solar panels cut bills", "solar panels cost more than they save", "printing press"),
                    ("", "", ""), name)
    dataset = BeirDataset(name, "test", corpus, {"q1": "solar panels cut bills"}, {"q1": {"c1": 1}})
    candidates = pa.table({"query_id": ["q1"] * 3, "query": ["solar panels cut bills"] * 3, "doc_id": list(ids),
                           "document": list(corpus.texts), "first_stage_rank": [0, 1, 2]})
    return dataset, candidates


@pytest.mark.parametrize(("name", "ignored"), [("ArguAna", True), ("FiQA2018", True), ("toy", False)])
def test_a_task_that_ignores_identical_ids_drops_the_querys_own_document(name, ignored):
    dataset, candidates = _self_retrieving(name)
    scores = evaluate_scorers(dataset, candidates, {})
    assert scores["first_stage"] == pytest.approx(1.0 if ignored else _dcg([0, 1]) / _dcg([1]))


@pytest.mark.parametrize(("name", "ignored"), [("ArguAna", True), ("debates", False)])
def test_the_in_training_evaluator_leaves_out_the_querys_own_document(tmp_path, name, ignored):
    from eval.retrieval.data import write_beir
    from train.fit_config import FitConfig
    from train.student import build_evaluator

    dataset, _ = _self_retrieving(name)
    folder = write_beir(dataset, tmp_path / name)
    dev = tmp_path / "dev.json"
    dev.write_text('["q1"]', encoding="utf-8")
    evaluator = build_evaluator(FitConfig(out="o", train="t", eval_data=str(folder), eval_split="test", eval_top_k=3,
                                          eval_query_ids=str(dev)))
    (sample,) = evaluator.samples  # BM25 finds the two documents that share terms with the query
    own, judged = "solar panels cut bills", "solar panels cost more than they save"
    assert sample["documents"] == ([judged] if ignored else [own, judged])
