"""Every app event over the API (gradio_client), good and bad input; bad input is a clean error, never a hang."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from demo.sources.user_corpus import sample_relevance

SAMPLE, MINE = "Bundled SciFact sample", "My documents"
QUERY = "A deficiency of vitamin B12 increases blood levels of homocysteine."
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
BADGE = "random weights — scores meaningless"


def _values(array) -> list:
    """A plotly JSON array as a list: plotly sends numbers as ``{"bdata": base64, "dtype": ...}``."""
    if isinstance(array, dict) and "bdata" in array:
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def search(client, query=QUERY, mode=SAMPLE, embedder="bm25", reranker="17m", k=20, top_n=10, precision="auto",
           normalise=False):  # fmt: skip
    """status, results (HTML), table, code, timings, plot."""
    return client.predict(query, mode, embedder, reranker, k, top_n, precision, normalise, api_name="/search")


def test_search_over_the_sample_with_bm25_and_the_replica(client):
    status, view, table, code, timings, plot = search(client, precision="fp32", normalise=True)
    assert BADGE in status and "reranked by **17m** in **float32**" in status
    assert "replica of [cross-encoder/ettin-reranker-17m-v1](https://huggingface.co/cross-encoder/ettin-reranker-17m-v1)" in status
    headers, rows = table["headers"], table["data"]
    assert headers[:5] == ["rank", "was", "moved", "score", "0–1"] and "title" in headers and "snippet" in headers
    assert [r[0] for r in rows] == list(range(1, 11))
    scores = [r[3] for r in rows]
    assert scores == sorted(scores, reverse=True)
    for r in rows:
        moved = r[1] - r[0]
        assert r[2] == ("=" if moved == 0 else (f"↑ {moved}" if moved > 0 else f"↓ {-moved}"))
    column = {name: i for i, name in enumerate(headers)}
    judged = sample_relevance()[QUERY]
    marks = {r[column["id"]]: r[column["relevant"]] for r in rows}
    assert judged & set(marks), "BM25's top 10 holds a document SciFact judges relevant to this claim"
    assert marks == {doc: ("yes" if doc in judged else "") for doc in marks}
    assert view.count("<details") == 10 and view.count("✓ relevant") == len(judged & set(marks))
    assert re.search(r'CrossEncoder\("[^"/]+/17m"', code) and ".rank(query, documents, top_k=10" in code  # no machine path
    assert "torch.float32" in code and QUERY in code
    stages = [r[0] for r in timings["data"]]
    assert stages[0].startswith("setup") and "rerank" in stages
    assert plot["type"] == "plotly" and json.loads(plot["plot"])["data"]


def test_search_without_reranker_keeps_first_stage_order_and_hides_what_is_empty(client):
    _, view, table, code, timings, plot = search(client, reranker="none", top_n=5)
    rows = table["data"]
    assert [r[1] for r in rows] == [1, 2, 3, 4, 5] and {r[2] for r in rows} == {"–"}
    assert "score" not in table["headers"] and "0–1" not in table["headers"]
    assert view.count("<details") == 5 and 'class="moved' not in view and code.startswith("# no reranker ran")
    assert dict(timings["data"])["rerank"] == 0.0
    assert not json.loads(plot["plot"])["data"]  # a message, never flat lines


def test_user_documents_are_per_session_and_searchable_with_minilm(app_url, make_client, minilm_package):
    alice, bob = make_client(app_url), make_client(app_url)
    docs = "Vitamin B12 deficiency raises homocysteine.\nCats sleep a lot.\nAspirin inhibits PGE2.\nCats sleep a lot.\n"
    message, mode = alice.predict(docs, None, api_name="/load_documents")  # the State output is not sent
    assert "3 documents loaded" in message and "1 duplicate document removed" in message and mode == MINE
    status, _, table, _, _, _ = search(alice, "vitamin b12", mode=MINE, embedder=MINILM, k=50, top_n=3)
    assert "more than the 3 documents" in status
    rows = table["data"]
    column = {name: i for i, name in enumerate(table["headers"])}
    assert len(rows) == 3 and sorted(r[column["was"]] for r in rows) == [1, 2, 3]
    assert "title" not in column  # pasted documents have no titles
    top = next(r for r in rows if r[column["was"]] == 1)
    assert top[column["snippet"]].startswith("Vitamin B12 deficiency"), "MiniLM puts the matching document first"
    with pytest.raises(AppError, match="no documents of yours are loaded"):
        search(bob, mode=MINE)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"query": ""}, "query is empty"),
        ({"query": "   \n\t "}, "query is empty"),
        ({"query": "x" * 100_000}, "limit is 2,000"),
        ({"embedder": "BAAI/bge-small-en-v1.5"}, "^embedder: the first stage must be one of .*'bm25'"),
        ({"reranker": "../../../etc/passwd"}, "^reranker: the reranker must be one of 'none', '17m'"),
        ({"reranker": "cross-encoder/ettin-reranker-1b-v1"}, "^reranker: the reranker must be one of 'none', '17m'"),
        ({"k": 5000}, "between 1 and 200|maximum|greater|less"),
        ({"top_n": 0}, "between 1 and 50|minimum|greater|less"),
        ({"precision": "fp16"}, "precision must be one of|not in the list|choices"),
    ],
)
def test_bad_search_input_is_a_clean_error(client, kwargs, message):
    with pytest.raises(AppError, match=message) as exc:
        search(client, **kwargs)
    assert "Traceback" not in str(exc.value)


def _upload(client, tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return client.predict(None, handle_file(str(path)), api_name="/load_documents")


def test_uploads_txt_jsonl_csv(client, tmp_path):
    assert "2 documents loaded" in _upload(client, tmp_path, "a.txt", b"one\ntwo\n")[0]
    rows = [{"_id": "x1", "title": "T", "text": "alpha"}, {"_id": "x2", "text": "beta"}]
    assert "2 documents loaded" in _upload(client, tmp_path, "a.jsonl", "\n".join(map(json.dumps, rows)).encode())[0]
    buf = io.StringIO()
    csv.writer(buf).writerows([["id", "text"], ["1", "hello, world"]])
    message = _upload(client, tmp_path, "a.csv", buf.getvalue().encode())[0]
    assert "1 document loaded" in message and "only one document" in message


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("bin.txt", bytes(range(256)) * 4, "binary"),
        ("latin.txt", "caf\u00e9".encode("latin-1"), "not valid UTF-8"),
        ("bad.jsonl", b'{"text": "ok"}\nnot json\n', "line 2 is not valid JSON"),
        ("bad.csv", b"title\nno text column\n", "\"text\" column"),
        ("empty.txt", b"\n \n", "no documents"),
        ("image.png", b"\x89PNG", "unsupported file type|Invalid file type"),
    ],
)
def test_bad_uploads_are_clean_errors(client, tmp_path, name, data, message):
    with pytest.raises(AppError, match=message):
        _upload(client, tmp_path, name, data)


def test_oversized_upload_is_refused_by_the_client_and_by_the_server(client, app_url, tmp_path):
    big = b"word " * 500_000  # 2.5 MB, over the app's 2 MB limit
    with pytest.raises(ValueError, match="exceeds the maximum file size of 2097152 bytes"):
        _upload(client, tmp_path, "big.txt", big)
    import httpx

    # a client that skips the check (curl, a script) is refused by the server before anything is stored
    response = httpx.post(f"{app_url}/gradio_api/upload", files={"files": ("big.txt", big, "text/plain")}, timeout=60)
    assert response.status_code == 413 and "exceeded maximum allowed size of 2097152 bytes" in response.text


def test_nothing_to_load_is_a_clean_error(client):
    with pytest.raises(AppError, match="nothing to load"):
        client.predict("  ", None, api_name="/load_documents")


def test_estimate(client):
    text = client.predict("17m", 100, "auto", api_name="/estimate")
    assert "100 documents" in text and BADGE in text
    with pytest.raises(AppError, match="^reranker: the reranker must be one of 'none', '17m'.*, not 'nope'"):
        client.predict("nope", 10, "auto", api_name="/estimate")
    assert client.predict("none", 10, "fp32", api_name="/estimate").startswith("No reranker")


def test_compare(client):
    status, table, _ = client.predict("vitamin homocysteine", SAMPLE, "bm25", ["17m"], 10, "auto", api_name="/compare")
    assert "Agreement is measured against **17m**" in status and BADGE in status
    headers = table["headers"]
    row = dict(zip(headers, table["data"][0]))
    assert row["Top-5 overlap"] == 1.0 and row["Kendall τ"] == 1.0 and row["Pairs/s"] > 0 and row["Rerank (s)"] > 0
    with pytest.raises(AppError, match="query is empty"):
        client.predict("", SAMPLE, "bm25", ["17m"], 10, "auto", api_name="/compare")


def test_leaderboard_filters_notes_and_refusal(client):
    out = client.predict(["Ettin"], 0, 5000, ["published", "regenerated"], "MTEB(eng, v2) Retrieval",
                         "CPU i7-13700K", "scifact", api_name="/leaderboard")
    quality_plot, pareto_plot, speed_plot, embedder_plot, quality, speed, notes = out
    assert "1 regenerated quality result(s) refused" in notes
    assert {r[quality["headers"].index("family")] for r in quality["data"]} == {"Ettin"}
    assert {r[quality["headers"].index("benchmark")] for r in quality["data"]} == {"MTEB(eng, v2) Retrieval"}
    assert len(quality["data"]) == 6
    assert all(r[speed["headers"].index("hardware")] == "CPU i7-13700K" for r in speed["data"])
    fig = json.loads(quality_plot["plot"])
    assert fig["layout"]["xaxis"]["type"] == "log"
    bars = json.loads(embedder_plot["plot"])["data"]
    assert any(t.get("type") == "bar" for t in bars)
    # the six Ettin sizes have both MTEB quality and i7 speed: six labelled points and the front through them
    pareto = {t["name"]: _values(t["x"]) for t in json.loads(pareto_plot["plot"])["data"]}
    assert set(pareto) == {"Ettin", "Pareto front"} and len(pareto["Ettin"]) == 6
    assert 1 <= len(pareto["Pareto front"]) <= 6 and set(pareto["Pareto front"]) <= set(pareto["Ettin"])
    (speed_bars,) = json.loads(speed_plot["plot"])["data"]
    assert speed_bars["type"] == "bar" and len(_values(speed_bars["x"])) == len(speed["data"]) == 6
    assert sorted(_values(speed_bars["x"])) == sorted(r[speed["headers"].index("pairs_per_s")] for r in speed["data"])
    regen = client.predict([], 0, 5000, ["regenerated"], "scifact/test (regenerated)", "CPU i7-13700K", "scifact",
                           api_name="/leaderboard")[4]
    rows = [dict(zip(regen["headers"], r)) for r in regen["data"]]
    assert [(r["model"], r["ndcg10"], r["source"]) for r in rows] == [("cross-encoder/ettin-reranker-17m-v1", 0.7, "regenerated")]
    assert "Test CPU" in rows[0]["provenance"]
    # a size range that excludes everything gives messages, not errors
    out = client.predict(["Ettin"], 0, 1, ["published"], "NanoBEIR", "H100 (bf16)", "scifact", api_name="/leaderboard")
    assert "No NanoBEIR results" in json.dumps(json.loads(out[0]["plot"]))


def test_a_figure_that_could_not_be_drawn_is_caught_in_an_answer(failed_figures):
    from eval.leaderboard.figures import message_figure, safe

    broken = safe(lambda: 1 / 0)()
    missing = message_figure("No data.")
    answer = ({"type": "plotly", "plot": broken.to_json()}, {"type": "plotly", "plot": missing.to_json()}, "notes")
    assert failed_figures(answer) == ["This figure could not be drawn: ZeroDivisionError: division by zero"]
    assert failed_figures(answer[1:]) == []  # a message figure for missing data is not a failure


def test_export_and_reload(client, tmp_path):
    files = client.predict(["Ettin", "teacher"], 0, 5000, ["published"], api_name="/export")
    names = sorted(p.rsplit("/", 1)[-1] for p in files)
    assert names == sorted(f"ettin_{t}.{e}" for t in ("quality", "speed", "ablation") for e in ("csv", "json"))
    quality_csv = next(p for p in files if p.endswith("ettin_quality.csv"))
    with open(quality_csv, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert rows and {r["family"] for r in rows} <= {"Ettin", "teacher"} and {r["source"] for r in rows} == {"published"}
    out = client.predict([], 0, 5000, [], "NanoBEIR", "H100 (bf16)", "scifact", api_name="/reload")
    assert "refused" in out[-1]


def test_bad_requests_do_not_affect_other_users(app_url, make_client):
    good, bad = make_client(app_url), make_client(app_url)

    def bad_call(q):
        try:
            search(bad, query=q)
        except AppError as exc:
            return str(exc)
        return "no error"

    with ThreadPoolExecutor(6) as pool:
        bad_jobs = [pool.submit(bad_call, q) for q in ("", "x" * 100_000, " ")]
        good_jobs = [pool.submit(search, good, "aspirin prostaglandin", SAMPLE, "bm25", "17m", 10, 5) for _ in range(3)]
        for job in good_jobs:
            assert [r[0] for r in job.result(timeout=120)[2]["data"]] == [1, 2, 3, 4, 5]
        assert all("no error" != job.result(timeout=120) for job in bad_jobs)


def test_rest_rerank_next_to_the_app_answers_curl_shaped_json(app_url):
    import httpx

    body = {"query": QUERY, "documents": ["Vitamin B12 lowers homocysteine.", {"text": "Cats sleep."}], "top_n": 1,
            "return_documents": True, "model": "17m"}  # fmt: skip
    response = httpx.post(f"{app_url}/rerank", json=body, timeout=120)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["model"] == "17m" and data["random_init"] is True and len(data["results"]) == 1
    assert set(data["results"][0]) == {"index", "relevance_score", "raw_score", "document"}
    bad = httpx.post(f"{app_url}/rerank", json={"query": "", "documents": ["a"]}, timeout=60)
    assert bad.status_code == 400 and bad.json() == {"message": "query: the query is empty: type a question or a few keywords"}
