"""Two-stage retrieval evaluation: stage-1 cache, shared score cache, results store, CLI (small SciFact slices)."""

from __future__ import annotations

import json
import math

import pytest

from ettin.metrics import METRIC_KEYS
from eval.retrieval import evaluate_retrieval, run_first_stage
from eval.retrieval.data import subset, write_beir
from eval.retrieval.rerank import reranker_key
from eval.retrieval.score_cache import PairKey, ScoreCache, pair_text_hash
from eval.retrieval.store import RETRIEVER_ONLY, SCHEMA, read_records, result_path, slug, write_record


@pytest.fixture(scope="module")
def small(scifact_test):
    return subset(scifact_test, n_queries=8, n_documents=150, name="scifact-small")


@pytest.fixture(scope="module")
def small_folder(small, tmp_path_factory):
    return write_beir(small, tmp_path_factory.mktemp("beir") / "scifact-small")


def test_score_cache_keys_keep_settings_and_texts_apart(tmp_path):
    key = PairKey("q1", "d1", pair_text_hash("query", "doc"))
    with ScoreCache(tmp_path / "s.sqlite") as cache:
        cache.put_many("m@1", 512, "float32", [(key, 1.5)])
        assert cache.get_many("m@1", 512, "float32", [key]) == {key: 1.5}
        assert cache.get_many("m@1", 256, "float32", [key]) == {}
        assert cache.get_many("m@1", 512, "bfloat16", [key]) == {}
        assert cache.get_many("m@2", 512, "float32", [key]) == {}
        same_ids_other_text = PairKey("q1", "d1", pair_text_hash("query", "another doc"))
        assert cache.get_many("m@1", 512, "float32", [same_ids_other_text]) == {}
    with ScoreCache(tmp_path / "s.sqlite") as reopened:
        assert reopened.count() == 1


