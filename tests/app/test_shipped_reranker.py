"""Offline, the app offers the reranker trained here first (Search, Compare, POST /rerank); a damaged adapter leaves it
out with one clear warning and the app still starts."""

from __future__ import annotations

import copy
import shutil

import pytest

from demo.sources.choices import discover_rerankers, first_stage_choices
from ettin.adapter import read_adapter_metadata
from ettin.paths import RESOURCES
from ettin.registry import TRAINED_RERANKERS

SHIPPED = TRAINED_RERANKERS["minilm-scifact"]


@pytest.fixture()
def shipped_on(monkeypatch):
    monkeypatch.setenv("ETTIN_TRAINED_RERANKERS", "1")


def test_offline_the_shipped_reranker_comes_first_named_for_what_it_is(shipped_on, replica_17m):
    choices = discover_rerankers(replica_17m.parent, include_hub=False)
    fused, alone = sorted(choices[:2], key=lambda c: c.fuse_weight is None)
    # the fused system under its own name and the model alone, the better on dev first
    w = read_adapter_metadata(RESOURCES / SHIPPED.folder)["trained_here"]["fuse_weight"]
    assert fused.key == f"{SHIPPED.id} + first stage (z, w={w:g})" and fused.fuse_weight == w and fused.spec == SHIPPED.id
    assert alone.key == SHIPPED.id and alone.fuse_weight is None and not alone.random_init and not fused.random_init
    for choice in (fused, alone):
        assert "trained here on SciFact train" in choice.label and "not an Ettin model" in choice.label
    test = read_adapter_metadata(RESOURCES / SHIPPED.folder)["trained_here"]["test"]
    for choice in (fused, alone):
        row = test[f"bm25 » {choice.key}"]
        shown = f"NDCG@10 {row['ndcg_at_10']:.3f} [{row['low']:.3f}, {row['high']:.3f}] reranking BM25"
        assert f"{shown} (BM25 alone {test['bm25']['ndcg_at_10']:.3f})" in choice.label
    assert any(c.random_init for c in choices[2:])  # the replicas stay offered (for speed)


@pytest.mark.parametrize("fused_better", [True, False])
def test_the_better_of_its_two_systems_on_dev_comes_first(shipped_on, monkeypatch, fused_better):
    import ettin.adapter

    card = copy.deepcopy(read_adapter_metadata(RESOURCES / SHIPPED.folder))  # the reader caches: never edit its dict
    w = card["trained_here"]["fuse_weight"]
    dev = {"bm25": {"reranker": 0.60, f"fused_w{w:g}": 0.70}, "minilm": {"reranker": 0.65, f"fused_w{w:g}": 0.60}}
    if not fused_better:
        dev["minilm"]["reranker"] = 0.80  # mean 0.70 alone against 0.65 fused
    card["trained_here"]["dev_ndcg@10"] = dev
    monkeypatch.setattr(ettin.adapter, "read_adapter_metadata", lambda folder: card)
    first, second = discover_rerankers(None, include_hub=False)[:2]
    assert {first.spec, second.spec} == {SHIPPED.id}
    assert (first.fuse_weight is not None) is fused_better and (second.fuse_weight is not None) is not fused_better


def test_a_damaged_adapter_is_left_out_with_a_warning_and_the_replicas_remain(shipped_on, replica_17m, monkeypatch, tmp_path):
    import ettin.paths

    broken = tmp_path / SHIPPED.folder
    shutil.copytree(RESOURCES / SHIPPED.folder, broken)
    (broken / "head.safetensors").write_bytes(b"not the trained weights")
    monkeypatch.setattr(ettin.paths, "RESOURCES", tmp_path)
    with pytest.warns(UserWarning, match="differs from its card"):
        choices = discover_rerankers(replica_17m.parent, include_hub=False)
    assert not {c.spec for c in choices} & {SHIPPED.id} and choices


