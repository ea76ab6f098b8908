"""The user's commands by Hub id, offline against the local Hub (``HF_HUB_OFFLINE=1 HF_HOME=<cache>``), with no network.

Every command runs in a subprocess whose sockets refuse (and record) any connection off the machine; ``run_offline``
fails a test on any recorded attempt.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from ettin import registry
from ettin.hub_cache import cache_root, pinned_revision

pytestmark = pytest.mark.slow

RERANKER_17M = "cross-encoder/ettin-reranker-17m-v1"


def _snapshot(hub_home: Path, repo_id: str) -> Path:
    return cache_root(hub_home) / f"models--{repo_id.replace('/', '--')}" / "snapshots" / pinned_revision(repo_id)


def _pairs_file(path: Path, n: int = 24) -> list[tuple[str, str]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ettin.corpus import scifact

    data = scifact("test")
    queries = list(data.queries.values())
    pairs = [(queries[i], data.corpus.document_text(i * 11)[: 80 + 40 * i]) for i in range(n)]
    pq.write_table(pa.table({"query": [q for q, _ in pairs], "document": [d for _, d in pairs]}), path)
    return pairs


def test_the_network_guard_records_and_refuses_a_connection(guarded_env, tmp_path):
    """The guard the other tests rely on: an attempt fails and is recorded, so 'nothing recorded' means 'nothing tried'."""
    log = tmp_path / "network.log"
    code = "import urllib.request\ntry:\n    urllib.request.urlopen('https://huggingface.co', timeout=5)\nexcept OSError as e:\n    print('refused', e)"
    done = subprocess.run([sys.executable, "-c", code], env=guarded_env(log), capture_output=True, text=True, timeout=60)
    assert "refused" in done.stdout
    assert "huggingface.co" in log.read_text()


def test_ettin_search_by_id(run_offline):
    done = run_offline(["-m", "ettin", "search", "vitamin D and bone density", "--reranker", RERANKER_17M,
                        "--max-docs", "300", "--top-k", "10", "--show", "3"])
    assert "random weights" in done.stdout
    assert len([line for line in done.stdout.splitlines() if "(was" in line]) == 3


def test_an_uncached_id_fails_with_the_offline_hint_and_no_network(run_offline):
    done = run_offline(["-m", "ettin", "search", "q", "--reranker", "cross-encoder/ettin-reranker-32m-v1",
                        "--max-docs", "20"], check=False)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "switched off" in done.stderr and "hub-cache" in done.stderr


def test_eval_retrieval_by_id_records_random_init(run_offline, tmp_path):
    out = tmp_path / "run.json"
    run_offline(["-m", "eval", "retrieval", "--first-stage", "bm25", "--reranker", RERANKER_17M, "--max-queries", "5",
                 "--top-k", "5", "--results-dir", str(tmp_path / "results"), "--score-cache", str(tmp_path / "s.sqlite"),
                 "--output", str(out)])
    runs = json.loads(out.read_text())["runs"]
    reranked = next(r for r in runs if r["reranker"])
    assert reranked["random_init"] is True
    stored = [json.loads(p.read_text()) for p in (tmp_path / "results").rglob("*.json")]
    stored_reranked = [r for r in stored if r["reranker"]]
    assert stored_reranked and all(r["random_init"] is True for r in stored_reranked)
    prov = stored_reranked[0]["provenance"]["reranker"]
    assert prov["revision"] == pinned_revision(RERANKER_17M) and prov["replica_of"] == RERANKER_17M
    assert prov["max_length"] == registry.RERANKERS["17m"].max_length, "the model's own limit, recorded"


def test_app_lists_the_hub_ids_and_runs_a_cached_one(run_offline, tmp_path):
    script = tmp_path / "app_check.py"
    script.write_text(textwrap.dedent(f"""
        import json
        from demo.search.playground import Playground
        from demo.sources.choices import RANDOM_BADGE, discover_rerankers
        from ettin.corpus import scifact_corpus

        offline = discover_rerankers(None)
        every = discover_rerankers(None, include_hub=True)
        play = Playground(None)
        outcome = play.search("vitamin D and bone density", scifact_corpus().subset(300), "bm25", "{RERANKER_17M}",
                              k=10, top_n=3)
        print(json.dumps({{
            "offline": [[c.key, c.random_init, RANDOM_BADGE in c.label] for c in offline],
            "every": [c.key for c in every],
            "hits": len(outcome.result.hits),
            "notes": outcome.notes,
        }}))
    """))
    done = run_offline([str(script)])
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["offline"] == [[RERANKER_17M, True, True]], "offline: the cached id, labelled random"
    assert seen["every"] == [m.hub_id for m in registry.RERANKERS.values()]
    assert seen["hits"] == 3 and any("random weights" in note for note in seen["notes"])


def test_train_score_with_the_teacher_by_id_gives_predicts_raw_logits(run_offline, hub_home, tmp_path):
    import torch
    from sentence_transformers import CrossEncoder

    from train.scored import read_scored

    pairs = _pairs_file(tmp_path / "pairs.parquet")
    run_offline(["-m", "train", "score", "--input", str(tmp_path / "pairs.parquet"), "--out", str(tmp_path / "scores"),
                 "--teacher", registry.TEACHER_ID, "--allow-random-teacher", "--batch-size", "5", "--precision", "fp32",
                 "--quiet"])
    scores = read_scored(tmp_path / "scores").column("score").to_numpy()
    manifest = json.loads((tmp_path / "scores" / "manifest.json").read_text())
    assert manifest["teacher"]["random_init"] is True and manifest["teacher"]["revision"] == pinned_revision(registry.TEACHER_ID)
    teacher = CrossEncoder(str(_snapshot(hub_home, registry.TEACHER_ID)), device="cpu")
    raw = teacher.predict(pairs, batch_size=7, activation_fn=torch.nn.Identity())
    difference = float(np.max(np.abs(scores - raw)))
    print(f"teacher max abs diff vs CrossEncoder.predict: {difference:.3g}")
    assert difference <= 1e-4
    assert np.max(np.abs(scores - teacher.predict(pairs, batch_size=7))) > 0.1, "raw logits, not the saved sigmoid"


def test_train_fit_starts_from_the_encoder_by_id(run_offline, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pairs = _pairs_file(tmp_path / "pairs.parquet", 16)
    scores = [14.0 if i % 2 else 6.0 for i in range(len(pairs))]
    pq.write_table(pa.table({"query": [q for q, _ in pairs], "document": [d for _, d in pairs], "score": scores}),
                   tmp_path / "train.parquet")
    run_offline(["-m", "train", "fit", "--train", str(tmp_path / "train.parquet"), "--out", str(tmp_path / "student"),
                 "--size", "17m", "--max-steps", "2", "--global-batch-size", "4", "--eval-data", "none",
                 "--eval-rows", "4", "--eval-steps", "1", "--quiet"])
    config = json.loads((tmp_path / "student" / "config.json").read_text())
    assert config["hidden_size"] == registry.RERANKERS["17m"].encoder.hidden_size
    label = json.loads((tmp_path / "student" / "ettin_metadata.json").read_text())
    assert label["backbone"] == "jhu-clsp/ettin-encoder-17m" and label["backbone_random_init"] is True
    summary = json.loads((tmp_path / "student" / "train_config.json").read_text())
    assert summary["max_length"] == registry.RERANKERS["17m"].max_length, "the backbone's own limit, recorded"
    assert summary["eval_rows"] == 4 and len(summary["eval_loss_history"]) >= 1, "the eval split reached the trainer"


def test_mteb_scifact_by_name_with_bm25(run_offline, tmp_path):
    """mteb's SciFact task by name (data from the bundled folder), cheap enough for every run: BM25's pinned NDCG@10."""
    out = tmp_path / "mteb.json"
    run_offline(["-m", "eval", "mteb", "--tasks", "SciFact", "--embedders", "bm25", "--no-store",
                 "--work-dir", str(tmp_path / "work"), "--output", str(out)], timeout=600)
    (run,) = json.loads(out.read_text())["runs"]
    assert run["metrics"]["ndcg_at_10"] == pytest.approx(0.686300261, abs=1e-6)
    assert "by name" in run["provenance"]["dataset"]["source"]


def test_mteb_runs_minilm_by_id_through_mtebs_loader(run_offline, tmp_path):
    from ettin.corpus import scifact
    from eval.retrieval.data import subset, write_beir

    folder = write_beir(subset(scifact("test"), n_queries=3, n_documents=40, name="mini"), tmp_path / "mini")
    out = tmp_path / "mteb.json"
    run_offline(["-m", "eval", "mteb", "--data", str(folder), "--embedders", registry.MINILM_ID, "--no-store",
                 "--work-dir", str(tmp_path / "work"), "--output", str(out)])
    (run,) = json.loads(out.read_text())["runs"]
    assert run["provenance"]["first_stage"]["loader"] == "mteb.get_model"
    assert run["provenance"]["first_stage"]["revision"] == registry.embedder(registry.MINILM_ID).revision
    assert run["random_init"] is False and 0 < run["metrics"]["ndcg_at_10"] <= 1


@pytest.mark.full
def test_mteb_scifact_by_name_with_minilm_by_id(run_offline, tmp_path):
    """mteb's SciFact task by name (data from the bundled folder: datasets cannot read the Hub cache offline) with
    all-MiniLM-L6-v2 by id through ``mteb.get_model``: the MTEB results repository's NDCG@10, 0.64508."""
    out = tmp_path / "mteb.json"
    run_offline(["-m", "eval", "mteb", "--tasks", "SciFact", "--embedders", registry.MINILM_ID, "--no-store",
                 "--work-dir", str(tmp_path / "work"), "--output", str(out)], timeout=3000)
    (run,) = json.loads(out.read_text())["runs"]
    print(f"SciFact by name, all-MiniLM-L6-v2 retriever-only NDCG@10: {run['metrics']['ndcg_at_10']:.5f}")
    assert f"{run['metrics']['ndcg_at_10']:.5f}" == "0.64508"  # exact to the five digits the README quotes
    assert run["provenance"]["first_stage"]["loader"] == "mteb.get_model"
    assert run["provenance"]["first_stage"]["revision"] == registry.embedder(registry.MINILM_ID).revision
    assert "by name" in run["provenance"]["dataset"]["source"]


def test_mteb_path_runs_the_teacher_by_id_through_mtebs_loader(run_offline, tmp_path):
    from ettin.corpus import scifact
    from eval.retrieval.data import subset, write_beir

    folder = write_beir(subset(scifact("test"), n_queries=3, n_documents=40, name="mini"), tmp_path / "mini")
    out = tmp_path / "mteb.json"
    run_offline(["-m", "eval", "mteb", "--data", str(folder), "--embedders", "bm25", "--rerankers", registry.TEACHER_ID,
                 "--top-k", "5", "--no-store", "--work-dir", str(tmp_path / "work"), "--output", str(out)])
    reranked = next(r for r in json.loads(out.read_text())["runs"] if r["reranker"])
    assert reranked["random_init"] is True
    prov = reranked["provenance"]["reranker"]
    assert prov["revision"] == pinned_revision(registry.TEACHER_ID) and prov["replica_of"] == registry.TEACHER_ID
    assert prov["max_length"] == 32768, "the model's own limit (mteb registers 32768 tokens for it)"
