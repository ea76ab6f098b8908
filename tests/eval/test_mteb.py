"""The MTEB path offline: a local BEIR folder wrapped as an mteb custom task runs mteb's two-stage flow, and mteb's
numbers agree with ours."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("mteb")

from eval.retrieval.data import subset, write_beir  # noqa: E402
from ettin.metrics import evaluate_run  # noqa: E402
from eval.retrieval.mteb import local_task, run_two_stage  # noqa: E402
from eval.retrieval import run_first_stage  # noqa: E402


def test_mteb_bm25_ndcg_on_scifact_agrees_with_ours(scifact_test, tmp_path):
    out = run_two_stage([local_task(scifact_test, "bundled")], ["bm25"], [], top_k=100, work_dir=tmp_path / "mteb")
    (run,) = out["runs"]
    ours = evaluate_run(scifact_test.qrels, run_first_stage(scifact_test, "bm25", 100, cache_root=tmp_path).as_run())
    assert run["mteb_scores"]["ndcg_at_10"] == pytest.approx(ours["ndcg_at_10"], abs=1e-4)
    assert run["metrics"]["ndcg_at_10"] == pytest.approx(run["mteb_scores"]["ndcg_at_10"], abs=1e-5)  # mteb rounds
    assert run["n_queries"] == 300 and run["random_init"] is False


def test_mteb_two_stage_cli_offline_with_a_replica(scifact_test, replica_17m, reranker_17m, tmp_path, capsys):
    from eval.__main__ import main

    folder = write_beir(subset(scifact_test, n_queries=4, n_documents=80, name="mini"), tmp_path / "mini")
    out = tmp_path / "mteb.json"
    argv = ["mteb", "--data", str(folder), "--embedders", "bm25", "--rerankers", str(replica_17m), "--top-k", "5",
            "--work-dir", str(tmp_path / "work"), "--results-dir", str(tmp_path / "store"), "--output", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "RANDOM-INIT" in printed and "their quality numbers are meaningless" in printed  # as `retrieval` warns
    runs = {r["reranker"]: r for r in json.loads(out.read_text(encoding="utf-8"))["runs"]}
    assert set(runs) == {None, "17m"} and runs["17m"]["random_init"] is True
    for key, value in runs["17m"]["mteb_scores"].items():  # the retriever-only row is cut to top-5, mteb's is not
        assert runs["17m"]["metrics"][key] == pytest.approx(value, abs=1e-5), key
    assert (tmp_path / "store" / "retrieval" / "mini" / "test" / "bm25" / "17m.json").is_file()

    # mteb scored the same (query, title + text) pairs our reranker scores
    predictions = next((tmp_path / "work").rglob("17m/*_predictions.json"))
    reranked = next(iter(json.loads(predictions.read_text(encoding="utf-8"))["default"].values()))
    dataset = subset(scifact_test, n_queries=4, n_documents=80, name="mini")
    qid, docs = next(iter(reranked.items()))
    pairs = [(dataset.queries[qid], dataset.corpus.document_text(dataset.corpus.ids.index(d))) for d in docs]
    ours = reranker_17m.score_pairs(pairs)
    assert list(docs.values()) == pytest.approx(ours.tolist(), abs=1e-4)
