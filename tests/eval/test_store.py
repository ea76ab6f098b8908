"""The results store, schema 2: per-query metrics, top-10 rankings and intervals written, schema 1 still read; the
leaderboard's intervals, rank ranges, gains and tied groups built from them (``python -m eval leaderboard`` included)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ettin.metrics import METRIC_KEYS, mean_metrics, per_query_metrics
from ettin.runtime import RuntimeSettings
from eval import leaderboard as lb
from eval.leaderboard import stats
from eval.retrieval import store

DATASET = {"name": "toy", "split": "test", "fingerprint": "0" * 64, "source": "test"}
SHARED = {"packages": {"torch": "x"}, "hardware": {"description": "Test CPU"}, "date": "2026-11-30T00:00:00+00:00"}
QRELS = {"q1": {"d1": 1}, "q2": {"d2": 1, "d3": 1}, "q3": {"d9": 1}}
RUN = {
    "q1": {f"d{i}": 1.0 / i for i in range(1, 15)},  # d1 first
    "q2": {"d5": 3.0, "d3": 2.0, "d2": 2.0, "d1": 1.0},  # d3 and d2 tie: the larger id (d3) ranks first
    "q3": {"d1": 1.0},
}


def test_a_run_is_recorded_with_per_query_metrics_rankings_and_intervals(tmp_path):
    settings = RuntimeSettings(device="cpu", dtype="float32", attn_implementation="sdpa")
    record = store.record_run(tmp_path, QRELS, RUN, dataset=DATASET, first_stage="bm25", first_stage_provenance={"id": "bm25"},
                              reranker=None, settings=settings, top_k=100, shared=SHARED)
    assert record["schema"] == store.SCHEMA == "ettin.retrieval/2"
    per_query = per_query_metrics(QRELS, RUN)
    assert record["per_query"] == per_query and record["metrics"] == mean_metrics(per_query)
    assert record["rankings"]["q1"] == [f"d{i}" for i in range(1, 11)]  # top 10 only
    assert record["rankings"]["q2"] == ["d5", "d3", "d2", "d1"]
    ndcg = [per_query[q]["ndcg_at_10"] for q in per_query]
    direct = stats.bootstrap_interval(ndcg)
    assert record["intervals"]["ndcg_at_10"] == pytest.approx(direct.as_dict())
    assert set(record["intervals"]) == set(METRIC_KEYS)
    prov = record["provenance"]["statistics"]
    assert prov["n_resamples"] == 10_000 and prov["seed"] == 0 and prov["confidence_level"] == 0.95
    (stored,), problems = store.read_records(tmp_path)
    assert problems == [] and stored.record == json.loads(json.dumps(record))


@pytest.mark.parametrize(("name", "ignored"), [("ArguAna", True), ("FiQA2018", True), ("arguana", True), ("toy", False)])
def test_a_task_that_ignores_identical_ids_has_the_querys_own_document_dropped_and_says_so(tmp_path, name, ignored):
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}}
    run = {"q1": {"q1": 9.0, "d1": 5.0, "d4": 1.0}, "q2": {"q1": 8.0, "d2": 4.0}}  # q1's own document ranks first
    settings = RuntimeSettings(device="cpu", dtype="float32", attn_implementation="sdpa")
    record = store.record_run(tmp_path, qrels, run, dataset={**DATASET, "name": name}, first_stage="bm25",
                              first_stage_provenance={"id": "bm25"}, reranker=None, settings=settings, top_k=100,
                              shared=SHARED)
    protocol = record["provenance"]["protocol"]
    assert protocol["ignore_identical_ids"] is ignored and protocol["ignore_identical_ids_source"]
    # hand-computed: q1's relevant d1 at rank 1 once its own document is dropped, else at rank 2; q2 keeps q1's document
    q1 = record["per_query"]["q1"]
    assert q1["ndcg_at_10"] == pytest.approx(1.0 if ignored else 1 / np.log2(3))
    assert record["rankings"]["q1"] == (["d1", "d4"] if ignored else ["q1", "d1", "d4"])
    assert record["rankings"]["q2"] == ["q1", "d2"] and record["per_query"]["q2"]["ndcg_at_10"] == pytest.approx(1 / np.log2(3))


def _v1(record: dict) -> dict:
    old = {k: v for k, v in record.items() if k not in ("per_query", "rankings", "intervals")}
    return {**old, "schema": "ettin.retrieval/1"}


def test_schema_1_files_are_still_read_and_bad_schema_2_files_are_refused(tmp_path):
    per_query = per_query_metrics(QRELS, RUN)
    good = store.make_record(dataset="toy", split="test", first_stage="bm25", reranker=None, metrics=mean_metrics(per_query),
                             n_queries=3, provenance={"dataset": DATASET}, per_query=per_query, rankings={})
    path = store.write_record(tmp_path, _v1(good))
    (read,), problems = store.read_records(tmp_path)
    assert problems == [] and read.record["schema"] == "ettin.retrieval/1" and not store.has_per_query(read.record)
    means_only = store.make_record(dataset="toy", split="test", first_stage="bm25", reranker=None,
                                   metrics=mean_metrics(per_query), n_queries=3, provenance={"dataset": DATASET})
    assert means_only["schema"] == store.SCHEMA_V1 and "per_query" not in means_only
    store.validate_record(means_only)
    bad = {**good, "n_queries": 4}
    path.write_text(json.dumps(bad), encoding="utf-8")
    assert store.read_records(tmp_path)[1] == [
        "retrieval/toy/test/bm25/retriever-only.json: per_query holds 3 queries, n_queries says 4"
    ]
    with pytest.raises(ValueError, match="expected one of"):
        store.validate_record({**good, "schema": "ettin.retrieval/9"})


def write_system(root: Path, first_stage: str, reranker: str | None, ndcg: np.ndarray, random_init: bool = False) -> dict:
    """A schema-2 record with these per-query NDCG@10 values (other metrics follow them), written through the store."""
    per_query = {f"q{i:03d}": {k: float(v) for k in METRIC_KEYS} for i, v in enumerate(ndcg)}
    prov = {
        "first_stage": {"id": first_stage, "random_init": False},
        "reranker": {"id": reranker, "random_init": random_init} if reranker else None,
        "dataset": {**DATASET, "name": "scifact", "source": "bundled data/scifact (BEIR SciFact)"},
        "protocol": {"top_k": 100},
        **SHARED,
    }
    record = store.make_record(dataset="scifact", split="test", first_stage=first_stage, reranker=reranker,
                               metrics=mean_metrics(per_query), n_queries=len(per_query), provenance=prov,
                               per_query=per_query, rankings={q: [] for q in per_query})
    store.write_record(root, record)
    return record


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """bm25 and a copy of it (tied), a reranker clearly better than bm25, and a random-init reranker (refused)."""
    root = tmp_path_factory.mktemp("results")
    rng = np.random.default_rng(0)
    base = rng.random(150)
    write_system(root, "bm25", None, base)
    write_system(root, "bm25-copy", None, base)
    write_system(root, "bm25", "cross-encoder/ettin-reranker-17m-v1", np.minimum(1.0, base + 0.2))
    write_system(root, "bm25", "models/68m", rng.random(150), random_init=True)
    return root


def test_leaderboard_intervals_ranks_gains_and_tied_groups(results):
    board = lb.build_leaderboard(results)
    assert board.refused_random_init == 1
    regen = board.embedders[board.embedders["source"] == "regenerated"].set_index("system")
    assert set(regen.index) == {"bm25", "bm25-copy", "bm25 » cross-encoder/ettin-reranker-17m-v1"}
    reranked = regen.loc["bm25 » cross-encoder/ettin-reranker-17m-v1"]
    record = json.loads((results / "retrieval/scifact/test/bm25/cross-encoder__ettin-reranker-17m-v1.json").read_text())
    assert (reranked["ndcg10_low"], reranked["ndcg10_high"]) == pytest.approx(
        (record["intervals"]["ndcg_at_10"]["low"], record["intervals"]["ndcg_at_10"]["high"]))
    assert reranked["rank"] == "1" and regen.loc["bm25", "rank"] == "2–3" and regen.loc["bm25-copy", "rank"] == "2–3"
    assert reranked["gain"] > 0.15 and reranked["gain_low"] > 0 and reranked["gain_p_holm"] < 0.05
    assert np.isnan(regen.loc["bm25", "gain"])  # a first stage alone has no gain
    assert board.tied_groups()["scifact/test"] == [["bm25", "bm25-copy"]]
    assert len(board.comparisons[board.comparisons["scope"] == "scifact/test"]) == 3
    published = board.quality[board.quality["source"] == "published"]
    assert published["ndcg10_low"].isna().all() and set(published["interval"]) == {lb.NO_INTERVAL_PUBLISHED}
    quality = board.quality[board.quality["source"] == "regenerated"]
    assert quality["ndcg10_low"].item() == pytest.approx(reranked["ndcg10_low"])  # one first stage: the same interval


def test_filters_keep_the_first_stages_and_re_rank(results):
    board = lb.build_leaderboard(results)
    only_teacher = lb.ranked(lb.filter_frame(board.embedders, families=["teacher"]), board.comparisons)
    regen = only_teacher[only_teacher["source"] == "regenerated"]
    assert set(regen["system"]) == {"bm25", "bm25-copy"} and set(regen["rank"]) == {"1–2"}
    ablation = lb.filter_frame(board.ablation, families=["teacher"])
    assert ablation.empty
    assert len(lb.filter_frame(board.ablation, max_params=40e6)) == 8  # 17m and 32m, four configurations each


def test_cli_prints_intervals_and_tied_groups(results, tmp_path, capsys):
    from eval.__main__ import main

    assert main(["leaderboard", "--results-dir", str(results), "--out", str(tmp_path / "out")]) == 0
    text = capsys.readouterr().out
    assert "95% bootstrap intervals (10,000 resamples of the queries, seed 0; paired for gains)" in text
    assert "tied (scifact/test): bm25 | bm25-copy" in text
    assert "gain +0.1" in text and "rank 2–3" in text
    comparisons = json.loads((tmp_path / "out" / "comparisons.json").read_text())
    assert len(comparisons) == 3 and {"p_value", "p_holm", "low", "high"} <= set(comparisons[0])


def test_params_are_printed_as_the_post_prints_them():
    assert lb.format_params(17.6e6) == "17.6M" and lb.format_params(1e9) == "1.00B" and lb.format_params(float("nan")) == ""


def test_figures_draw_error_bars_for_regenerated_points_and_say_published_ones_have_none(results):
    from eval.leaderboard import figures

    board = lb.build_leaderboard(results)
    fig = figures.quality_vs_params(board.quality, "scifact/test (regenerated)")
    (ettin,) = [t for t in fig.data if t.name == "Ettin rerankers"]
    row = board.quality[board.quality["benchmark"] == "scifact/test (regenerated)"].iloc[0]
    assert ettin.error_y.array[0] == pytest.approx(row["ndcg10_high"] - row["ndcg10"])
    assert ettin.error_y.arrayminus[0] == pytest.approx(row["ndcg10"] - row["ndcg10_low"])
    assert "95% bootstrap of the per-query mean" in ettin.hovertext[0]
    bars = figures.embedder_bars(board.embedders, "scifact")
    assert all(t.error_y.array is not None for t in bars.data)
    published = figures.pareto(board.quality, board.speed, "MTEB(eng, v2) Retrieval", "CPU i7-13700K")
    hover = next(t for t in published.data if t.name == "Ettin").hovertext[0]
    assert "pairs/s: " in hover and lb.NO_INTERVAL_PUBLISHED in hover and "parameters: " in hover
    others = next(t for t in published.data if t.name.startswith("others"))
    assert others.text is None and others.mode == "markers"  # grey peers: named on hover only
