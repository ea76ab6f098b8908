"""The Evaluate tab's run: a tiny BEIR dataset through the queue's worker process gives exactly the results of
``python -m eval retrieval`` on the same data (every metric, per-query value, interval and ranking, to the last digit);
the statistics, recommendation, chart, downloads and the budget rule on top."""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

import pytest

from demo.evaluate import intake, plan, results
from demo.evaluate.jobs import EvaluationQueue
from demo.evaluate.limits import EvaluateInputError
from tests.app.test_evaluate_intake import beir_files, make_zip

WORDS = ["protein", "cell", "gene", "virus", "brain", "heart", "lung", "bone"]


def tiny_beir() -> dict[str, bytes]:
    """Eight topics, two documents each, one query per topic judging both (grades 1 and 2)."""
    corpus = [{"_id": f"d{i}", "title": WORDS[i % 8], "text": f"{WORDS[i % 8]} study number {i} of the {WORDS[i % 8]}"}
              for i in range(16)]  # fmt: skip
    queries = [{"_id": f"q{t}", "text": f"what about the {w}"} for t, w in enumerate(WORDS)]
    qrels = "query-id\tcorpus-id\tscore\n" + "".join(f"q{t}\td{t}\t2\nq{t}\td{t + 8}\t1\n" for t in range(8))
    dump = lambda rows: "".join(json.dumps(r) + "\n" for r in rows).encode()  # noqa: E731
    return beir_files(dump(corpus), dump(queries), qrels.encode())


@pytest.fixture(scope="module")
def play(replica_17m):
    from demo.search.playground import Playground

    return Playground(models_dir=replica_17m.parent, include_hub=False, include_trained=False)


@pytest.fixture(scope="module")
def uploaded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("evaluate")
    token = intake.new_session()
    return intake.from_zip(token, make_zip(tmp / "tiny.zip", tiny_beir(), "tiny/"), "tiny.zip")


def _records(root: Path) -> dict[tuple[str, str | None], dict]:
    out = {}
    for path in root.rglob("*.json"):
        rec = json.loads(path.read_text())
        out[(rec["first_stage"], rec["reranker"])] = rec
    return out


@pytest.mark.slow
def test_worker_results_equal_the_cli_to_the_last_digit(play, uploaded, replica_17m, tmp_path, monkeypatch):
    from eval.__main__ import main as eval_main

    monkeypatch.setenv("ETTIN_CACHE", str(tmp_path / "cache"))  # the worker scores every pair (its rate is measured)

    run = plan.make_plan(play, uploaded, ["bm25"], ["17m"], k=5)
    assert run.pairs == 8 * 5 and run.systems == 2
    queue = EvaluationQueue()
    job = queue.submit(uploaded.token, run.spec())
    assert job.finished.wait(300), job.progress()
    assert job.state == "done", (job.message, (job.folder / "worker.log").read_text()[-2000:])
    assert job.folder.parent == intake.session_folder(uploaded.token)
    ours = _records(job.folder / "results")
    assert sorted(ours, key=str) == [("bm25", "17m"), ("bm25", None)]

    assert eval_main([
        "retrieval", "--data", str(uploaded.folder), "--name", uploaded.name, "--split", "test", "--first-stage", "bm25",
        "--reranker", str(replica_17m), "--top-k", "5", "--results-dir", str(tmp_path / "cli"),
        "--score-cache", str(tmp_path / "fresh-scores.sqlite"),  # scored afresh, not read from the worker's cache
    ]) == 0  # fmt: skip
    cli = _records(tmp_path / "cli")
    assert ours.keys() == cli.keys()
    for key, rec in ours.items():
        for field in ("schema", "dataset", "split", "n_queries", "random_init", "metrics", "per_query", "intervals",
                      "rankings"):  # fmt: skip
            assert rec[field] == cli[key][field], (key, field)
        assert rec["provenance"]["dataset"]["fingerprint"] == cli[key]["provenance"]["dataset"]["fingerprint"]

    report = job.report()
    summary = results.summarize(report, run.top_k)
    frame = summary.frame
    assert list(frame["system"]) == ["bm25", "bm25 → 17m"] and list(frame["rank"]) == ["1–2", "1–2"]
    reranked = frame[frame["reranker"] != ""].iloc[0]
    alone = frame[frame["reranker"] == ""].iloc[0]
    bm25 = ours[("bm25", None)]
    assert alone["NDCG@10"] == bm25["metrics"]["ndcg_at_10"] and alone["Recall@K"] == bm25["metrics"]["recall_at_100"]
    assert alone["NDCG@10 low"] == bm25["intervals"]["ndcg_at_10"]["low"]
    assert reranked["random_init"] and not math.isnan(reranked["gain"]) and 0 <= reranked["p holm"] <= 1
    assert reranked["pairs per s"] > 0 and reranked["ms per query"] > alone["ms per query"]
    cached = {**report, "rerank_stats": {"17m": {**report["rerank_stats"]["17m"], "pairs_scored": 0}}}
    from_book = results.summarize(cached, run.top_k, {"17m": 40.0}).frame.iloc[1]
    assert from_book["pairs per s"] == 40.0 and from_book["rate basis"].startswith("throughput book")
    assert math.isnan(results.summarize(cached, run.top_k).frame.iloc[1]["ms per query"])
    assert summary.meaningless and "random weights — scores meaningless" in summary.display()["note"].iloc[1]
    assert "statistically tied" in summary.recommendation or "best system" in summary.recommendation
    fig = results.pareto_figure(summary)
    assert "could not be drawn" not in json.dumps(fig.to_plotly_json(), default=str)
    assert "scores meaningless" in fig.layout.title.text

    command = plan.cli_command(run)
    assert command == ("python -m eval retrieval --data DATA --split test --name tiny --first-stage bm25 "
                       "--reranker MODELS_DIR/17m --top-k 5 --results-dir results")  # fmt: skip
    zip_path, csv_path = results.write_downloads(job.folder, summary, command)
    names = zipfile.ZipFile(zip_path).namelist()
    assert "report.json" in names and "COMMAND.txt" in names and "results.csv" in names
    assert sum(n.startswith("results/retrieval/") for n in names) == 2
    assert csv_path.read_text().splitlines()[0].startswith("system,first stage,reranker,rank")