def test_slug_and_store_layout(tmp_path):
    assert slug("sentence-transformers/all-MiniLM-L6-v2") == "sentence-transformers__all-MiniLM-L6-v2"
    path = result_path(tmp_path, "scifact", "test", "bm25", None)
    assert path == tmp_path / "retrieval" / "scifact" / "test" / "bm25" / f"{RETRIEVER_ONLY}.json"
    with pytest.raises(ValueError, match="missing field"):
        write_record(tmp_path, {"schema": SCHEMA})
    (tmp_path / "retrieval" / "x").mkdir(parents=True)
    (tmp_path / "retrieval" / "x" / "broken.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "retrieval" / "x" / ".half.json.123.tmp").write_text("{", encoding="utf-8")
    records, problems = read_records(tmp_path)
    assert records == [] and len(problems) == 1 and problems[0].startswith("retrieval/x/broken.json: ")


def test_stage1_is_cached_merged_and_survives_a_corrupt_file(small, tmp_path):
    first = run_first_stage(small.slice(4), "bm25", top_k=10, cache_root=tmp_path)
    assert first.queries_computed == 4
    full = run_first_stage(small, "bm25", top_k=10, cache_root=tmp_path)
    assert full.queries_computed == len(small.queries) - 4  # the four known queries are reused
    again = run_first_stage(small, "bm25", top_k=10, cache_root=tmp_path)
    assert again.queries_computed == 0 and again.hits == full.hits
    (stage1_file,) = tmp_path.glob("*.json")
    stage1_file.write_text('{"format": "ettin.stage1/1", "queries": {', encoding="utf-8")  # as if cut short
    redone = run_first_stage(small, "bm25", top_k=10, cache_root=tmp_path)
    assert redone.queries_computed == len(small.queries) and redone.hits == full.hits


@pytest.mark.slow
def test_two_first_stages_share_scores_and_rerun_scores_nothing(small, minilm, reranker_17m, tmp_path):
    results_dir = tmp_path / "results"
    kwargs = dict(
        top_k=6,
        settings=reranker_17m.settings,
        dataset_source="test slice",
        results_dir=results_dir,
        reranker_loader=lambda spec, settings: reranker_17m,
        embedder_loader=lambda spec, settings: minilm,
    )
    with ScoreCache(tmp_path / "scores.sqlite") as cache:
        report = evaluate_retrieval(small, ["bm25", minilm.name], [str(reranker_17m.source.name_or_path)],
                                    score_cache=cache, **kwargs)
        stats = report.rerank_stats[reranker_17m.name]
        assert report.pairs_requested == 2 * 6 * len(small.queries)
        assert report.pairs_scored == stats.pairs_unique < report.pairs_requested  # shared pairs scored once
        assert cache.count() == stats.pairs_unique

        rerun = evaluate_retrieval(small, ["bm25", minilm.name], ["17m-again"], score_cache=cache, **kwargs)
        assert rerun.pairs_scored == 0 and rerun.pairs_cached == stats.pairs_unique
        assert [u.metrics for u in rerun.units] == [u.metrics for u in report.units]

        # a cached score is the score the model gives now
        query_id = sorted(small.queries)[0]
        doc_id = run_first_stage(small, "bm25", 6).hits[query_id][0][0]
        text = small.corpus.document_text(small.corpus.ids.index(doc_id))
        fresh = reranker_17m.score_pairs([(small.queries[query_id], text)])[0]
        key = PairKey(query_id, doc_id, pair_text_hash(small.queries[query_id], text))
        cached = cache.get_many(reranker_key(reranker_17m), reranker_17m.settings.max_length,
                                reranker_17m.settings.dtype, [key])[key]
        assert cached == pytest.approx(float(fresh), abs=1e-4)

    by_pair = {(u.first_stage, u.reranker): u for u in report.units}
    assert set(by_pair) == {("bm25", None), (minilm.name, None), ("bm25", "17m"), (minilm.name, "17m")}
    assert not by_pair["bm25", None].random_init and by_pair["bm25", "17m"].random_init
    stored, problems = read_records(results_dir)
    assert problems == [] and len(stored) == 4
    assert {entry.file for entry in stored} >= {"retrieval/scifact-small/test/bm25/17m.json"}
    for record in (entry.record for entry in stored):
        assert record["schema"] == SCHEMA and record["n_queries"] == len(small.queries)
        assert set(record["metrics"]) == set(METRIC_KEYS)
        assert record["random_init"] == (record["reranker"] is not None)
        prov = record["provenance"]
        assert prov["dataset"]["fingerprint"] == small.fingerprint and prov["protocol"]["top_k"] == 6
        assert {"packages", "hardware", "date"} <= set(prov)
        assert str(tmp_path) not in json.dumps(record)
    assert (results_dir / "retrieval" / "scifact-small" / "test" / "bm25" / "17m.json").is_file()


def test_cli_writes_the_agreed_json_and_store(small_folder, replica_17m, tmp_path, capsys):
    from eval.__main__ import main

    out = tmp_path / "run.json"
    argv = ["retrieval", "--data", str(small_folder), "--first-stage", "bm25", "--reranker", str(replica_17m),
            "--top-k", "5", "--max-queries", "3", "--results-dir", str(tmp_path / "store"),
            "--score-cache", str(tmp_path / "scores.sqlite"), "--output", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "NDCG@10" in printed and "RANDOM-INIT" in printed
    summary = json.loads(out.read_text(encoding="utf-8"))
    assert summary["cache"]["pairs_requested"] == 15 and summary["cache"]["pairs_scored"] == 15  # a fresh cache
    runs = {(r["first_stage"], r["reranker"]): r for r in summary["runs"]}
    assert set(runs) == {("bm25", None), ("bm25", "17m")}
    for r in runs.values():
        assert {"first_stage", "reranker", "dataset", "split", "metrics", "provenance"} <= set(r)
        assert r["dataset"] == "scifact-small.first3q" and r["split"] == "test"
    assert runs["bm25", "17m"]["random_init"] is True
    assert main(argv) == 0  # everything cached now
    assert json.loads(out.read_text(encoding="utf-8"))["cache"]["pairs_scored"] == 0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--data", "does-not-exist"], "is not a folder"),
        (["--first-stage", "not a model!"], "unknown embedder"),
        (["--top-k", "0"], None),
    ],
)
def test_cli_bad_input_is_a_clear_message(argv, message, small_folder, tmp_path, capsys):
    from eval.__main__ import main

    base = ["retrieval", "--data", str(small_folder), "--first-stage", "bm25", "--no-store",
            "--score-cache", str(tmp_path / "s.sqlite")]
    if message is None:
        with pytest.raises(SystemExit) as exc:
            main(base + argv)
        assert exc.value.code == 2
        assert "must be at least 1" in capsys.readouterr().err
        return
    assert main(base + argv) == 2
    assert message in capsys.readouterr().err


def test_malformed_data_names_file_and_line(tmp_path, capsys):
    from eval.__main__ import main

    folder = tmp_path / "bad"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text('{"_id": "d1", "text": "a"}\n{"_id": "d1", "text": "b"}\n', encoding="utf-8")
    (folder / "queries.jsonl").write_text('{"_id": "q1", "text": "a"}\n', encoding="utf-8")
    (folder / "qrels" / "test.tsv").write_text("q1\td1\t1\n", encoding="utf-8")
    assert main(["retrieval", "--data", str(folder), "--first-stage", "bm25", "--no-store"]) == 2
    assert "corpus.jsonl, line 2: duplicate document id" in capsys.readouterr().err


def test_hybrid_stage1_is_the_rrf_of_its_two_cached_components(small, minilm, tmp_path):
    from ettin.hybrid import rrf_fuse

    load = dict(cache_root=tmp_path, embedder_loader=lambda spec, settings: minilm)
    hybrid = run_first_stage(small, "hybrid", top_k=10, **load)
    assert hybrid.name == f"hybrid:{minilm.name}" and hybrid.queries_computed == len(small.queries)
    prov = hybrid.provenance
    assert prov["rrf_k"] == 60 and prov["depth_per_component"] == 10 and prov["random_init"] is False
    assert [c["id"] for c in prov["components"]] == ["bm25", minilm.name]
    bm25 = run_first_stage(small, "bm25", top_k=10, cache_root=tmp_path)
    dense = run_first_stage(small, minilm.name, top_k=10, **load)
    assert bm25.queries_computed == dense.queries_computed == 0  # the hybrid ran and cached both components
    for qid, hits in hybrid.hits.items():
        assert hits == rrf_fuse([[d for d, _ in bm25.hits[qid]], [d for d, _ in dense.hits[qid]]], depth=10)
    with pytest.raises(ValueError, match="names no embedder"):
        run_first_stage(small, "hybrid:", top_k=10, cache_root=tmp_path)


@pytest.mark.slow
def test_hybrid_of_bm25_and_minilm_reproduces_0_7171_on_scifact_test(scifact_test, minilm, tmp_path):
    from ettin.metrics import evaluate_run

    hybrid = run_first_stage(scifact_test, "hybrid", top_k=100, cache_root=tmp_path,
                             embedder_loader=lambda spec, settings: minilm)  # fmt: skip
    metrics = evaluate_run(scifact_test.qrels, hybrid.as_run())
    # BM25 0.68630 and all-MiniLM-L6-v2 0.64508 (each top-100, eval/results/retrieval/scifact/test/) fused by RRF k=60
    assert metrics["ndcg_at_10"] == pytest.approx(0.71714, abs=5e-6)
    assert metrics["recall_at_100"] == pytest.approx(0.94833, abs=5e-6)


@pytest.mark.slow
def test_a_fused_system_is_its_own_row_and_its_weights_reach_both_ends(small, reranker_17m, tmp_path):
    from ettin.fusion import fused_name

    kwargs = dict(top_k=6, settings=reranker_17m.settings, dataset_source="test slice", results_dir=tmp_path / "results",
                  reranker_loader=lambda spec, settings: reranker_17m)
    with ScoreCache(tmp_path / "scores.sqlite") as cache:
        report = evaluate_retrieval(small, ["bm25"], ["17m"], score_cache=cache, fuse_weights=[0.0, 1.0, 0.5], **kwargs)
    units = {u.reranker: u for u in report.units}
    alone, reranked = units[None], units["17m"]
    assert units[fused_name("17m", 0.0)].metrics == pytest.approx(alone.metrics)  # w = 0: the first stage's order
    assert units[fused_name("17m", 1.0)].metrics == pytest.approx(reranked.metrics)  # w = 1: the reranker's order
    fused = units[fused_name("17m", 0.5)]
    assert fused.provenance["protocol"]["fusion"] == {"system": fused_name("17m", 0.5), "method": "z-score",
                                                      "reranker": "17m", "reranker_weight": 0.5}
    assert fused.random_init  # a fused replica is still a replica
    stored = {r.record["reranker"] for r in read_records(tmp_path / "results")[0]}
    assert fused_name("17m", 0.5) in stored
    with pytest.raises(ValueError, match="between 0 and 1"):
        evaluate_retrieval(small, ["bm25"], ["17m"], fuse_weights=[1.5], **kwargs)


def _arguana_like(folder):
    """Two queries whose own text is also in the corpus under the query's id (as in ArguAna); the counter-argument is
    the judged document. BM25 ranks the query's own document first and the judged one second."""
    (folder / "qrels").mkdir(parents=True)
    docs = {
        "a1": "solar panels on every roof cut household electricity bills",
        "c1": "solar panels cost more than they save on household electricity bills in cloudy places",
        "a2": "school uniforms make pupils equal and focused in class",
        "c2": "uniforms do not make pupils equal in class; they only hide differences",
        "x1": "the history of the printing press in europe",
        "x2": "migratory birds navigate by the earth's magnetic field",
    }
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as f:
        for doc_id, text in docs.items():
            f.write(json.dumps({"_id": doc_id, "title": "", "text": text}) + "\n")
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as f:
        for qid in ("a1", "a2"):
            f.write(json.dumps({"_id": qid, "text": docs[qid]}) + "\n")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\na1\tc1\t1\na2\tc2\t1\n", encoding="utf-8")
    return folder


@pytest.mark.parametrize(("name", "ignored"), [("ArguAna", True), ("arguana-copy", False)])
def test_eval_retrieval_follows_the_tasks_ignore_identical_ids(tmp_path, capsys, name, ignored):
    """``eval retrieval --data data/mteb/ArguAna --name ArguAna`` (the plan's job C) drops the query's own document."""
    from eval.__main__ import main

    folder = _arguana_like(tmp_path / "data")
    out = tmp_path / "run.json"
    assert main(["retrieval", "--data", str(folder), "--name", name, "--first-stage", "bm25", "--top-k", "5",
                 "--results-dir", str(tmp_path / "store"), "--output", str(out)]) == 0
    assert ("a document whose id is the query's is ignored" in capsys.readouterr().err) is ignored
    (run,) = json.loads(out.read_text(encoding="utf-8"))["runs"]
    for qid in ("a1", "a2"):
        assert run["rankings"][qid][0] == ("c" + qid[1] if ignored else qid), run["rankings"][qid]
        # hand-computed NDCG@10: the judged counter-argument at rank 1 (its own document dropped) or at rank 2
        assert run["per_query"][qid]["ndcg_at_10"] == pytest.approx(1.0 if ignored else 1 / math.log2(3))
    protocol = run["provenance"]["protocol"]
    assert protocol["ignore_identical_ids"] is ignored
    assert protocol["ignore_identical_ids_source"].startswith("mteb" if ignored else "default")
    (stored,), _ = read_records(tmp_path / "store")
    assert stored.record["metrics"] == run["metrics"]
