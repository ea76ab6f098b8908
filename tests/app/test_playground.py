"""Playground logic without Gradio: model discovery, estimates and bounds, agreement metrics, result tables."""

from __future__ import annotations

import json
import math
import random
import re
import shutil

import pytest
from scipy.stats import kendalltau

from demo.search.budget import OverLimitError
from demo.search.params import PRECISIONS
from demo.search.playground import Playground
from demo.search.throughput import ThroughputBook
from demo.sources.choices import NO_RERANKER, RANDOM_BADGE, RerankerChoice, discover_rerankers
from demo.views.agreement import kendall_tau, overlap_at_k
from demo.views.compare_figures import compare_table
from demo.views.frames import movement_frame, results_frame, timings_frame
from ettin.corpus import Corpus
from ettin.pipeline import InputError
from ettin.runtime import INTERACTIVE_MAX_LENGTH, ModelLoadError, best_settings


def test_overlap_at_k():
    assert overlap_at_k(["a", "b", "c", "d", "e", "f"], ["e", "d", "c", "b", "a"], 5) == 1.0
    assert overlap_at_k(["a", "b", "c"], ["x", "b", "y"], 3) == pytest.approx(1 / 3)
    assert overlap_at_k(["a", "b"], ["c", "d"], 5) == 0.0
    with pytest.raises(ValueError):
        overlap_at_k(["a"], ["a"], 0)


def test_kendall_tau_matches_scipy_including_ties():
    rng = random.Random(0)
    for _ in range(20):
        n = rng.randint(2, 30)
        x = [rng.choice([0.0, 1.0, 2.0, rng.random()]) for _ in range(n)]
        y = [rng.choice([0.0, 1.0, rng.random()]) for _ in range(n)]
        expected = kendalltau(x, y).statistic
        got = kendall_tau(x, y)
        assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected, abs=1e-12)
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(kendall_tau([1, 1], [1, 2]))


def _fake_model(folder, size="17m", random_init=True):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    meta = {"random_init": random_init, "size": size, "replica_of": f"cross-encoder/ettin-reranker-{size}-v1"}
    (folder / "ettin_metadata.json").write_text(json.dumps(meta))


def test_discovery_badges_replicas_and_sorts_by_size(tmp_path):
    _fake_model(tmp_path / "150m", "150m")
    _fake_model(tmp_path / "17m", "17m")
    (tmp_path / "not-a-model").mkdir()
    choices = discover_rerankers(tmp_path, include_hub=False)
    assert [c.key for c in choices] == ["17m", "150m"]
    assert all(c.random_init and RANDOM_BADGE in c.label for c in choices)
    hub = discover_rerankers(None, include_hub=True)
    assert len(hub) == 6 and hub[0].key == "cross-encoder/ettin-reranker-17m-v1" and not hub[0].random_init


@pytest.mark.parametrize("key", ["../17m", "/etc", "17m/../../x", "cross-encoder/ettin-reranker-17m-v1", "nope"])
def test_only_offered_rerankers_are_accepted(tmp_path, key):
    _fake_model(tmp_path / "17m")
    play = Playground(tmp_path, include_hub=False)
    assert play.reranker_choice("17m").key == "17m"
    assert play.reranker_choice(NO_RERANKER) is None
    with pytest.raises(ModelLoadError, match="unknown reranker"):
        play.reranker_choice(key)


def test_unknown_first_stage_is_refused(tmp_path):
    play = Playground(None, include_hub=False)
    assert "bm25" in [c.key for c in play.first_stages]
    with pytest.raises(ModelLoadError, match="unknown embedder"):
        play.first_stage_key("BAAI/bge-small-en-v1.5")  # offline: not offered


def test_an_unmeasured_size_is_scaled_by_compute_from_a_size_measured_here_never_by_published_ratios():
    from demo.search.throughput import pair_cost

    book = ThroughputBook()
    big = RerankerChoice("1b", "1b", "x", "1b", True, 1)
    small = RerankerChoice("17m", "17m", "y", "17m", True, 1)
    assert book.estimate(big, 100) is None  # nothing measured here: no estimate (no prior from another machine)
    book.record(small, 100, 2.0)  # 50 pairs/s
    est = book.estimate(big, 100)
    flops = pair_cost(big) / pair_cost(small)
    assert est.seconds == pytest.approx(2.0 * flops) and not est.measured
    assert "scaled by compute from 17m" in est.basis and "blog" not in est.basis
    assert book.estimate(small, 100).seconds == pytest.approx(2.0) and book.estimate(small, 100).measured
    assert 100 / (50 * 2.1 / 267.4) != pytest.approx(est.seconds, rel=0.2)  # not the blog's CPU ratio


