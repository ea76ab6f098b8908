"""Statistics of the leaderboard: intervals and tests checked against direct computations on small known cases."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from eval.leaderboard import stats, uncertainty

VALUES = [0.0, 0.2, 0.5, 0.9, 1.0]


def exact_bootstrap_quantiles(values, q_low=0.025, q_high=0.975):
    """Every one of the n**n equally likely resamples, enumerated: the exact quantiles of the bootstrap mean."""
    means = np.sort([np.mean(draw) for draw in itertools.product(values, repeat=len(values))])
    return np.quantile(means, q_low), np.quantile(means, q_high)


def test_bootstrap_interval_matches_the_exact_bootstrap_distribution():
    settings = stats.StatsSettings(n_resamples=40_000, seed=3)
    got = stats.bootstrap_interval(VALUES, settings)
    low, high = exact_bootstrap_quantiles(VALUES)
    assert got.mean == pytest.approx(np.mean(VALUES))
    assert got.low == pytest.approx(low, abs=0.021) and got.high == pytest.approx(high, abs=0.021)  # one step is 0.04
    assert got.low < got.mean < got.high


def test_bootstrap_interval_is_seeded_and_degenerate_cases_are_exact():
    settings = stats.StatsSettings(n_resamples=2_000, seed=7)
    rng = np.random.default_rng(0)
    values = rng.random(50)
    assert stats.bootstrap_interval(values, settings) == stats.bootstrap_interval(values, settings)
    assert stats.bootstrap_interval(values, settings) != stats.bootstrap_interval(values, stats.StatsSettings(2_000, 8))
    assert stats.bootstrap_interval([0.4] * 10) == stats.Interval(0.4, 0.4, 0.4)
    # a paired gain is the interval of the per-query differences: a constant shift is known exactly
    gain = stats.bootstrap_interval(values + 0.1 - values, settings)
    assert (gain.low, gain.high) == pytest.approx((0.1, 0.1))
    with pytest.raises(ValueError, match="no per-query values"):
        stats.bootstrap_interval([])


def test_paired_test_is_the_t_test_computed_by_hand():
    from scipy.stats import t as student_t

    a = np.array([0.9, 0.7, 0.8, 0.6, 1.0, 0.5, 0.75, 0.65])
    b = np.array([0.7, 0.72, 0.5, 0.61, 0.6, 0.55, 0.3, 0.66])
    d = a - b
    t = d.mean() / (d.std(ddof=1) / np.sqrt(len(d)))
    assert stats.paired_test(a, b) == pytest.approx(2 * student_t.sf(abs(t), df=len(d) - 1))
    assert stats.paired_test(a, b) == stats.paired_test(b, a)
    exact = np.arange(8) / 4  # binary fractions: the difference below is exactly constant
    assert stats.paired_test(a, a) == 1.0 and stats.paired_test(exact + 0.5, exact) == 0.0
    with pytest.raises(ValueError):
        stats.paired_test(a, b[:3])


def test_holm_step_down():
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert stats.holm([]) == []


def _systems(n=120, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.random(n)
    return {
        "strong": {str(i): float(min(1.0, v + 0.25)) for i, v in enumerate(base)},
        "A": {str(i): float(v) for i, v in enumerate(base)},
        "A copy": {str(i): float(v) for i, v in enumerate(base)},
    }


def test_identical_systems_are_tied_and_clearly_different_ones_are_not():
    comparisons, ranks = stats.compare_systems(_systems())
    by_pair = {(c.a, c.b): c for c in comparisons}
    assert not by_pair["A", "A copy"].significant and by_pair["A", "A copy"].p_value == 1.0
    assert by_pair["strong", "A"].significant and by_pair["strong", "A"].difference > 0.2
    assert {r.name: r.rank for r in ranks} == {"strong": "1", "A": "2–3", "A copy": "2–3"}
    assert {r.name: set(r.tied_with) for r in ranks}["A"] == {"A copy"}
    # Holm across the three pairs: the adjusted p-value is never below the raw one
    assert all(c.p_holm >= c.p_value for c in comparisons)


def test_each_pair_is_compared_on_the_queries_those_two_share():
    systems = _systems()
    del systems["A copy"]["0"]
    comparisons, _ = stats.compare_systems(systems)
    by_pair = {(c.a, c.b): c for c in comparisons}
    # strong and A both have all 120 queries; only the pairs with "A copy" lose query 0
    assert {pair: c.n_queries for pair, c in by_pair.items()} == {
        ("strong", "A"): 120, ("strong", "A copy"): 119, ("A", "A copy"): 119,
    }
    strong, copy = systems["strong"], systems["A copy"]
    assert by_pair["strong", "A copy"].difference == pytest.approx(np.mean([strong[q] - copy[q] for q in copy]))
    assert by_pair["strong", "A"].difference == pytest.approx(np.mean([strong[q] - systems["A"][q] for q in strong]))
    # two systems with no (or a single) shared query cannot be tested: no comparison, ranked by their means
    comparisons, ranks = stats.compare_systems({"x": {"1": 0.5, "3": 0.7}, "y": {"2": 0.5, "3": 0.1}})
    assert comparisons == [] and [(r.name, r.rank) for r in ranks] == [("x", "1"), ("y", "2")]


def _comparison(a, b, difference, significant):
    p = 0.001 if significant else 0.5
    return stats.Comparison(a, b, 100, difference, difference - 0.01, difference + 0.01, p, p, significant)


def test_rows_without_a_test_are_ordered_by_their_means_against_every_row():
    # A (0.80) beats B (0.50) significantly; C (0.95) and D (0.10) have no per-query scores (published figures)
    means = {"A": 0.80, "B": 0.50, "C": 0.95, "D": 0.10}
    ranks = {r.name: (r.rank, set(r.tied_with)) for r in stats.rank_ranges(means, [_comparison("A", "B", 0.3, True)])}
    assert ranks == {"C": ("1", set()), "A": ("2", set()), "B": ("3", set()), "D": ("4", set())}
    # A and B not separated: they share 2–3; C stays above both and D below both by their means alone
    ranks = {r.name: (r.rank, set(r.tied_with)) for r in stats.rank_ranges(means, [_comparison("A", "B", 0.3, False)])}
    assert ranks == {"C": ("1", set()), "A": ("2–3", {"B"}), "B": ("2–3", {"A"}), "D": ("4", set())}
    # an untested row with the same mean as a tested one ties with it, and only with it
    means = {"A": 0.80, "B": 0.50, "E": 0.50}
    ranks = {r.name: (r.rank, set(r.tied_with)) for r in stats.rank_ranges(means, [_comparison("A", "B", 0.3, True)])}
    assert ranks == {"A": ("1", set()), "B": ("2–3", {"E"}), "E": ("2–3", {"B"})}


def test_with_ranks_ranks_a_published_row_among_tested_rows_by_its_mean():
    systems = _systems()
    per_query = {("scifact/test", name): scores for name, scores in systems.items()}
    comparisons = uncertainty.comparisons_frame(per_query)
    means = {name: float(np.mean(list(s.values()))) for name, s in systems.items()}
    between = (means["strong"] + means["A"]) / 2
    rows = pd.DataFrame(
        {
            "scope": ["scifact/test"] * 5,
            "system": ["strong", "A", "A copy", "published high", "published low"],
            "ndcg10": [means["strong"], means["A"], means["A copy"], between, 0.0],
        }
    )
    ranked = uncertainty.with_ranks(rows, comparisons, "scope", "system")
    assert dict(zip(ranked["system"], ranked["rank"])) == {
        "strong": "1", "published high": "2", "A": "3–4", "A copy": "3–4", "published low": "5",
    }
    assert dict(zip(ranked["system"], ranked["tied_with"]))["published high"] == ""
    assert dict(zip(ranked["system"], ranked["tied_with"]))["A"] == "A copy"


def test_averaged_rows_are_paired_tested_only_against_rows_over_the_same_first_stages():
    from eval.leaderboard.regenerated import regenerated_quality

    q = [str(i) for i in range(10)]
    base = np.linspace(0.1, 0.9, 10)
    runs = {  # (first stage, reranker) -> per-query NDCG@10
        ("bm25", "r1"): base + 0.05, ("minilm", "r1"): base + 0.03,
        ("bm25", "r2"): base, ("minilm", "r2"): base - 0.01 * (np.arange(10) % 3),
        ("bm25", "r3"): base + 0.5 * (base - 0.5),  # only over BM25: its average is not comparable with r1's or r2's
    }
    per_query = {("scifact", "test", fs, rr): dict(zip(q, v.tolist())) for (fs, rr), v in runs.items()}
    embedders = pd.DataFrame(
        [{"source": "regenerated", "dataset": "scifact", "split": "test", "first_stage": fs, "reranker": rr,
          "ndcg10": float(v.mean()), "provenance": "p"} for (fs, rr), v in runs.items()]
    )  # fmt: skip
    quality, averaged, first_stages = regenerated_quality(embedders, per_query)
    assert first_stages == {("scifact/test (regenerated)", "r1"): ("bm25", "minilm"),
                            ("scifact/test (regenerated)", "r2"): ("bm25", "minilm"),
                            ("scifact/test (regenerated)", "r3"): ("bm25",)}  # fmt: skip
    comparisons = uncertainty.comparisons_frame(averaged, groups=first_stages)
    assert [(c.a, c.b) for c in comparisons.itertuples()] == [("r1", "r2")]
    # per query r1 − r2 = (0.05 + 0.03) / 2 − (0 − 0.01·(i mod 3)) / 2: mean 0.04 + 0.005 · 0.9
    assert comparisons.iloc[0]["difference"] == pytest.approx(0.0445) and comparisons.iloc[0]["n_queries"] == 10
    ranked = uncertainty.with_ranks(quality, comparisons, "benchmark", "model")
    # r1 > r2 on every query (tested, significant); r3 (0.5, untested) sits between them by its mean alone
    assert dict(zip(ranked["model"], ranked["ndcg10"])) == pytest.approx({"r1": 0.54, "r2": 0.4955, "r3": 0.5})
    assert dict(zip(ranked["model"], ranked["rank"])) == {"r1": "1", "r3": "2", "r2": "3"}


def test_ranks_and_gains_follow_the_rows_shown():
    per_query = {("scifact/test", name): scores for name, scores in _systems().items()}
    comparisons = uncertainty.comparisons_frame(per_query)
    assert len(comparisons) == 3
    rows = pd.DataFrame(
        {
            "scope": ["scifact/test"] * 3,
            "system": ["strong", "A", "A copy"],
            "first_stage": ["A", "A", "A copy"],
            "reranker": ["r", None, None],
            "ndcg10": [np.mean(list(s.values())) for s in _systems().values()],
        }
    )
    ranked = uncertainty.with_ranks(rows, comparisons, "scope", "system")
    assert ranked["rank"].tolist() == ["1", "2–3", "2–3"]
    gain = ranked.iloc[0]
    strong, weak = _systems()["strong"], _systems()["A"]
    queries = sorted(strong)  # systems are aligned on their sorted query ids
    direct = stats.bootstrap_interval(np.array([strong[q] - weak[q] for q in queries]))
    assert (gain["gain"], gain["gain_low"], gain["gain_high"]) == pytest.approx((direct.mean, direct.low, direct.high))
    assert gain["gain_p_holm"] < 0.05
    # without the copy, one pair is left: Holm over one comparison is the raw p-value
    two = uncertainty.with_ranks(rows.iloc[:2], comparisons, "scope", "system")
    assert two["rank"].tolist() == ["1", "2"]
    raw = comparisons[(comparisons["a"] == "strong") & (comparisons["b"] == "A")]["p_value"].item()
    assert two.iloc[0]["gain_p_holm"] == pytest.approx(raw)
    assert uncertainty.tied_groups(ranked, "scope", "system") == {"scifact/test": [["A", "A copy"]]}
