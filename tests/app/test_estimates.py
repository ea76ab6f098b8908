"""Rerank-time estimates from what this machine measured: a model timed on sample pairs when it first loads, the rate
stored per machine and precision for the next start, unmeasured sizes scaled by compute (never by another machine's
ratios), estimates within 2x of the actual rerank, and the one limit rule in Search: refused before it starts with the
K that fits, or run anyway with a warning."""

from __future__ import annotations

import shutil

import pytest

from demo.search import throughput
from demo.search.budget import OverLimitError
from demo.search.loading import SAMPLE_TIMINGS
from demo.search.playground import Playground
from demo.search.throughput import (EXPONENT_RANGE, RATE_DRIFT, RATES_FILE, RateStore, ThroughputBook, pair_cost,
                                    rate_key)
from demo.sources.choices import RerankerChoice
from demo.sources.user_corpus import sample_corpus
from ettin.corpus import Corpus
from ettin.runtime import INTERACTIVE_BATCH, Reranker

QUERY = "Vitamin D deficiency and cancer"


@pytest.fixture()
def own_cache(tmp_path, monkeypatch):
    """A cache folder of this test's own, so no rate stored by another test is read back."""
    monkeypatch.setenv("ETTIN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture()
def models(replica_17m, tmp_path):
    shutil.copytree(replica_17m, tmp_path / "models" / "17m")  # a link would point outside the models folder: refused
    return tmp_path / "models"


def _choice(size: str) -> RerankerChoice:
    return RerankerChoice(size, size, f"not-a-folder-{size}", size, True, 1)


def test_one_measured_size_scales_by_flops_and_two_fit_the_power_of_flops():
    book = ThroughputBook()
    small, mid, big = _choice("17m"), _choice("68m"), _choice("1b")
    book.record(small, 50, 1.0)  # 50 pairs/s
    one = book.estimate(big, 10)
    assert one.seconds == pytest.approx(10 / 50 * pair_cost(big) / pair_cost(small)) and not one.measured
    assert "scaled by compute from 17m measured on this machine at 50.0 pairs/s" in one.basis
    assert one.basis.endswith("time ∝ FLOPs")  # one size measured: linear in FLOPs
    per_pair_mid = (1 / 50) * (pair_cost(mid) / pair_cost(small)) ** 0.8  # seconds per pair grow as FLOPs^0.8 here
    book.record(mid, 10, 10 * per_pair_mid)
    two = book.estimate(big, 10)
    assert two.seconds == pytest.approx(10 * per_pair_mid * (pair_cost(big) / pair_cost(mid)) ** 0.8)
    assert "from 68m" in two.basis and "time ∝ FLOPs^0.80, fitted on the 2 sizes measured here" in two.basis
    noisy = ThroughputBook()
    noisy.record(small, 10, 1.0)
    noisy.record(mid, 10, 0.1)  # the larger size measured faster (noise): the power is bounded, not negative
    assert f"FLOPs^{EXPONENT_RANGE[0]:.2f}" in noisy.estimate(big, 10).basis
    assert ThroughputBook().estimate(big, 10) is None  # nothing measured here: no estimate at all


def test_a_rate_is_timed_once_per_machine_and_precision_and_read_back_at_the_next_start(models, own_cache, monkeypatch):
    calls: list[int] = []
    real = Reranker.score_pairs
    monkeypatch.setattr(Reranker, "score_pairs",
                        lambda self, pairs, *a, **kw: calls.append(len(pairs)) or real(self, pairs, *a, **kw))  # fmt: skip
    play = Playground(models, include_hub=False)
    choice = play.reranker_choice("17m")
    play.reranker(choice, "fp32")
    assert calls == [INTERACTIVE_BATCH] * (1 + SAMPLE_TIMINGS)  # untimed (first-call setup, its shape's kernels), timed
    rate = play.throughput("fp32").measured(choice)
    assert rate.pairs == INTERACTIVE_BATCH and "sample pairs timed when it loaded" in rate.basis()
    assert (own_cache / RATES_FILE).is_file()
    restarted = Playground(models, include_hub=False)
    est = restarted.estimate(choice, 30, "fp32")  # before any model loads
    assert est.measured and est.pairs_per_s == pytest.approx(rate.pairs_per_s) and "at an earlier start" in est.basis
    calls.clear()
    restarted.reranker(choice, "fp32")
    assert calls == []  # not timed again
    assert restarted.estimate(choice, 30, "auto") is None  # another precision has its own rates
    monkeypatch.setattr(throughput, "machine_description", lambda: "another machine; 64 CPUs")
    assert Playground(models, include_hub=False).estimate(choice, 30, "fp32") is None  # nor another machine's


def test_a_slow_timing_at_load_is_replaced_by_the_reranks_that_follow_also_in_the_stored_rate(tmp_path, monkeypatch):
    store = RateStore(tmp_path / RATES_FILE)
    saved: list[dict] = []
    real_save = store.save

    def save(precision, key, entry):
        saved.append(entry)
        real_save(precision, key, entry)

    monkeypatch.setattr(store, "save", save)
    small = _choice("17m")
    booked = ThroughputBook("fp32", store)
    booked.record(small, 16, 4.0, sample=True, details={"device": "cpu"})  # 4 pairs/s: timed beside other work
    restarted = ThroughputBook("fp32", store)
    assert restarted.rate(small) == pytest.approx(4.0)  # read back: nothing measured it again yet
    restarted.record(small, 30, 30 / 85)  # the first real rerank: 85 pairs/s
    rate = restarted.measured(small)
    assert rate.pairs_per_s == pytest.approx(85)
    assert rate.basis().endswith("over its last 30 pairs reranked (1 rerank(s))")
    assert len(saved) == 2 and saved[-1]["reranks"] == 1 and saved[-1]["device"] == "cpu"  # the stored rate corrected
    again = ThroughputBook("fp32", store)
    est = again.estimate(small, 85)
    assert est.measured and est.seconds == pytest.approx(1.0) and "1 rerank(s), some at an earlier start" in est.basis
    again.record(small, 30, 30 / (85 * RATE_DRIFT ** 0.5))  # within the drift: refined in memory, the file left alone
    assert again.rate(small) > 85 and len(saved) == 2
    again.record(small, 60, 60 / (85 * RATE_DRIFT ** 3))  # beyond it: stored again
    assert len(saved) == 3 and store.load("fp32")[rate_key(small)]["pairs"] == 120
    fresh = ThroughputBook("fp32", store)
    fresh.record(small, 16, 16 / 90, sample=True)
    fresh.record(small, 30, 30 / 80)  # an in-memory sample is replaced too, not averaged in
    assert fresh.rate(small) == pytest.approx(80)


def _actual_within_2x(play: Playground, key: str, k: int = 30) -> tuple[float, float]:
    """The estimate for ``key`` at ``k`` (made before the search) and that search's actual rerank time."""
    est = play.estimate(play.reranker_choice(key), k)
    outcome = play.search(QUERY, sample_corpus(), "bm25", key, k=k, top_n=5)
    assert len(outcome.result.candidates) == k
    return est, outcome.result.timings["rerank_s"]


def test_the_estimate_of_a_measured_size_is_within_2x_of_the_actual_rerank(models, own_cache):
    play = Playground(models, include_hub=False)
    play.reranker(play.reranker_choice("17m"))  # loads it and times it on sample pairs
    est, actual = _actual_within_2x(play, "17m")
    assert est.measured and est.seconds / 2 <= actual <= est.seconds * 2, (est, actual)


@pytest.fixture(scope="module")
def two_sizes(replica_17m, tmp_path_factory):
    from ettin.replica import build_replica

    root = tmp_path_factory.mktemp("models-estimates")
    shutil.copytree(replica_17m, root / "17m")
    build_replica("32m", root / "32m", seed=1)
    return root


def test_the_estimate_of_a_size_scaled_by_compute_is_within_2x_of_its_actual_rerank(two_sizes, own_cache):
    play = Playground(two_sizes, include_hub=False)
    play.reranker(play.reranker_choice("17m"))
    est, actual = _actual_within_2x(play, "32m")
    assert not est.measured and "scaled by compute from 17m" in est.basis
    assert est.seconds / 2 <= actual <= est.seconds * 2, (est, actual)


def test_search_refuses_before_it_starts_with_the_k_that_fits_unless_run_anyway(models, own_cache, monkeypatch):
    play = Playground(models, include_hub=False, max_rerank_seconds=10)
    choice = play.reranker_choice("17m")
    play.record_throughput(choice, "auto", pairs=1, seconds=1.0)  # as if 1 pair/s: 12 documents take 12 s
    corpus = Corpus.from_texts([f"document {i} about topic {i % 3}" for i in range(12)])
    started: list[str] = []
    real = Playground.first_stage
    monkeypatch.setattr(play, "first_stage", lambda key, *a, **kw: started.append(key) or real(play, key, *a, **kw))
    with pytest.raises(OverLimitError, match=r"estimated at 12 s .* above the 10 s limit: lower K to 10") as refused:
        play.search("topic", corpus, "bm25", "17m", k=12, top_n=3)
    assert started == [] and refused.value.estimate.fits(10) == 10  # refused before the first stage ran
    out = play.search("topic", corpus, "bm25", "17m", k=12, top_n=3, run_anyway=True)
    assert started == ["bm25"] and out.result.hits
    assert any(n.startswith("⚠️ run anyway: 17m was estimated at 12 s for 12 documents, above the 10 s limit")
               for n in out.notes), out.notes  # fmt: skip
    within = play.search("topic", corpus, "bm25", "17m", k=5, top_n=3)  # 5 s: within the limit, no warning
    assert not any("run anyway" in n for n in within.notes)