def test_time_limit_refuses_with_a_suggested_k(tmp_path, monkeypatch):
    monkeypatch.setenv("ETTIN_CACHE", str(tmp_path / "cache"))  # no rate another test stored on this machine
    _fake_model(tmp_path / "1b", "1b")
    play = Playground(tmp_path, max_rerank_seconds=10, include_hub=False)
    choice = play.reranker_choice("1b")
    play.record_throughput(choice, "auto", 10, 10.0)  # 1 pair/s
    with pytest.raises(OverLimitError, match="lower K to 10 .the most that fit.") as refused:
        play.check_budget(choice, 50)
    assert refused.value.estimate.seconds == pytest.approx(50) and "measured on this machine: 1.0 pairs/s" in str(refused.value)
    assert play.check_budget(choice, 50, run_anyway=True).startswith("⚠️ run anyway: 1b was estimated at 50 s")
    assert play.check_budget(choice, 10) == "" and play.check_budget(choice, 10, run_anyway=True) == ""
    text = play.estimate_text("1b", 50)
    assert "Above the 10 s limit" in text and "lower K to 10" in text and "Run anyway" in text
    fresh = Playground(tmp_path, max_rerank_seconds=10, include_hub=False)  # a rerank's rate is kept in memory only
    text = fresh.estimate_text("1b", 21)
    assert "not measured on this machine yet" in text and "2.1 pairs/s" not in text and "blog" not in text


def test_bad_parameters_are_refused(tmp_path):
    play = Playground(None, include_hub=False)
    corpus = Corpus.from_texts(["a b", "c d"])
    cases = [(0, 5, "between 1 and 200, not 0"), (10_000, 5, "not 10000"), (5, 0, "results must be between 1 and 50"),
             ("x", 5, "not str"), ("3", 5, "not str"), (2.5, 5, "not 2.5"), (float("nan"), 5, "not nan"),
             (None, 5, "not NoneType"), ([3], 5, "not list"), (True, 5, "not bool"), (5, float("inf"), "not inf")]
    for k, n, message in cases:
        with pytest.raises(InputError, match=re.escape(message)):
            play.search("a", corpus, "bm25", None, k, n)
    words = Corpus.from_texts(["apples and pears", "pears only"])
    assert len(play.search("pears", words, "bm25", None, 2.0, 1.0).result.hits) == 1  # a slider's 2.0 is 2


def test_bm25_over_a_corpus_without_indexable_words_finds_nothing_instead_of_failing():
    play = Playground(None, include_hub=False)
    corpus = Corpus.from_texts(["a b", "c d", "!!", "😀"])  # stopwords, one-letter words, symbols, an emoji
    for query in ("a b", "apple", "😀"):
        assert play.search(query, corpus, "bm25", None, 4, 4).result.hits == []


def test_bm25_search_tables_and_k_above_corpus():
    play = Playground(None, include_hub=False)
    corpus = Corpus.from_texts(["apples and pears", "pears only", "nothing here", "apples apples apples"])
    out = play.search("apples", corpus, "bm25", None, k=50, top_n=10)
    assert any("all of them are candidates" in n for n in out.notes)
    table = results_frame(out)
    assert list(table["doc_id"]) == ["d3", "d0"]  # BM25 keeps only documents sharing a term
    assert set(table["movement"]) == {"–"}
    assert list(movement_frame(out)["final_rank"]) == [1, 2]
    assert timings_frame(out)["seconds"].ge(0).all()


def test_search_and_compare_with_a_replica(replica_17m):
    play = Playground(replica_17m.parent, include_hub=False)
    corpus = Corpus.from_texts([f"document number {i} about topic {i % 3}" for i in range(12)])
    out = play.search("topic 1", corpus, "bm25", "17m", k=12, top_n=5)
    assert out.result.random_init and any(RANDOM_BADGE in n for n in out.notes)
    table = results_frame(out)
    assert list(table["rank"]) == [1, 2, 3, 4, 5]
    for _, row in table.iterrows():
        moved = row["first_stage_rank"] - row["rank"]
        assert row["movement"] == ("=" if moved == 0 else (f"↑ {moved}" if moved > 0 else f"↓ {-moved}"))
    assert play.throughput().rate("17m") > 0
    assert out.settings.max_length == INTERACTIVE_MAX_LENGTH and out.settings.dtype == best_settings().dtype
    cmp = play.compare("topic 1", corpus, "bm25", ["17m"], k=12)
    assert cmp.reference == "17m" and len(cmp.rows) == 1 and cmp.complete and not cmp.reference_note
    frame = compare_table(cmp)
    assert frame.loc[0, "overlap@5"] == 1.0 and frame.loc[0, "kendall_tau"] == pytest.approx(1.0)
    assert RANDOM_BADGE in frame.loc[0, "reranker"] and frame.loc[0, "parameters"] == "16.9M"
    assert frame.loc[0, "status"] == "done (reference)" and frame.loc[0, "dtype"] == cmp.rows[0].settings.dtype
    assert play.search("topic 1", corpus, "bm25", None, k=3, top_n=3).settings is None  # no reranker, no settings


@pytest.fixture(scope="module")
def two_sizes_and_a_broken_folder(replica_17m, tmp_path_factory):
    """A models folder with two different replicas (17m, 32m) and a folder whose weights cannot load."""
    from ettin.replica import build_replica

    root = tmp_path_factory.mktemp("models-compare")
    shutil.copytree(replica_17m, root / "17m")  # a copy: links out of the models folder are refused
    build_replica("32m", root / "32m", seed=1)
    broken = root / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json", encoding="utf-8")
    return root


