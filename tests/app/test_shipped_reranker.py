"""Offline, the app offers the reranker trained here first (Search, Compare, POST /rerank); a damaged adapter leaves it
out with one clear warning and the app still starts."""

from __future__ import annotations

import shutil

import pytest

from demo.sources.choices import discover_rerankers, first_stage_choices
from ettin.paths import RESOURCES
from ettin.registry import TRAINED_RERANKERS

SHIPPED = TRAINED_RERANKERS["minilm-scifact"]


@pytest.fixture()
def shipped_on(monkeypatch):
    monkeypatch.setenv("ETTIN_TRAINED_RERANKERS", "1")


def test_offline_the_shipped_reranker_comes_first_named_for_what_it_is(shipped_on, replica_17m):
    choices = discover_rerankers(replica_17m.parent, include_hub=False)
    first = choices[0]
    assert first.key == SHIPPED.id and not first.random_init
    assert "trained here on SciFact train" in first.label and "not an Ettin model" in first.label
    assert any(c.random_init for c in choices[1:])  # the replicas stay offered (for speed)


def test_a_damaged_adapter_is_left_out_with_a_warning_and_the_replicas_remain(shipped_on, replica_17m, monkeypatch, tmp_path):
    import ettin.paths

    broken = tmp_path / SHIPPED.folder
    shutil.copytree(RESOURCES / SHIPPED.folder, broken)
    (broken / "head.safetensors").write_bytes(b"not the trained weights")
    monkeypatch.setattr(ettin.paths, "RESOURCES", tmp_path)
    with pytest.warns(UserWarning, match="differs from its card"):
        choices = discover_rerankers(replica_17m.parent, include_hub=False)
    assert SHIPPED.id not in {c.key for c in choices} and choices


def test_the_shipped_reranker_answers_post_rerank_by_default_with_a_real_model(shipped_on):
    from fastapi.testclient import TestClient

    from demo.api.rest import add_rerank_route
    from demo.search.playground import Playground

    play = Playground(include_hub=False)
    assert play.rerankers[0].key == SHIPPED.id
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
