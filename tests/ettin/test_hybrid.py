"""The hybrid first stage: RRF fusion, spec parsing, and BM25 + a dense stage over one corpus."""

from __future__ import annotations

import numpy as np
import pytest

from ettin import registry
from ettin.corpus import Corpus
from ettin.hybrid import HybridFirstStage, hybrid_embedder, hybrid_id, rrf_fuse
from ettin.pipeline import BM25FirstStage, InputError, make_first_stage


def test_rrf_scores_are_reciprocal_ranks_summed():
    fused = dict(rrf_fuse([["a", "b", "c"], ["c", "a"]], k=60))
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert fused["b"] == pytest.approx(1 / 62)  # in one ranking only: one term
    assert [key for key, _ in rrf_fuse([["a", "b", "c"], ["c", "a"]])] == ["a", "c", "b"]


def test_rrf_ties_keep_the_order_the_rankings_reach_them():
    # x and y are both rank 1 of one list only; the first ranking reaches x first
    assert [k for k, _ in rrf_fuse([["x", "p"], ["y", "q"]])] == ["x", "y", "p", "q"]
    assert [k for k, _ in rrf_fuse([["y", "q"], ["x", "p"]])] == ["y", "x", "q", "p"]


def test_rrf_depth_empty_and_bad_k():
    assert rrf_fuse([[1, 2, 3], [4, 5, 6]], depth=2) == rrf_fuse([[1, 2, 3], [4, 5, 6]])[:2]
    assert rrf_fuse([[], []]) == [] and rrf_fuse([]) == []
    with pytest.raises(ValueError, match="0 or more"):
        rrf_fuse([[1]], k=-1)


@pytest.mark.parametrize(
    ("spec", "embedder"),
    [("hybrid", registry.MINILM_ID), ("  Hybrid ", registry.MINILM_ID), ("hybrid:BAAI/bge-small-en-v1.5", "BAAI/bge-small-en-v1.5"),
     ("hybrid: ./my model ", "./my model"), ("bm25", None), ("hybridx", None), ("hybrid/local-folder", None),
     (registry.MINILM_ID, None), ("", None)],
)  # fmt: skip
def test_hybrid_spec_names_its_embedder(spec, embedder):
    assert hybrid_embedder(spec) == embedder


@pytest.mark.parametrize("spec", ["hybrid:", "hybrid:  ", "hybrid:bm25", "hybrid:hybrid", "hybrid:hybrid:x"])
def test_hybrid_spec_without_a_dense_embedder_is_refused_with_the_fix(spec):
    with pytest.raises(ValueError, match="hybrid:<embedder|embedder id after"):
        hybrid_embedder(spec)


class _FixedDense:
    """A dense stage that ranks documents in a fixed order (stands in for an embedder)."""

    def __init__(self, corpus: Corpus, order: list[int]):
        self.corpus, self.order, self.name = corpus, np.array(order), "fixed/dense"

    def search(self, query, k):
        return self.order[:k], np.linspace(1, 0, len(self.order))[:k], {"embed_query_s": 0.5, "search_s": 0.25}

    def search_many(self, queries, k):
        return [self.search(q, k)[:2] for q in queries]


@pytest.fixture()
def corpus():
    texts = ["apples and pears", "pears only", "bananas", "cherries and apples", "nothing here"]
    return Corpus(ids=[f"d{i}" for i in range(5)], texts=texts)


def test_hybrid_stage_fuses_bm25_with_the_dense_ranking(corpus):
    lexical, dense = BM25FirstStage(corpus), _FixedDense(corpus, [4, 2, 0, 1, 3])
    hybrid = HybridFirstStage(lexical, dense)
    assert hybrid.name == hybrid_id("fixed/dense") == "hybrid:fixed/dense"
    lex_idx = lexical.search("apples", 3)[0].tolist()  # d0 and d3, the only documents with the term
    assert sorted(lex_idx) == [0, 3]
    expected = rrf_fuse([lex_idx, [4, 2, 0]], depth=3)  # each ranking to the depth asked
    idx, scores, timings = hybrid.search("apples", 3)
    assert idx.tolist() == [i for i, _ in expected] and scores.tolist() == pytest.approx([s for _, s in expected])
    assert idx[0] == 0  # rank 1 or 2 in both lists beats rank 1 in one
    assert timings["embed_query_s"] == 0.5 and timings["search_s"] >= 0.25
    ((many_idx, _),) = hybrid.search_many(["apples"], 3)
    assert many_idx.tolist() == idx.tolist()


def test_hybrid_refuses_two_corpora(corpus):
    other = Corpus(ids=["x"], texts=["x"])
    with pytest.raises(ValueError, match="same corpus"):
        HybridFirstStage(BM25FirstStage(corpus), _FixedDense(other, [0]))


def test_make_first_stage_builds_a_hybrid_and_refuses_a_hybrid_without_embedder(corpus, minilm):
    loaded = []

    def loader(spec):
        loaded.append(spec)
        return minilm

    stage = make_first_stage("hybrid", corpus, embedder_loader=loader)
    assert isinstance(stage, HybridFirstStage) and loaded == [registry.MINILM_ID]
    assert stage.name == f"hybrid:{minilm.name}"
    idx, _, _ = stage.search("apples", 5)
    assert sorted(idx.tolist()) == [0, 1, 2, 3, 4]  # the union of both rankings, each to depth 5
    with pytest.raises(InputError, match="names no embedder"):
        make_first_stage("hybrid:", corpus, embedder_loader=loader)