def _compare_corpus() -> Corpus:
    return Corpus.from_texts([f"note {i}: topic {i % 4} with words {' '.join(str(j) for j in range(i % 7))}" for i in range(16)])


def test_compare_two_different_models_measures_agreement_against_the_larger(two_sizes_and_a_broken_folder):
    play = Playground(two_sizes_and_a_broken_folder, include_hub=False)
    out = play.compare("topic 2 words", _compare_corpus(), "bm25", ["17m", "32m"], k=16)
    assert not out.skipped, out.skipped
    assert out.reference == "32m" and [r.choice.key for r in out.rows] == ["17m", "32m"]
    small, large = out.rows
    frame = compare_table(out).set_index("reranker")
    row17 = frame.loc[f"17m ({RANDOM_BADGE})"]
    shared = out.candidates
    assert row17["overlap@5"] == pytest.approx(round(overlap_at_k(small.top, large.top, 5), 3))
    expected_tau = kendalltau([small.scores[d] for d in shared], [large.scores[d] for d in shared]).statistic
    assert row17["kendall_tau"] == pytest.approx(round(expected_tau, 3))
    assert row17["kendall_tau"] < 1.0  # two different random models do not agree perfectly
    assert frame.loc[f"32m ({RANDOM_BADGE})", "kendall_tau"] == pytest.approx(1.0)


def test_compare_skipping_the_largest_size_says_the_reference_changed(two_sizes_and_a_broken_folder, tmp_path,
                                                                     monkeypatch):  # fmt: skip
    monkeypatch.setenv("ETTIN_CACHE", str(tmp_path))  # no rate another test stored: only the ones recorded here
    play = Playground(two_sizes_and_a_broken_folder, max_rerank_seconds=5.0, include_hub=False)
    play.record_throughput(play.reranker_choice("17m"), "auto", pairs=100, seconds=1.0)  # measured: 100 pairs/s
    play.record_throughput(play.reranker_choice("32m"), "auto", pairs=1, seconds=100.0)  # measured: 0.01 pairs/s
    out = play.compare("topic 2", _compare_corpus(), "bm25", ["17m", "32m"], k=16)
    assert [r.choice.key for r in out.rows] == ["17m"] and out.reference == "17m", out.skipped
    assert len(out.skipped) == 1 and out.skipped[0].startswith("32m: estimated") and "limit 5 s" in out.skipped[0]
    assert out.skipped[0].estimate_s == pytest.approx(len(out.candidates) / 0.01)
    assert "no K fits, or tick Run anyway" in out.skipped[0]
    assert "reference **32m** (the largest size selected) was skipped: estimated" in out.reference_note
    assert "measured against **17m**" in out.reference_note
    statuses = compare_table(out)["status"].tolist()
    assert statuses == ["done (reference)", out.skipped[0].replace("32m: ", "skipped: ")]


def test_compare_reports_a_model_that_fails_to_load_and_runs_the_others(two_sizes_and_a_broken_folder):
    play = Playground(two_sizes_and_a_broken_folder, include_hub=False)
    out = play.compare("topic 1", _compare_corpus(), "bm25", ["broken", "17m"], k=8)
    assert [r.choice.key for r in out.rows] == ["17m"]
    assert len(out.skipped) == 1 and out.skipped[0].startswith("broken: ") and "Traceback" not in out.skipped[0]


def test_compare_with_no_rerankers_is_a_clean_error(tmp_path):
    play = Playground(tmp_path, include_hub=False)
    assert play.rerankers == []
    with pytest.raises(InputError, match="no rerankers to compare.*python -m ettin replica"):
        play.compare("topic", _compare_corpus(), "bm25", None, k=5)


def test_precision_is_validated_and_keys_its_own_throughput(tmp_path):
    _fake_model(tmp_path / "17m")
    play = Playground(tmp_path, max_rerank_seconds=10, include_hub=False)
    corpus = Corpus.from_texts(["a b", "c d"])
    choice = play.reranker_choice("17m")
    for bad in ("fp16", "", None, 16):
        for call in (lambda: play.search("a", corpus, "bm25", None, 2, 2, precision=bad),
                     lambda: play.compare("a", corpus, "bm25", ["17m"], 2, precision=bad),
                     lambda: play.reranker(choice, precision=bad),
                     lambda: play.check_budget(choice, 5, precision=bad)):  # fmt: skip
            with pytest.raises(InputError, match="precision must be one of auto, bf16, fp32"):
                call()
    assert PRECISIONS == ("auto", "bf16", "fp32")
    play.record_throughput(choice, "bf16", 10, 100.0)  # 0.1 pairs/s in bf16
    assert play.throughput("bf16").rate("17m") == 0.1 and play.throughput("fp32").rate("17m") is None
    with pytest.raises(InputError, match="lower K to 1"):
        play.check_budget(choice, 50, "bf16")
    play.check_budget(choice, 50, "fp32")  # fp32 not measured: no estimate from (nor scaled from) the bf16 rate
    assert "not measured" in play.estimate_text("17m", 50, "fp32")
    assert "Above the 10 s limit" in play.estimate_text("17m", 50, "bf16")
