"""``POST /rerank`` in the app's own form: its response, the app's limits, and a clean 4xx JSON message per bad input
(the other wire formats: test_rest_formats.py; the real clients over HTTP: test_rest_clients.py)."""

from __future__ import annotations

import json
import math

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from demo.api.rest import MAX_DOCUMENTS, add_rerank_route
from demo.search.playground import Playground
from demo.sources.choices import RANDOM_BADGE

QUERY = "vitamin b12 and homocysteine"
DOCS = ["Vitamin B12 deficiency raises homocysteine.", "Cats sleep a lot.", "Aspirin inhibits PGE2.", "B12 and folate."]


@pytest.fixture(scope="module")
def play(replica_17m):
    return Playground(replica_17m.parent, include_hub=False)


@pytest.fixture(scope="module")
def http(play):
    app = FastAPI()
    add_rerank_route(app, play, max_body_bytes=64_000)
    return TestClient(app)


def test_rerank_returns_every_document_best_first_with_scores_a_client_expects(http, play):
    response = http.post("/rerank", json={"query": QUERY, "documents": DOCS, "top_n": 3, "return_documents": True})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "17m" and body["random_init"] is True and body["warning"] == RANDOM_BADGE
    assert body["usage"]["documents"] == 4 and len(body["results"]) == 3
    direct = play.reranker(play.reranker_choice("17m")).score_pairs([(QUERY, d) for d in DOCS])
    expected = sorted(range(4), key=lambda i: (-float(direct[i]), i))[:3]
    assert [r["index"] for r in body["results"]] == expected
    for r in body["results"]:
        assert r["raw_score"] == pytest.approx(float(direct[r["index"]]), abs=1e-6)
        assert r["relevance_score"] == pytest.approx(1 / (1 + math.exp(-r["raw_score"])), abs=1e-12)
        assert r["document"] == {"text": DOCS[r["index"]]}


def test_defaults_and_document_objects(http):
    body = http.post("/rerank", json={"query": QUERY, "documents": [{"text": "a", "title": "T"}, "b"]}).json()
    assert len(body["results"]) == 2 and "document" not in body["results"][0]
    assert sorted(r["index"] for r in body["results"]) == [0, 1]
    assert body["precision"] == "auto" and body["dtype"] == Playground.reranker_settings("auto").dtype


def test_precision_fp32_runs_the_model_in_float32(http, play):
    body = http.post("/rerank", json={"query": QUERY, "documents": DOCS, "precision": "fp32"}).json()
    assert body["precision"] == "fp32" and body["dtype"] == "float32"
    direct = play.reranker(play.reranker_choice("17m"), "fp32")
    assert direct.settings.dtype == "float32"
    expected = [float(s) for s in direct.score_pairs([(QUERY, d) for d in DOCS])]
    assert sorted(r["raw_score"] for r in body["results"]) == pytest.approx(sorted(expected), abs=1e-6)
    assert play.throughput("fp32").rate("17m") > 0