@pytest.mark.slow
def test_seeded_sample_is_reproducible_by_the_cli(play, uploaded, tmp_path):
    from eval.__main__ import main as eval_main

    run = plan.make_plan(play, uploaded, ["bm25"], [], k=3, sample=3, seed=7)
    assert run.n_queries == 3 and run.sample == 3
    job = EvaluationQueue().submit(uploaded.token, run.spec())
    assert job.finished.wait(300) and job.state == "done", job.message
    ours = _records(job.folder / "results")[("bm25", None)]
    assert ours["dataset"] == "tiny.sample3-seed7" and ours["n_queries"] == 3
    cmd = plan.cli_command(run).replace("DATA", str(job.folder / "sample")).split()[3:]
    assert eval_main([*cmd[:-1], str(tmp_path / "cli")]) == 0
    cli = _records(tmp_path / "cli")[("bm25", None)]
    assert (cli["per_query"], cli["intervals"]) == (ours["per_query"], ours["intervals"])


def test_budget_refusal_gives_the_cli_command(play, uploaded, monkeypatch):
    from demo.evaluate import plan as plan_module

    monkeypatch.setattr(plan_module, "MAX_PAIRS", 10)
    with pytest.raises(EvaluateInputError, match=r"too large for the app \(40 pairs to rerank, above the 10 cap\).*"
                                                 r"python -m eval retrieval --data DATA"):
        plan.make_plan(play, uploaded, ["bm25"], ["17m"], k=5)
    with pytest.raises(EvaluateInputError, match="K = 101 is outside 1–100"):
        plan.make_plan(play, uploaded, ["bm25"], [], k=101)
    with pytest.raises(EvaluateInputError, match="choose at least one first stage"):
        plan.make_plan(play, uploaded, [], [], k=5)
    with pytest.raises(EvaluateInputError, match="no dataset yet"):
        plan.make_plan(play, None, ["bm25"], [], k=5)


def test_estimate_comes_from_the_throughput_book(play, uploaded):
    choice = play.reranker_choice("17m")
    play.record_throughput(choice, "auto", 400, 2.0)  # 200 pairs/s measured here
    run = plan.make_plan(play, uploaded, ["bm25"], ["17m"], k=5)
    assert run.estimate_s == pytest.approx(40 / play.throughput().rate(choice))
    assert "estimated reranking time ~0 s" in run.summary() and "17m:" in run.summary()