def test_the_shipped_reranker_answers_post_rerank_by_default_with_a_real_model(shipped_on):
    from fastapi.testclient import TestClient

    from demo.api.rest import add_rerank_route
    from demo.search.playground import Playground

    play = Playground(include_hub=False)
    assert {c.spec for c in play.rerankers[:2]} == {SHIPPED.id}  # /rerank has no first-stage scores: the model alone
    from fastapi import FastAPI

    api = FastAPI()
    add_rerank_route(api, play)
    query = "vitamin C deficiency causes scurvy"
    docs = ["The stock market fell on Tuesday.", "Scurvy is a disease caused by a lack of vitamin C."]
    body = TestClient(api).post("/rerank", json={"query": query, "documents": docs}).json()
    assert body["model"] == SHIPPED.id and body["random_init"] is False
    assert body["results"][0]["index"] == 1  # a trained model puts the relevant abstract first


def test_the_hybrid_first_stage_is_offered_next_to_its_two_parts():
    keys = [c.key for c in first_stage_choices(include_hub=False)]
    assert "hybrid" in keys and "bm25" in keys and "sentence-transformers/all-MiniLM-L6-v2" in keys


@pytest.fixture(scope="module")
def shipped_playground():
    import os

    from demo.search.playground import Playground

    before = os.environ.get("ETTIN_TRAINED_RERANKERS")
    os.environ["ETTIN_TRAINED_RERANKERS"] = "1"
    try:
        yield Playground(include_hub=False, max_rerank_seconds=float("inf"))
    finally:
        os.environ["ETTIN_TRAINED_RERANKERS"] = before if before is not None else "0"


def _judged_claim() -> str:
    from ettin.corpus import scifact

    ds = scifact("test")
    return next(text for qid, text in ds.queries.items() if ds.qrels.get(qid))


@pytest.mark.slow
def test_the_fused_system_is_searched_under_its_own_name_at_its_cards_length(shipped_playground):
    from demo.search.judged import judged_metrics, judged_query
    from demo.sources.user_corpus import sample_corpus
    from ettin.fusion import zscore_fuse

    play = shipped_playground
    fused, alone = sorted(play.rerankers[:2], key=lambda c: c.fuse_weight is None)
    query = _judged_claim()
    corpus = sample_corpus()
    both = play.search(query, corpus, "bm25", fused.key, k=20, top_n=20)
    plain = play.search(query, corpus, "bm25", alone.key, k=20, top_n=20)
    assert both.result.reranker == fused.key and plain.result.reranker == alone.spec
    length = read_adapter_metadata(RESOURCES / SHIPPED.folder)["max_length"]
    assert both.settings.max_length == length == plain.settings.max_length  # the length its test score was measured at
    assert any("fused system" in note for note in both.notes)
    first = {h.doc_id: h.first_stage_score for h in plain.result.candidates}
    expected = zscore_fuse(first, {h.doc_id: h.rerank_score for h in plain.result.candidates}, fused.fuse_weight)
    assert [h.doc_id for h in both.result.hits] == sorted(expected, key=lambda d: (-expected[d], list(first).index(d)))
    metrics = judged_metrics(both.result, judged_query(query))
    assert set(metrics) == {"first stage", "reranked"}


@pytest.mark.slow
def test_compare_runs_the_fused_system_beside_the_reranker_alone(shipped_playground):
    from demo.sources.user_corpus import sample_corpus

    play = shipped_playground
    fused, alone = play.rerankers[:2]
    outcome = list(play.compare_stream(_judged_claim(), sample_corpus(), "bm25", [fused.key, alone.key], k=10))[-1]
    rows = {row.choice.key: row for row in outcome.rows}
    assert set(rows) == {fused.key, alone.key}
    assert rows[fused.key].scores.keys() == rows[alone.key].scores.keys()
    assert rows[fused.key].scores != rows[alone.key].scores  # fused z-scores, not the logits
