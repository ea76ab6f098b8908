"""z-score fusion of a reranker with its first stage."""

import pytest

from ettin.fusion import fused_name, zscore_fuse


def test_weight_one_is_the_reranker_order_and_zero_the_first_stage_order():
    first = {"a": 3.0, "b": 2.0, "c": 1.0}
    rerank = {"a": -1.0, "b": 5.0, "c": 0.0}
    by = lambda scores: sorted(scores, key=scores.get, reverse=True)  # noqa: E731
    assert by(zscore_fuse(first, rerank, 1.0)) == ["b", "c", "a"]
    assert by(zscore_fuse(first, rerank, 0.0)) == ["a", "b", "c"]


def test_scales_do_not_matter_only_standardised_scores():
    first = {"a": 30.0, "b": 20.0, "c": 10.0}
    rerank = {"a": 0.1, "b": 0.3, "c": 0.2}
    fused = zscore_fuse(first, rerank, 0.5)
    assert fused == pytest.approx(zscore_fuse({k: v / 10 for k, v in first.items()}, {k: v * 100 for k, v in rerank.items()}, 0.5))
    assert sum(fused.values()) == pytest.approx(0.0, abs=1e-9)


def test_constant_scores_and_missing_documents():
    assert zscore_fuse({"a": 1.0, "b": 1.0}, {"a": 2.0, "b": 1.0}, 0.5) == pytest.approx({"a": 0.5, "b": -0.5})
    assert zscore_fuse({"a": 1.0}, {"z": 2.0}, 0.5) == {}


@pytest.mark.parametrize("weight", [-0.1, 1.5])
def test_a_weight_outside_0_1_is_refused(weight):
    with pytest.raises(ValueError, match="between 0 and 1"):
        zscore_fuse({"a": 1.0}, {"a": 1.0}, weight)


def test_the_fused_system_has_its_own_name():
    assert fused_name("minilm-scifact", 0.5) == "minilm-scifact + first stage (z, w=0.5)"