BAD = [
    (b"not json", 400, "not valid JSON"),
    (b"\xff\xfe", 400, "not UTF-8"),
    (b"[1, 2]", 400, "send a JSON object"),
    (b"[" * 100_00 + b"]" * 100_00, 400, "nested too deeply"),
    (json.dumps({"query": QUERY, "documents": DOCS, "colour": 1}), 400, "unknown field(s) colour"),
    (json.dumps({"documents": DOCS}), 400, "query: the query must be text, not NoneType"),
    (json.dumps({"query": "  ", "documents": DOCS}), 400, "query: the query is empty"),
    (json.dumps({"query": "x" * 5000, "documents": DOCS}), 400, "the limit is 2,000"),
    ('{"query": "q \\ud800", "documents": ["a"]}', 400, "lone UTF-16 surrogate"),
    (json.dumps({"query": QUERY, "documents": []}), 400, "non-empty list"),
    (json.dumps({"query": QUERY, "documents": "one string"}), 400, "non-empty list"),
    (json.dumps({"query": QUERY, "documents": [1, 2]}), 400, "documents[0] must be a string"),
    (json.dumps({"query": QUERY, "documents": [{"title": "no text"}]}), 400, 'a string "text"'),
    ('{"query": "q", "documents": ["ok", "bad \\udc00"]}', 400, "documents[1] contains an invalid character"),
    (json.dumps({"query": QUERY, "documents": ["x" * 20_001]}), 400, "documents[0] has 20,001 characters"),
    (json.dumps({"query": QUERY, "documents": ["d"] * (MAX_DOCUMENTS + 1)}), 413, "the limit is 200 per request"),
    (json.dumps({"query": QUERY, "documents": ["d " * 1000] * 40}), 413, "the limit is 64,000"),
    (json.dumps({"query": QUERY, "documents": DOCS, "top_n": 2.5}), 400, "not 2.5"),
    (json.dumps({"query": QUERY, "documents": DOCS, "top_n": "3"}), 400, "not str"),
    (json.dumps({"query": QUERY, "documents": DOCS, "top_n": True}), 400, "not bool"),
    (json.dumps({"query": QUERY, "documents": DOCS, "top_n": [1]}), 400, "not list"),
    ('{"query": "q", "documents": ["a"], "top_n": NaN}', 400, "not nan"),
    (json.dumps({"query": QUERY, "documents": DOCS, "top_n": 0}), 400, "between 1 and 200, not 0"),
    ('{"query": "q", "documents": ["a"], "top_n": ' + "9" * 5000 + "}", 400, "not valid JSON"),
    (json.dumps({"query": QUERY, "documents": DOCS, "return_documents": "yes"}), 400, "true or false"),
    (json.dumps({"query": QUERY, "documents": DOCS, "model": "../../etc/passwd"}), 404, "unknown reranker"),
    (json.dumps({"query": QUERY, "documents": DOCS, "model": 17}), 400, "model must be a string"),
    (json.dumps({"query": QUERY, "documents": DOCS, "model": "none"}), 400, "give a reranker key"),
    (json.dumps({"query": QUERY, "documents": DOCS, "precision": "fp16"}), 400, "precision must be one of auto, bf16"),
    (json.dumps({"query": QUERY, "documents": DOCS, "precision": 32}), 400, "one of auto, bf16, fp32, not 32"),
]


@pytest.mark.parametrize(("body", "status", "message"), BAD, ids=[f"bad-{i}" for i in range(len(BAD))])
def test_bad_requests_are_a_4xx_with_a_json_message(http, body, status, message):
    response = http.post("/rerank", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text[:300]
    assert message in response.json()["message"]


def test_null_top_n_is_absent_and_returns_every_document(http):
    """Clients send ``"top_n": null`` for "all" (langchain-cohere does); it used to be a 400."""
    response = http.post("/rerank", json={"query": QUERY, "documents": DOCS, "top_n": None, "return_documents": None})
    assert response.status_code == 200, response.text
    assert sorted(r["index"] for r in response.json()["results"]) == [0, 1, 2, 3]
    assert "document" not in response.json()["results"][0]


def test_no_rerankers_offered_is_a_clear_503(tmp_path):
    app = FastAPI()
    add_rerank_route(app, Playground(tmp_path, include_hub=False))
    response = TestClient(app).post("/rerank", json={"query": QUERY, "documents": DOCS})
    assert response.status_code == 503 and "no rerankers are offered" in response.json()["message"]


def test_extreme_logits_give_a_sigmoid_in_0_1_not_a_500(play, monkeypatch):
    """A logit below -709 made math.exp(-score) overflow (an unhandled 500); the stable sigmoid maps it to 0."""
    model = play.reranker(play.reranker_choice("17m"))
    monkeypatch.setattr(type(model), "score_pairs", lambda self, pairs, **_: [-1000.0, 1000.0, 0.0][: len(pairs)])
    app = FastAPI()
    add_rerank_route(app, play, max_body_bytes=64_000)
    response = TestClient(app).post("/rerank", json={"query": QUERY, "documents": DOCS[:3]})
    assert response.status_code == 200, response.text
    by_index = {r["index"]: r["relevance_score"] for r in response.json()["results"]}
    assert by_index == {0: 0.0, 1: 1.0, 2: 0.5}
