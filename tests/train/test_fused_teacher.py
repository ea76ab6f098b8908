"""The offline teacher of the shipped reranker (BM25 and MiniLM fused by z-score over the pool it reranks) and the rows
it labels: relevant documents first, seeded negatives from the pool, targets mixing the label with the teacher."""

from __future__ import annotations

import numpy as np
import pytest

from ettin.corpus import BeirDataset, Corpus
from train.fused_teacher import DistillConfig, mine_distilled_rows, teacher_pool
from train.tables import TrainDataError


def test_the_pool_is_the_union_of_each_stages_top_list_without_bm25_non_matches():
    bm25 = np.array([0.0, 5.0, 3.0, 0.0, 1.0])  # documents 0 and 3 share no word with the query
    dense = np.array([0.9, 0.1, 0.2, 0.8, -0.3])
    pool, teacher = teacher_pool([bm25, dense], depth=2)
    assert pool.tolist() == [0, 1, 2, 3]  # BM25's top 2 (1, 2) and the embedder's (0, 3)
    expected = (_z(bm25[pool]) + _z(dense[pool])) / 2
    expected = (expected - expected.min()) / (expected.max() - expected.min())
    assert teacher == pytest.approx(expected) and teacher.min() == 0.0 and teacher.max() == 1.0


def _z(x):
    return (x - x.mean()) / x.std()


def test_a_pool_whose_fused_scores_are_all_equal_gets_one_half():
    same = np.ones(4)
    pool, teacher = teacher_pool([same, same], depth=4)
    assert pool.tolist() == [0, 1, 2, 3] and teacher.tolist() == [0.5] * 4


def _dataset() -> BeirDataset:
    words = ["vitamin", "scurvy", "protein", "galaxy", "cell", "gene", "star", "virus", "lung", "heart"]
    texts = [f"{words[i % 10]} {words[(3 * i) % 10]} study number {i}" for i in range(40)]
    corpus = Corpus(tuple(f"d{i}" for i in range(40)), tuple(texts), ("",) * 40)
    queries = {"q1": "vitamin scurvy", "q2": "galaxy star", "q3": "nothing judged here"}
    qrels = {"q1": {"d0": 1, "d1": 0}, "q2": {"d3": 2}, "q3": {"d5": 0}}
    return BeirDataset("tiny", "train", corpus, queries, qrels)


def test_rows_hold_each_relevant_document_then_seeded_unjudged_negatives_with_mixed_targets(minilm_package):
    data = _dataset()
    cfg = DistillConfig(("bm25", "sentence-transformers/all-MiniLM-L6-v2"), depth=10, negatives=4, distill_weight=0.5, seed=3)
    table = mine_distilled_rows(data, sorted(data.queries), cfg)
    rows = table.to_pylist()
    assert {r["query_id"] for r in rows} == {"q1", "q2"}  # q3 judges nothing relevant: no rows
    for qid, positive, judged in (("q1", "d0", {"d0", "d1"}), ("q2", "d3", {"d3"})):
        mine = [r for r in rows if r["query_id"] == qid]
        assert mine[0]["doc_id"] == positive and mine[0]["is_positive"] and 0.5 <= mine[0]["label"] <= 1.0
        negatives = mine[1:]
        assert len(negatives) == 4 and not any(r["doc_id"] in judged or r["is_positive"] for r in negatives)
        assert all(0.0 <= r["label"] <= 0.5 for r in negatives)  # w * teacher, teacher in [0, 1]
    assert mine_distilled_rows(data, sorted(data.queries), cfg).equals(table)  # seeded: the same rows again
    other = mine_distilled_rows(data, sorted(data.queries), DistillConfig(cfg.first_stages, 10, 4, 0.5, seed=4))
    assert other.column("doc_id").to_pylist() != table.column("doc_id").to_pylist()


def test_labels_only_and_teacher_only_are_the_two_ends_of_the_mix(minilm_package):
    data = _dataset()
    stages = ("bm25", "sentence-transformers/all-MiniLM-L6-v2")
    labels = mine_distilled_rows(data, ["q1"], DistillConfig(stages, 10, 3, distill_weight=0.0))
    assert labels.column("label").to_pylist() == [1.0, 0.0, 0.0, 0.0]
    teacher = mine_distilled_rows(data, ["q1"], DistillConfig(stages, 10, 3, distill_weight=1.0)).column("label").to_pylist()
    assert all(0.0 <= t <= 1.0 for t in teacher) and len(set(teacher)) == len(teacher)  # graded, not 0/1


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (DistillConfig((), 10, 3), "at least one first stage"),
        (DistillConfig(("bm25",), 0, 3), "at least 1"),
        (DistillConfig(("bm25",), 10, 0), "at least 1"),
        (DistillConfig(("bm25",), 10, 3, distill_weight=1.5), "between 0 and 1"),
    ],
)
def test_settings_that_cannot_give_rows_are_refused(cfg, message):
    with pytest.raises(TrainDataError, match=message):
        mine_distilled_rows(_dataset(), ["q1"], cfg)


def test_a_split_with_no_relevant_document_is_refused():
    with pytest.raises(TrainDataError, match="none of the queries has a relevant document"):
        mine_distilled_rows(_dataset(), ["q3"], DistillConfig(("bm25",), 10, 3))
