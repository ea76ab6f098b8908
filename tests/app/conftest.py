"""The app, started once per test session on a free port of 127.0.0.1, with a 17m replica and a small results store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from demo.server import free_port


def _write_store(root: Path) -> Path:
    """Two regenerated retrieval results, one random-init result (to be refused) and one replica speed file."""
    prov = {
        "dataset": {"name": "scifact", "split": "test", "fingerprint": "f" * 16, "source": "bundled"},
        "protocol": {"top_k": 100, "max_length": 512, "dtype": "float32", "attn_implementation": "sdpa"},
        "packages": {"torch": "2.13.0"},
        "hardware": {"description": "Test CPU"},
        "date": "2026-11-27T12:00:00+00:00",
    }
    for reranker, ndcg, random_init in [(None, 0.66, False), ("cross-encoder/ettin-reranker-17m-v1", 0.70, False),
                                        ("models/17m", 0.01, True)]:
        slug = (reranker or "retriever-only").replace("/", "__")
        path = root / "retrieval" / "scifact" / "test" / "bm25" / f"{slug}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({
            "schema": "ettin.retrieval/1", "dataset": "scifact", "split": "test", "first_stage": "bm25",
            "reranker": reranker, "metrics": {"ndcg_at_10": ndcg, "mrr_at_10": ndcg, "map_at_10": ndcg,
                                              "recall_at_10": 0.8, "recall_at_100": 0.9},
            "n_queries": 300, "random_init": random_init, "provenance": prov,
        }))
    speed = root / "speed" / "test-cpu_20261127-120000.json"
    speed.parent.mkdir(parents=True)
    speed.write_text(json.dumps({
        "schema": "ettin.speed/1", "provenance": prov, "ceiling": {},
        "rows": [{"model": "models/17m", "size": "17m", "random_init": True, "runtime": "ettin", "config": "fp32-sdpa",
                  "pairs_per_s": 50.0, "batch_size": 32, "peak_memory_bytes": 1e8, "skipped": None}],
    }))
    return root


@pytest.fixture(scope="session")
def app_results(tmp_path_factory) -> Path:
    return _write_store(tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="session")
def app_url(replica_17m, app_results):
    """URL of the running app (BM25 selected at start so the first search needs no corpus embedding)."""
    import app

    demo = app.build_app(
        models_dir=replica_17m.parent, results_dir=app_results, include_hub=False, default_first_stage="bm25"
    )
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, max_file_size="2mb")
    yield f"http://127.0.0.1:{port}"
    demo.close()


@pytest.fixture()
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False)
