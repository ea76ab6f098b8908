"""The NanoBEIR-style evaluator (the trainer's in-training evaluator) on local BEIR data, and its online wrapper offline."""

from __future__ import annotations

import json

import pytest

from eval.retrieval.data import subset, write_beir
from ettin.metrics import evaluate_run
from eval.retrieval.nanobeir import build_nanobeir_evaluator, build_reranking_evaluator, first_stage_rankings
from eval.retrieval import run_first_stage


@pytest.fixture(scope="module")
def small(scifact_test):
    return subset(scifact_test, n_queries=10, n_documents=200, name="nano-local")


def test_samples_follow_the_first_stage_and_base_scores_match_ours(small):
    evaluator = build_reranking_evaluator(small, "bm25", top_k=10, name="local")
    rankings = first_stage_rankings(small, "bm25", top_k=10)
    assert len(evaluator.samples) == len(small.queries) and evaluator.primary_metric == "ndcg@10"
    assert evaluator.always_rerank_positives is False
    first_qid = sorted(small.queries)[0]
    sample = evaluator.samples[0]
    assert sample["query"] == small.queries[first_qid]
    index = {d: i for i, d in enumerate(small.corpus.ids)}
    assert sample["documents"] == [small.corpus.document_text(index[d]) for d in rankings[first_qid]]
    assert len(sample["positive"]) == len(small.qrels[first_qid])

    # sentence-transformers' "base" NDCG@10 of the first-stage order equals our NDCG@10 of the same BM25 run
    class KeepOrder:  # scores documents by their first-stage position, so "reranked" = first-stage order
        class model_card_data:  # noqa: N801 - the evaluator records metrics on the model card
            @staticmethod
            def set_evaluation_metrics(*args, **kwargs):
                pass

        def predict(self, pairs, **kwargs):
            import numpy as np

            scores, last_query, position = [], None, 0
            for query, _ in pairs:
                position = position + 1 if query == last_query else 0
                last_query = query
                scores.append(-position)
            return np.asarray(scores, dtype=float)

    results = evaluator(KeepOrder())
    ours = evaluate_run(small.qrels, run_first_stage(small, "bm25", 10).as_run())
    assert results["local_base_ndcg@10"] == pytest.approx(ours["ndcg_at_10"], abs=1e-6)
    assert results["local_ndcg@10"] == pytest.approx(ours["ndcg_at_10"], abs=1e-6)


def test_runs_on_a_cross_encoder_and_limits_queries(small, reranker_17m):
    evaluator = build_reranking_evaluator(small, "bm25", top_k=5, max_queries=3)
    assert len(evaluator.samples) == 3
    results = evaluator(reranker_17m.model)
    key = f"{evaluator.name}_ndcg@10"
    assert 0.0 <= results[key] <= 1.0 and f"{evaluator.name}_base_ndcg@10" in results


@pytest.mark.parametrize("kwargs, message", [({"top_k": 0}, "top_k"), ({"max_queries": 0}, "max_queries")])
def test_bad_arguments_are_clear(small, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_reranking_evaluator(small, "bm25", **kwargs)


def test_online_evaluator_offline_says_what_to_do():
    with pytest.raises(ValueError, match="unknown NanoBEIR dataset"):
        build_nanobeir_evaluator(["nosuchset"])
    with pytest.raises(RuntimeError, match="--data"):
        build_nanobeir_evaluator(["scifact"])


def test_cli_offline_on_local_folders(small, replica_17m, tmp_path, capsys):
    from eval.__main__ import main

    folder = write_beir(small, tmp_path / "nano-local")
    out = tmp_path / "nano.json"
    assert main(["nanobeir", "--reranker", str(replica_17m), "--data", str(folder), "--top-k", "5",
                 "--max-queries", "3", "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "mean" in printed and "RANDOM-INIT" in printed
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["random_init"] is True and set(result["per_dataset"]) == {"nano-local"}
    assert 0.0 <= result["mean"]["ndcg@10"] <= 1.0
    assert result["provenance"]["reranker"]["max_length"] == 7999, "the model's own limit by default, recorded"
