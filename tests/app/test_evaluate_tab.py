"""The Evaluate tab end to end over its API (gradio_client), on a Blocks holding only this tab: preview, a run whose
results equal ``python -m eval retrieval`` on the same data to the last digit, downloads, refusals as one clean line,
and two concurrent evaluations through the queue (one waits, seeing its place) while a search is served beside them."""

from __future__ import annotations

import json
import zipfile

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from tests.app.test_evaluate_intake import beir_files, make_zip
from tests.app.test_evaluate_run import tiny_beir

ZIP, BUNDLED = "A BEIR .zip", "Bundled SciFact"


@pytest.fixture(scope="module")
def tab_app(replica_17m):
    """(the served tab's URL, the app's own playground)."""
    import gradio as gr

    import app
    from demo.search.playground import Playground
    from demo.tabs import evaluate
    from demo.tools.server import free_port

    play = Playground(models_dir=replica_17m.parent, include_hub=False, include_trained=False)
    with gr.Blocks() as demo:
        with gr.Tabs():
            evaluate.build(play, demo)
    port = free_port()
    app.serve(demo, block=False, server_name="127.0.0.1", server_port=port, quiet=True, max_file_size="50mb")
    yield f"http://127.0.0.1:{port}", play
    demo.close()


@pytest.fixture(scope="module")
def tab_url(tab_app):
    return tab_app[0]


@pytest.fixture(scope="module")
def tiny_zip(tmp_path_factory):
    return make_zip(tmp_path_factory.mktemp("tab") / "tiny.zip", tiny_beir())


def _preview(client, archive, split="test"):
    return client.predict(ZIP, handle_file(str(archive)), None, None, None, split, api_name="/evaluate_preview")


def _records(zip_path) -> dict:
    with zipfile.ZipFile(zip_path) as zf:
        return {(r["first_stage"], r["reranker"]): r for r in
                (json.loads(zf.read(n)) for n in zf.namelist() if n.startswith("results/retrieval/"))}  # fmt: skip


@pytest.mark.slow
def test_run_over_the_api_equals_the_cli(tab_url, make_client, tiny_zip, replica_17m, tmp_path):
    from eval.__main__ import main as eval_main

    client = make_client(tab_url)
    preview = _preview(client, tiny_zip)
    assert "**tiny** / split **test**" in preview and "16 documents" in preview and "8 judged queries" in preview
    estimate = client.predict(["bm25"], ["17m"], 5, 0, 0, api_name="/evaluate_estimate")
    assert "2 system(s) on 8 queries, K = 5: up to 40 pairs" in estimate and "python -m eval retrieval" in estimate
    status, table, _chart, recommendation, zip_out, csv_out, command, choice = client.predict(
        ["bm25"], ["17m"], 5, 0, 0, api_name="/evaluate")
    assert status.startswith("✅ Done") and "meaningless" in status
    assert [row[0] for row in table["data"]] == ["bm25", "bm25 → 17m"]
    assert "random weights — scores meaningless" in table["data"][1][-1]
    assert recommendation.startswith("**Recommendation:**") and "ms per query" in recommendation
    assert "--first-stage bm25 --reranker MODELS_DIR/17m --top-k 5" in command
    assert open(csv_out).readline().startswith("system,")
    ours = _records(zip_out)
    extracted = tmp_path / "data"
    with zipfile.ZipFile(tiny_zip) as zf:
        zf.extractall(extracted)
    assert eval_main(["retrieval", "--data", str(extracted), "--name", "tiny", "--first-stage", "bm25", "--reranker",
                      str(replica_17m), "--top-k", "5", "--results-dir", str(tmp_path / "cli")]) == 0  # fmt: skip
    cli = {(r["first_stage"], r["reranker"]): r for r in
           (json.loads(p.read_text()) for p in (tmp_path / "cli").rglob("*.json"))}  # fmt: skip
    assert ours.keys() == cli.keys() == {("bm25", None), ("bm25", "17m")}
    for key in ours:
        for field in ("metrics", "per_query", "intervals", "rankings", "n_queries", "random_init"):
            assert ours[key][field] == cli[key][field], (key, field)
    assert table["data"][0][2].startswith(f"{cli[('bm25', None)]['metrics']['ndcg_at_10']:.4f} [")

    assert "17m" in choice["value"]  # the explorer offers the reranked result against its first stage
    summary, _hist, changes, query = client.predict(choice["value"], api_name="/evaluate_explore")
    assert "NDCG@10" in summary and len(changes["data"]) == 8 and query["value"] in {f"q{t}" for t in range(8)}


def test_bad_upload_is_one_clean_line(tab_url, make_client, tmp_path):
    client = make_client(tab_url)
    bad = make_zip(tmp_path / "bad.zip", beir_files(qrels=b"query-id\tcorpus-id\tscore\nq0\td0\t1.5\n"))
    with pytest.raises(AppError, match=r"qrels/test.tsv, line 2: grade &#x27;1.5&#x27; is not a whole number|"
                                       r"qrels/test.tsv, line 2: grade '1.5' is not a whole number"):
        _preview(client, bad)
    with pytest.raises(AppError, match="no dataset yet"):
        client.predict(["bm25"], [], 5, 0, 0, api_name="/evaluate")
    assert client.predict(api_name="/evaluate_stop") == "Nothing of yours is waiting or running."


@pytest.mark.slow
def test_two_concurrent_evaluations_one_waits_its_turn_while_a_search_is_served(tab_app, make_client, tiny_zip):
    from demo.sources.user_corpus import sample_corpus

    tab_url, play = tab_app
    play.search("vitamin D and cancer", sample_corpus(), "bm25", "17m", k=5, top_n=3)  # loaded before the race starts
    clients = [make_client(tab_url) for _ in range(2)]
    for c in clients:
        _preview(c, tiny_zip)
    jobs = [c.submit(["bm25"], ["17m"], 3, 0, 0, api_name="/evaluate") for c in clients]
    searched = play.search("vitamin D and cancer", sample_corpus(), "bm25", "17m", k=10, top_n=3)
    unfinished = sum(not job.done() for job in jobs)
    assert searched.result.hits and unfinished >= 1  # served at once, not after the evaluations' queue
    for job in jobs:
        job.result(timeout=600)
    streams = [[out[0] for out in job.outputs()] for job in jobs]
    assert all(s[-1].startswith("✅ Done") for s in streams), [s[-1] for s in streams]
    waited = [s for s in streams if any(m.startswith("⏳ Waiting in line: 1 evaluation(s) ahead") for m in s)]
    assert waited, "one of the two evaluations must have waited for the other"
