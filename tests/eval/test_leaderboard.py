"""Leaderboard data: published tables, the results store (random-init refused, replica speed labelled), filters, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from eval import leaderboard as lb
from ettin import registry
from ettin.published import published


def write_retrieval(root: Path, dataset: str, first_stage: str, reranker: str | None, ndcg: float, random_init=False) -> Path:
    slug = (reranker or "retriever-only").replace("/", "__")
    path = root / "retrieval" / dataset / "test" / first_stage.replace("/", "__") / f"{slug}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "schema": "ettin.retrieval/1",
        "dataset": dataset,
        "split": "test",
        "first_stage": first_stage,
        "reranker": reranker,
        "metrics": {"ndcg_at_10": ndcg, "mrr_at_10": ndcg + 0.01, "map_at_10": ndcg - 0.01, "recall_at_10": 0.7,
                    "recall_at_100": 0.9},
        "n_queries": 300,
        "random_init": random_init,
        "provenance": {
            "dataset": {"name": dataset, "split": "test", "fingerprint": "abc123def4567890", "source": "bundled"},
            "protocol": {"top_k": 100, "max_length": 512, "dtype": "float32", "attn_implementation": "sdpa"},
            "packages": {"torch": "2.13.0", "mteb": "2.26.24"},
            "hardware": {"description": "Test CPU (2 cores)"},
            "date": "2026-11-27T12:00:00+00:00",
        },
    }
    path.write_text(json.dumps(data))
    return path


def write_speed(root: Path) -> Path:
    path = root / "speed" / "test-cpu_20261127-120000.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    row = {"size": "17m", "runtime": "ettin", "batch_size": 32, "peak_memory_bytes": 2e8, "ratio_to_baseline": 1.5,
           "ceiling_fraction": 0.1, "max_abs_diff_vs_baseline": 0.0}
    data = {
        "schema": "ettin.speed/1",
        "provenance": {"hardware": {"description": "Test CPU (2 cores)"}, "date": "2026-11-27T12:00:00+00:00",
                       "packages": {}, "protocol": {"pairs": 512}},
        "ceiling": {"fp32_flops": 1e11, "bf16_flops": 2e11},
        "rows": [
            {**row, "model": "models/17m", "random_init": True, "config": "fp32-sdpa", "pairs_per_s": 51.0, "skipped": None},
            {**row, "model": "models/17m", "random_init": True, "config": "bf16-sdpa", "pairs_per_s": 88.0, "skipped": None},
            {**row, "model": "models/17m", "random_init": True, "config": "bf16-fa2-unpadded", "pairs_per_s": None,
             "skipped": "no GPU"},
        ],
    }
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def store(tmp_path):
    write_retrieval(tmp_path, "scifact", "bm25", None, 0.66)
    write_retrieval(tmp_path, "scifact", "bm25", "cross-encoder/ettin-reranker-17m-v1", 0.70)
    write_retrieval(tmp_path, "scifact", "sentence-transformers/all-MiniLM-L6-v2", "cross-encoder/ettin-reranker-17m-v1", 0.72)
    write_retrieval(tmp_path, "scifact", "bm25", "models/32m", 0.05, random_init=True)
    write_retrieval(tmp_path, "scifact", "bm25", "models/68m", 0.04, random_init=True)
    write_speed(tmp_path)
    bad = tmp_path / "retrieval" / "broken.json"
    bad.write_text("{not json")
    return tmp_path


def test_published_tables_match_the_data_file():
    data = published()
    q = lb.published_quality()
    assert len(q) == len(data.mteb.rows) + len(data.nanobeir.rows)
    assert set(q["source"]) == {"published"}
    row = q[(q["benchmark"] == "MTEB(eng, v2) Retrieval") & (q["model"] == "cross-encoder/ettin-reranker-1b-v1")]
    assert row["ndcg10"].item() == 0.6114 and row["size"].item() == "1b"
    assert q[q["model"] == registry.TEACHER_ID]["family"].unique().tolist() == ["teacher"]
    s = lb.published_speed()
    cpu = s[(s["hardware"] == "CPU i7-13700K") & (s["model"] == "cross-encoder/ettin-reranker-17m-v1")]
    assert cpu["pairs_per_s"].item() == 267.4
    abl = lb.published_ablation()
    assert len(abl) == 24
    cell = abl[(abl["size"] == "1b") & (abl["config"] == "bf16-fa2-unpadded")]
    assert cell["pairs_per_s"].item() == 928 and cell["peak_gb"].item() == 4.5
    assert all("huggingface.co/blog/ettin-reranker" in p for p in q["provenance"])


def test_missing_results_store_gives_the_published_leaderboard(tmp_path):
    board = lb.build_leaderboard(tmp_path / "does-not-exist")
    assert set(board.quality["source"]) == {"published"}
    assert board.refused_random_init == 0 and not board.errors
    assert any("no regenerated retrieval results" in n for n in board.notes)


def test_regenerated_results_are_read_random_init_refused_and_counted(store):
    board = lb.build_leaderboard(store)
    assert board.refused_random_init == 2
    assert any("2 regenerated quality result(s) refused" in n for n in board.notes)
    assert len(board.errors) == 1 and "broken.json" in board.errors[0]
    regen = board.embedders[board.embedders["source"] == "regenerated"]
    assert len(regen) == 3
    assert not regen["reranker"].fillna("").str.startswith("models/").any()
    quality = board.quality[board.quality["source"] == "regenerated"]
    assert len(quality) == 1
    assert quality["ndcg10"].item() == pytest.approx(0.71)  # mean over the two first stages
    assert quality["benchmark"].item() == "scifact/test (regenerated)"
    prov = regen["provenance"].iloc[0]
    assert "Test CPU" in prov and "2026-11-27" in prov and "retrieval/scifact/test" in prov
    assert str(store) not in prov  # no machine paths
    commands = set(regen["command"])
    assert "python -m eval retrieval --first-stage bm25 --reranker cross-encoder/ettin-reranker-17m-v1" in commands
    assert "python -m eval retrieval --first-stage bm25" in commands


def test_replica_speed_rows_are_kept_and_labelled_skipped_rows_dropped(store):
    board = lb.build_leaderboard(store)
    regen = board.speed[board.speed["source"] == "regenerated"]
    assert len(regen) == 2
    assert set(regen["label"]) == {lb.REPLICA_LABEL}
    assert set(regen["model"]) == {"cross-encoder/ettin-reranker-17m-v1"}
    assert sorted(regen["pairs_per_s"]) == [51.0, 88.0]
    abl = board.ablation[board.ablation["source"] == "regenerated"]
    assert set(abl["config"]) == {"fp32-sdpa", "bf16-sdpa"}


def test_filters():
    q = lb.published_quality()
    ettin = lb.filter_frame(q, families=["Ettin"])
    assert set(ettin["family"]) == {"Ettin"} and len(ettin) == 12
    others = lb.filter_frame(q, families=["teacher", lb.OTHERS])
    assert "Ettin" not in set(others["family"]) and {"teacher", "BAAI", "jinaai"} <= set(others["family"])
    small = lb.filter_frame(q, max_params=100e6)
    assert small["params"].max() <= 100e6 and len(small) > 0
    assert lb.filter_frame(q, sources=["regenerated"]).empty
    s = lb.published_speed()
    assert set(lb.filter_frame(s, hardware=["H100 (bf16)"])["hardware"]) == {"H100 (bf16)"}


def test_cli_prints_and_writes_csv_and_json(store, tmp_path, capsys):
    from eval.__main__ import main

    out = tmp_path / "out"
    assert main(["leaderboard", "--results-dir", str(store), "--out", str(out), "--family", "Ettin", "--top", "3"]) == 0
    text = capsys.readouterr().out
    assert "== quality" in text and "2 regenerated quality result(s) refused" in text
    for name in ("quality", "embedders", "speed", "ablation"):
        csv = pd.read_csv(out / f"{name}.csv")
        records = json.loads((out / f"{name}.json").read_text())
        assert len(csv) == len(records)
    quality = pd.read_csv(out / "quality.csv")
    assert set(quality["family"]) == {"Ettin"}
    assert "regenerated" in set(quality["source"])


def test_speed_files_are_read_by_the_speed_reader(store):
    from eval.speed.report import SCHEMA, read_results

    (store / "speed" / "other.json").write_text(json.dumps({"schema": "something/9"}))
    files, problems = read_results(store)
    assert [f.file for f in files] == ["speed/test-cpu_20261127-120000.json"] and files[0].data["schema"] == SCHEMA
    assert problems == ["speed/other.json: ValueError: schema is not ettin.speed/1"]
    board = lb.build_leaderboard(store)
    assert "speed/other.json: ValueError: schema is not ettin.speed/1" in board.errors
