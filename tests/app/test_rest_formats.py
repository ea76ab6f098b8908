"""The rerank routes' wire formats (Cohere v1/v2, Jina, TEI, Infinity, the app's own), in-process: which format a
request speaks, every optional field accepted (null is absent), the response shapes, the same clean refusals on every
path, the extreme logits, the API key and the OpenAPI listing. The real SDKs over real HTTP: test_rest_clients.py."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from demo.api.formats import FIELDS, IGNORED, parse_request
from demo.api.handler import cap_tokens
from demo.api.rest import add_rerank_route
from demo.search.playground import Playground
from demo.sources.choices import RANDOM_BADGE
from demo.views.frames import sigmoid

QUERY = "vitamin b12 and homocysteine"
DOCS = ["Vitamin B12 deficiency raises homocysteine.", "Cats sleep a lot.", "Aspirin inhibits PGE2.", "B12 and folate."]
PATHS = ["/v1/rerank", "/v2/rerank", "/rerank"]


@pytest.fixture(scope="module")
def play(replica_17m):
    return Playground(replica_17m.parent, include_hub=False)


@pytest.fixture(scope="module")
def http(play):
    app = FastAPI()
    add_rerank_route(app, play, max_body_bytes=64_000, api_key="")
    return TestClient(app)


@pytest.fixture(scope="module")
def logits(play):
    model = play.reranker(play.reranker_choice("17m"))
    return [float(s) for s in model.score_pairs([(QUERY, d) for d in DOCS])]


def _best_first(logits):
    return sorted(range(len(logits)), key=lambda i: (-logits[i], i))


def test_which_format_a_request_speaks_is_decided_by_path_then_by_its_own_fields():
    def wire(path, **fields):
        return parse_request(json.dumps({"query": "q", **fields}).encode(), path).wire

    assert wire("/v1/rerank", documents=["a"]) == "cohere-v1" and wire("/v2/rerank", documents=["a"]) == "cohere-v2"
    assert wire("/rerank", texts=["a"]) == "tei" and wire("/rerank", texts=["a"], raw_scores=True) == "tei"
    assert wire("/rerank", documents=["a"], raw_scores=False) == "infinity"
    assert wire("/rerank", documents=["a"]) == "app" and wire("/rerank", documents=["a"], raw_scores=None) == "app"


def test_cohere_v1_and_jina_shape(http, logits):
    body = {"query": QUERY, "documents": DOCS, "top_n": 2, "return_documents": True, "model": "17m"}
    response = http.post("/v1/rerank", json=body)
    assert response.status_code == 200, response.text
    out = response.json()
    assert [r["index"] for r in out["results"]] == _best_first(logits)[:2]
    for r in out["results"]:
        assert r["relevance_score"] == pytest.approx(sigmoid(logits[r["index"]]), abs=1e-6)
        assert r["document"] == {"text": DOCS[r["index"]]} and "raw_score" not in r
    assert out["meta"]["api_version"] == {"version": "1"} and out["meta"]["billed_units"] == {"search_units": 1}
    assert out["meta"]["warnings"] == [RANDOM_BADGE] and out["warning"] == RANDOM_BADGE
    assert out["model"] == "17m" and out["random_init"] is True and out["usage"]["total_tokens"] > 4 * 4
    assert response.headers["x-ettin-model"] == "17m" and response.headers["x-ettin-random-init"] == "true"


def test_cohere_v2_shape_and_every_optional_field(http):
    body = {"query": QUERY, "documents": DOCS, "model": "17m", "top_n": 4, "max_tokens_per_doc": 4096, "priority": 0,
            "return_documents": False, "rank_fields": None, "max_chunks_per_doc": 10, "precision": "auto",
            "relevant_spans": {"mode": "enabled", "threshold": 0.2}}  # fmt: skip
    out = http.post("/v2/rerank", json=body).json()
    assert out["meta"]["api_version"] == {"version": "2"} and "usage" not in out and len(out["results"]) == 4
    assert out["meta"]["warnings"] == [*(IGNORED[k] for k in ("max_chunks_per_doc", "priority", "relevant_spans")),
                                       RANDOM_BADGE]  # fmt: skip
    bad = http.post("/v2/rerank", json={**body, "relevant_spans": {"mode": "on"}}).json()["message"]
    assert bad.startswith('relevant_spans must be an object with "mode": "enabled" or "disabled"')
    assert out["meta"]["billed_units"] == {"search_units": 1}


def test_tei_form_is_answered_with_a_bare_list(http, logits):
    body = {"query": QUERY, "texts": DOCS, "raw_scores": False, "return_text": True, "truncate": True,
            "truncation_direction": "Right"}  # fmt: skip
    out = http.post("/rerank", json=body).json()
    assert isinstance(out, list) and [r["index"] for r in out] == _best_first(logits)
    assert all(r["score"] == pytest.approx(sigmoid(logits[r["index"]]), abs=1e-6) for r in out)
    assert all(r["text"] == DOCS[r["index"]] for r in out)
    raw = http.post("/rerank", json={"query": QUERY, "texts": DOCS, "raw_scores": True}).json()
    assert {r["index"]: r["score"] for r in raw} == pytest.approx(dict(enumerate(logits)), abs=1e-6)
    assert all(set(r) == {"index", "score"} for r in raw)
    # the rerankers package's TEI provider also sends model and top_n
    top = http.post("/rerank", json={"model": "17m", "query": QUERY, "texts": DOCS, "top_n": 2, "return_text": True})
    assert [r["index"] for r in top.json()] == _best_first(logits)[:2] and top.headers["x-ettin-model"] == "17m"


def test_infinity_form_as_its_client_sends_it(http, logits):
    body = {"query": QUERY, "documents": DOCS, "return_documents": True, "raw_scores": False,
            "model": "default/not-specified", "top_n": None}  # fmt: skip
    out = http.post("/rerank", json=body).json()
    assert out["object"] == "rerank" and out["model"] == "17m" and isinstance(out["created"], int)
    assert out["usage"]["prompt_tokens"] == out["usage"]["total_tokens"] > 0
    assert all(r["document"] == DOCS[r["index"]] for r in out["results"])  # Infinity echoes the string
    raw = http.post("/rerank", json={**body, "raw_scores": True}).json()
    assert all(r["relevance_score"] == r["raw_score"] == pytest.approx(logits[r["index"]], abs=1e-6) for r in raw["results"])


def test_rank_fields_rank_those_fields_in_order_and_the_object_comes_back(http, play):
    docs = [{"title": "Cats", "author": "A. Writer", "text": "Cats sleep a lot.", "id": 7},
            {"title": "Vitamin B12", "author": "B. Doctor", "text": "B12 lowers homocysteine."}]  # fmt: skip
    body = {"query": QUERY, "documents": docs, "rank_fields": ["author", "text"], "return_documents": True}
    out = http.post("/v1/rerank", json=body).json()
    model = play.reranker(play.reranker_choice("17m"))
    expected = model.score_pairs([(QUERY, f"{d['author']} {d['text']}") for d in docs])
    assert {r["index"]: r["relevance_score"] for r in out["results"]} == pytest.approx(
        {i: sigmoid(float(s)) for i, s in enumerate(expected)}, abs=1e-6)
    assert {r["index"]: r["document"] for r in out["results"]} == dict(enumerate(docs))  # every field kept


def test_max_tokens_per_doc_cuts_each_document_to_that_many_tokens(http, play):
    long_docs = ["Vitamin B12 deficiency raises homocysteine in older adults with low intake. " * 5, "sleep"]
    model = play.reranker(play.reranker_choice("17m"))
    cut = cap_tokens(model.model.tokenizer, long_docs, 3)
    assert cut[0] != long_docs[0] and long_docs[0].startswith(cut[0]) and cut[1] == "sleep"
    assert len(model.model.tokenizer(cut[0], add_special_tokens=False)["input_ids"]) == 3
    out = http.post("/v2/rerank", json={"query": QUERY, "documents": long_docs, "max_tokens_per_doc": 3}).json()
    expected = model.score_pairs([(QUERY, d) for d in cut])
    assert {r["index"]: r["relevance_score"] for r in out["results"]} == pytest.approx(
        {i: sigmoid(float(s)) for i, s in enumerate(expected)}, abs=1e-6)


def test_truncate_false_refuses_a_pair_longer_than_the_model_reads(http):
    long_text = "homocysteine " * 1500  # under the 20,000 characters a document may have
    refused = http.post("/rerank", json={"query": QUERY, "texts": ["short", long_text], "truncate": False})
    assert refused.status_code == 413 and 'texts[1] and the query make' in refused.json()["message"]
    assert '"truncate": true' in refused.json()["message"]
    for truncate in (True, None):
        assert http.post("/rerank", json={"query": QUERY, "texts": [long_text], "truncate": truncate}).status_code == 200


@pytest.mark.parametrize(("path", "wire"), [("/v1/rerank", "cohere-v1"), ("/v2/rerank", "cohere-v2"), ("/rerank", "app"),
                                           ("/rerank", "tei")])  # fmt: skip
def test_null_is_absent_for_every_field_a_format_accepts(http, path, wire):
    key = "texts" if wire == "tei" else "documents"
    optional = FIELDS[wire] - {"query", key}
    response = http.post(path, json={"query": QUERY, key: DOCS, **dict.fromkeys(optional, None)})
    assert response.status_code == 200, response.text
    results = response.json() if wire == "tei" else response.json()["results"]
    assert len(results) == 4 and all(set(r) <= {"index", "score", "relevance_score", "raw_score"} for r in results)


@pytest.mark.parametrize("path", PATHS)
def test_an_unknown_field_is_refused_by_name_on_every_path(http, path):
    response = http.post(path, json={"query": QUERY, "documents": DOCS, "colour": None, "return_text": 1})
    message = response.json()["message"]
    assert response.status_code == 400 and message.startswith("unknown field(s) colour") and "known on POST" in message
    tei = http.post("/rerank", json={"query": QUERY, "texts": DOCS, "return_documents": True}).json()["message"]
    assert "unknown field(s) return_documents" in tei and "TEI" in tei


@pytest.mark.parametrize("path", PATHS)
def test_a_get_is_a_405_with_a_message(http, path):
    response = http.get(path)
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert response.json() == {"message": f"{path} answers POST with a JSON body, not GET"}


BAD_EVERYWHERE = [
    (b"not json", 400, "not valid JSON"),
    (b"\xff\xfe", 400, "not UTF-8"),
    (b"[" * 10_000 + b"]" * 10_000, 400, "nested too deeply"),
    ('{"query": "q \\ud800", "documents": ["a"]}', 400, "lone UTF-16 surrogate"),
    ('{"query": "q", "documents": ["ok", "bad \\udc00"]}', 400, "documents[1] contains an invalid character"),
    (json.dumps({"query": QUERY, "documents": [1]}), 400, "documents[0] must be a string"),
    (json.dumps({"query": QUERY, "documents": "one"}), 400, "non-empty list"),
    (json.dumps({"query": QUERY, "documents": ["d " * 1000] * 40}), 413, "the limit is 64,000"),
    (json.dumps({"query": QUERY, "documents": ["d"] * 201}), 413, "the limit is 200 per request"),
    (json.dumps({"query": QUERY, "documents": DOCS, "top_n": "3"}), 400, "top_n must be a whole number"),
    (json.dumps({"query": QUERY, "documents": DOCS, "return_documents": "yes"}), 400, "return_documents must be true or false"),
    (json.dumps({"query": QUERY, "documents": DOCS, "max_tokens_per_doc": 0}), 400, "max_tokens_per_doc must be between 1"),
    (json.dumps({"query": QUERY, "documents": DOCS, "max_chunks_per_doc": 1.5}), 400, "max_chunks_per_doc must be a whole"),
    (json.dumps({"query": QUERY, "documents": DOCS, "rank_fields": "text"}), 400, "rank_fields must be a list"),
    (json.dumps({"query": QUERY, "documents": [{"a": "x"}], "rank_fields": ["title"]}), 400, "none of rank_fields (title)"),
    (json.dumps({"query": QUERY, "documents": [{"text": 3}], "rank_fields": ["text"]}), 400, "documents[0]['text'] must be a string"),
    (json.dumps({"query": QUERY, "documents": [{"title": "no text"}]}), 400, 'a string "text"'),
    (json.dumps({"query": QUERY, "documents": DOCS, "model": "rerank-v3.5"}), 404, "unknown reranker 'rerank-v3.5'; available: 17m"),
    (json.dumps({"query": QUERY, "documents": DOCS, "model": 3}), 400, "model must be a string"),
    (json.dumps({"query": QUERY, "documents": DOCS, "precision": "fp16"}), 400, "precision must be one of"),
]  # fmt: skip


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("body", "status", "message"), BAD_EVERYWHERE, ids=[f"bad-{i}" for i in range(len(BAD_EVERYWHERE))])
def test_bad_requests_get_the_same_clean_answer_on_every_path(http, path, body, status, message):
    response = http.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text[:300]
    assert set(response.json()) == {"message"} and message in response.json()["message"]


BAD_TEI = [
    ({"texts": [1]}, 400, "texts[0] must be a string, not int"),
    ({"texts": [{"text": "a"}]}, 400, "texts[0] must be a string, not dict"),
    ({"texts": []}, 400, "texts must be a non-empty list"),
    ({"texts": ["a"], "documents": ["b"]}, 400, 'either "texts"'),
    ({"texts": ["a"], "truncation_direction": "Left"}, 400, 'only "Right" is supported'),
    ({"texts": ["a"], "truncation_direction": 1}, 400, 'truncation_direction must be "Right" or "Left"'),
    ({"texts": ["a"], "truncate": "no"}, 400, "truncate must be true or false"),
    ({"texts": ["a"], "raw_scores": 1}, 400, "raw_scores must be true or false"),
    ({"texts": ["a", "b \udc00"]}, 400, "texts[1] contains an invalid character"),
]


@pytest.mark.parametrize(("fields", "status", "message"), BAD_TEI, ids=[f"tei-{i}" for i in range(len(BAD_TEI))])
def test_bad_tei_requests_name_the_field(http, fields, status, message):
    body = json.dumps({"query": QUERY, **fields}).encode("utf-8", "surrogatepass")
    response = http.post("/rerank", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status and message in response.json()["message"], response.text[:300]


def test_extreme_logits_are_0_and_1_on_every_path_and_raw_where_asked(play, monkeypatch):
    """A logit below -709 made ``math.exp(-score)`` overflow (an unhandled 500): the stable sigmoid maps it to 0."""
    model = play.reranker(play.reranker_choice("17m"))
    monkeypatch.setattr(type(model), "score_pairs", lambda self, pairs, **_: [-1000.0, 1000.0, 0.0][: len(pairs)])
    app = FastAPI()
    add_rerank_route(app, play, api_key="")
    client = TestClient(app)
    for path in PATHS:
        out = client.post(path, json={"query": QUERY, "documents": DOCS[:3]}).json()
        assert {r["index"]: r["relevance_score"] for r in out["results"]} == {0: 0.0, 1: 1.0, 2: 0.5}, path
    tei = client.post("/rerank", json={"query": QUERY, "texts": DOCS[:3]}).json()
    assert {r["index"]: r["score"] for r in tei} == {0: 0.0, 1: 1.0, 2: 0.5}
    raw = client.post("/rerank", json={"query": QUERY, "texts": DOCS[:3], "raw_scores": True}).json()
    assert {r["index"]: r["score"] for r in raw} == {0: -1000.0, 1: 1000.0, 2: 0.0}


def test_api_key_from_the_environment_is_required_when_set(play, monkeypatch):
    monkeypatch.setenv("ETTIN_API_KEY", "s3cret-ключ")
    app = FastAPI()
    add_rerank_route(app, play)
    client = TestClient(app)
    body = {"query": QUERY, "documents": DOCS[:2]}
    for path in PATHS:
        missing = client.post(path, json=body)
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        assert "Authorization: Bearer <key>" in missing.json()["message"] and "ETTIN_API_KEY" in missing.json()["message"]
        wrong = client.post(path, json=body, headers={"Authorization": "Bearer s3cret"})
        assert wrong.status_code == 401 and "the API key is wrong" in wrong.json()["message"]
        good = client.post(path, json=body, headers={"Authorization": "bearer s3cret-ключ".encode()})
        assert good.status_code == 200, good.text
    monkeypatch.delenv("ETTIN_API_KEY")
    open_app = FastAPI()
    add_rerank_route(open_app, play)
    assert TestClient(open_app).post("/rerank", json=body).status_code == 200  # unset: open, as before


def test_the_routes_are_in_openapi_with_each_formats_request_body(http):
    spec = http.get("/openapi.json").json()
    for path in PATHS:
        operation = spec["paths"][path]["post"]
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        assert "rerank" in operation["tags"] and {"200", "400", "401", "404", "503"} <= set(operation["responses"])
        bodies = schema.get("anyOf", [schema])
        assert all("query" in b["properties"] for b in bodies)
    tei = spec["paths"]["/rerank"]["post"]["requestBody"]["content"]["application/json"]["schema"]["anyOf"][1]
    assert {"texts", "raw_scores", "return_text", "truncate", "truncation_direction"} <= set(tei["properties"])
    assert {"rank_fields", "max_tokens_per_doc", "priority"} <= set(
        spec["paths"]["/v2/rerank"]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"])
