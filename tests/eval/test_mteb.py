"""The MTEB path offline: a local BEIR folder wrapped as an mteb custom task runs mteb's two-stage flow, and mteb's
numbers agree with ours."""

from __future__ import annotations

import json
import math
from pathlib import Path

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
            "--work-dir", str(tmp_path / "work"), "--results-dir", str(tmp_path / "store"), "--output", str(out),
            "--precision", "fp32"]  # compared below with the fp32 fixture
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "RANDOM-INIT" in printed and "their quality numbers are meaningless" in printed  # as `retrieval` warns
    runs = {r["reranker"]: r for r in json.loads(out.read_text(encoding="utf-8"))["runs"]}
    assert set(runs) == {None, "17m"} and runs["17m"]["random_init"] is True
    assert runs["17m"]["provenance"]["protocol"]["max_length"] == 7999, "the model's own limit by default"
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


def test_scifact_by_name_offline_is_mtebs_task_with_the_bundled_data(monkeypatch):
    """Offline, ``--tasks SciFact`` is mteb's own SciFact (class, metadata, revision) with the bundled BEIR data."""
    import mteb

    from ettin.hub_cache import DATASETS_OFFLINE_LIMIT
    from eval.retrieval.mteb import named_tasks

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (task,) = named_tasks(task_names=["SciFact"])
    reference = mteb.get_task("SciFact")
    assert isinstance(task, type(reference)) and task.metadata == reference.metadata
    task.load_data()
    split = task.dataset["default"]["test"]
    assert (len(split["corpus"]), len(split["queries"])) == (5183, 300)
    assert "by name" in task._ettin_source and "_raise_if_offline_mode_is_enabled" in DATASETS_OFFLINE_LIMIT
    import datasets.load as datasets_load

    assert "_raise_if_offline_mode_is_enabled()" in Path(datasets_load.__file__).read_text(), "the line still exists"


@pytest.mark.parametrize(
    "spec, cached, offline, expected",
    [
        ("sentence-transformers/all-MiniLM-L6-v2", False, True, "ettin"),  # offline, not in the cache: packaged copy
        ("sentence-transformers/all-MiniLM-L6-v2", True, True, "mteb"),  # offline, pinned revision cached
        ("BAAI/bge-small-en-v1.5", False, False, "mteb"),  # online: mteb's wrapper and prompts
        ("jinaai/jina-embeddings-v5-text-small-retrieval", False, False, "ettin"),  # not in mteb 2.26's registry
    ],
)
def test_first_stage_loader_prefers_mtebs_registered_loader(monkeypatch, spec, cached, offline, expected):
    import ettin.runtime as runtime
    from eval.retrieval import mteb as mteb_path

    monkeypatch.setenv("HF_HUB_OFFLINE", "1" if offline else "0")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    pinned = []
    monkeypatch.setattr(runtime, "hub_snapshot", lambda repo, rev=None: pinned.append(rev) or (Path("x") if cached else None))
    assert mteb_path.first_stage_loader(spec) == expected
    if offline:
        import mteb

        assert pinned == [mteb.get_model_meta(spec).revision], "the cache is asked for mteb's pinned revision"


def test_unregistered_embedder_hands_the_registry_prompts_to_mteb(minilm):
    from dataclasses import replace

    from ettin import registry
    from eval.retrieval.mteb import _with_registry_prompts

    meta = replace(registry.embedder(registry.MINILM_ID), query_prompt="search_query: ", document_prompt="search_document: ")
    embedder = replace(minilm, meta=meta)
    saved = dict(minilm.model.prompts)
    try:
        model = _with_registry_prompts(embedder)
        assert model.prompts["query"] == "search_query: " and model.prompts["document"] == "search_document: "
    finally:
        minilm.model.prompts = saved


@pytest.mark.parametrize(
    "spec, cached, offline, expected",
    [
        ("17m", False, False, "ettin"),  # Ettin rerankers: the project's runtime (--max-length, --precision)
        ("cross-encoder/ettin-reranker-17m-v1", True, True, "ettin"),
        ("mixedbread-ai/mxbai-rerank-large-v2", False, False, "mteb"),  # online: mteb's wrapper (identity activation)
        ("mixedbread-ai/mxbai-rerank-large-v2", True, True, "mteb"),  # offline with its pinned revision cached
        ("mixedbread-ai/mxbai-rerank-large-v2", False, True, "ettin"),
        ("someone/unregistered-reranker", False, False, "ettin"),
    ],
)
def test_reranker_loader_prefers_mtebs_registered_loader_for_peers(monkeypatch, spec, cached, offline, expected):
    import ettin.runtime as runtime
    from eval.retrieval import mteb as mteb_path

    monkeypatch.setenv("HF_HUB_OFFLINE", "1" if offline else "0")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(runtime, "hub_snapshot", lambda repo, rev=None: Path("x") if cached else None)
    assert mteb_path.reranker_loader(spec) == expected


@pytest.mark.parametrize(("name", "ignored"), [("ArguAna", True), ("debate-copy", False)])
def test_a_local_folder_named_after_arguana_is_scored_as_mteb_scores_arguana(tmp_path, name, ignored):
    """mteb's own scores and ours both drop the query's own document for a folder named after ArguAna, and agree."""
    from ettin.corpus import BeirDataset, Corpus

    # the query's own text is in the corpus under its id (as in ArguAna); the judged document is the counter-argument
    docs = {"a1": "solar panels on every roof cut household electricity bills",
            "c1": "solar panels cost more than they save on household electricity bills in cloudy places",
            "x1": "the history of the printing press in europe", "x2": "birds navigate by the magnetic field"}
    corpus = Corpus(tuple(docs), tuple(docs.values()), ("",) * len(docs), name)
    dataset = BeirDataset(name, "test", corpus, {"a1": docs["a1"]}, {"a1": {"c1": 1}})
    task = local_task(dataset, "hand-made")
    assert task.ignore_identical_ids is ignored
    (run,) = run_two_stage([task], ["bm25"], [], top_k=5, work_dir=tmp_path / "mteb")["runs"]
    assert run["provenance"]["protocol"]["ignore_identical_ids"] is ignored
    assert run["metrics"]["ndcg_at_10"] == pytest.approx(1.0 if ignored else 1 / math.log2(3))
    for key, value in run["mteb_scores"].items():
        assert run["metrics"][key] == pytest.approx(value, abs=1e-5), key


def test_a_named_task_records_mtebs_own_setting(monkeypatch):
    import mteb

    from eval.retrieval.mteb import _TaskRecords

    class Loaded:  # mteb's ArguAna task, its data replaced by nothing (only its attribute and metadata are read)
        metadata = mteb.get_task("ArguAna").metadata
        ignore_identical_ids = type(mteb.get_task("ArguAna")).ignore_identical_ids
        dataset = {"default": {"test": {"relevant_docs": {}}}}

    records = _TaskRecords(Loaded(), 10, None, None, {})
    assert records.identical_ids.ignore is True and records.identical_ids.source == "mteb task ArguAna"
