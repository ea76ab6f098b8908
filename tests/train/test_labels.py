"""Fine-tuning from relevance labels: mined negatives are never judged documents, the chosen loss is used, the output
folder says what it was trained on, and a finished run extends from its last checkpoint."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import pyarrow.parquet as pq
import pytest

from ettin.corpus import load_beir
from train.fit import fit
from train.fit_config import FitConfig, add_fit_arguments
from train.labels import MINED_FILE, MiningConfig, make_label_loss, prepare_label_data
from train.tables import TrainDataError


def _mined_by_query(table) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for row in table.to_pylist():
        out.setdefault(row["query_id"], []).append(row)
    return out


def test_label_fine_tune_mines_trains_reports_and_resumes(tiny_beir, tiny_encoder, tmp_path):
    out = tmp_path / "labels-run"
    cfg = FitConfig(
        out=str(out), labels=str(tiny_beir), backbone=str(tiny_encoder), first_stages="bm25", negatives=3, mine_depth=10,
        max_length=48, learning_rate=1e-3, global_batch_size=8, max_steps=4, save_steps=2, logging_steps=2, warmup=0.0,
        test_split="test", test_depth=5,
    )
    summary = fit(cfg, show_progress=False)

    train = load_beir(tiny_beir, "train")
    mined = pq.read_table(out / MINED_FILE)
    by_query = _mined_by_query(mined)
    assert set(by_query) == set(train.queries)
    positives_in_window = 0
    for qid, rows in by_query.items():
        judged = set(train.qrels[qid])
        negatives = [r for r in rows if not r["is_positive"]]
        assert len(negatives) == 3 and all(r["label"] == 0.0 for r in negatives)
        assert not judged & {r["doc_id"] for r in negatives}, f"{qid}: a judged document was mined as a negative"
        assert all(0 <= r["first_stage_rank"] < 10 for r in negatives)
        assert {r["doc_id"] for r in rows if r["is_positive"]} == {d for d, g in train.qrels[qid].items() if g > 0}
        positives_in_window += sum(0 <= r["first_stage_rank"] < 10 for r in rows if r["is_positive"])
    assert positives_in_window > 0, "BM25 found positives in the mining window, so excluding them was exercised"

    assert summary["loss"].startswith("BinaryCrossEntropyLoss") and summary["recipe"]["loss"] == "bce"
    n_pos = sum(r["is_positive"] for r in mined.to_pylist())
    assert f"pos_weight {(mined.num_rows - n_pos) / n_pos:.2f}" in summary["loss"]
    assert summary["global_step"] == 4 and list(summary["labels"]["mining"]["first_stages"]) == ["bm25"]
    test_eval = summary["test_eval"]
    assert test_eval["split"] == "test" and test_eval["pairs"] == 3 * 5
    assert set(test_eval["ndcg@10"]) == {"first_stage", "base", "trained"}
    assert all(0.0 <= v <= 1.0 for v in test_eval["ndcg@10"].values())
    meta = json.loads((out / "ettin_metadata.json").read_text())
    assert meta["random_init"] is False and meta["recipe"].startswith("fine-tuned from relevance labels")
    here = meta["trained_here"]
    assert (here["dataset"], here["split"], here["test_split"]) == ("tinyfact", "train", "test")
    assert here["test_ndcg@10"] == test_eval["ndcg@10"]["trained"]
    assert (out / "model.safetensors").is_file() and json.loads((out / "train_config.json").read_text())["labels"]

    mined_mtime = (out / MINED_FILE).stat().st_mtime_ns
    with pytest.raises(TrainDataError, match="--resume"):
        fit(cfg, show_progress=False)
    extended = fit(replace(cfg, max_steps=6, resume=True, test_split=None), show_progress=False)
    assert extended["resumed_from"] == "checkpoint-4" and extended["global_step"] == 6
    assert (out / MINED_FILE).stat().st_mtime_ns == mined_mtime, "the mined rows of the first launch are reused"


def test_listnet_lists_and_seeded_negatives(tiny_beir, tmp_path):
    import torch

    mining = MiningConfig(("bm25",), negatives=2, depth=12, seed=12)
    data = prepare_label_data(str(tiny_beir), "train", tmp_path / "a", mining, "listnet", show_progress=False)
    lists = pq.read_table(data.train_file)
    assert lists.column_names == ["query", "docs", "labels"] and lists.num_rows == 8
    assert all(len(d) == len(y) and sorted(set(y)) == [0.0, 1.0] for d, y in zip(lists["docs"].to_pylist(), lists["labels"].to_pylist()))
    class OneLabelModel(torch.nn.Module):
        num_labels = 1

    for name, cls in (("listnet", "ListNetLoss"), ("lambdaloss", "LambdaLoss")):
        loss, description = make_label_loss(OneLabelModel(), name, data.mined)
        assert type(loss).__name__ == cls and description.startswith(cls)

    def negatives(seed: int, where: str) -> set[tuple[str, str]]:
        mined = prepare_label_data(str(tiny_beir), "train", tmp_path / where, replace(mining, seed=seed), "bce", show_progress=False).mined
        return {(r["query_id"], r["doc_id"]) for r in mined.to_pylist() if not r["is_positive"]}

    assert negatives(12, "b") == {(r["query_id"], r["doc_id"]) for r in data.mined.to_pylist() if not r["is_positive"]}
    assert negatives(13, "c") != negatives(12, "b"), "another seed draws other negatives"


def test_label_inputs_are_checked(tiny_beir, tmp_path):
    with pytest.raises(TrainDataError, match="--loss mse needs teacher scores"):
        fit(FitConfig(out=str(tmp_path / "o"), labels=str(tiny_beir), loss="mse"), show_progress=False)
    with pytest.raises(TrainDataError, match="either --train"):
        fit(FitConfig(out=str(tmp_path / "o")), show_progress=False)
    with pytest.raises(TrainDataError, match="neither 'scifact' nor a BEIR folder"):
        fit(FitConfig(out=str(tmp_path / "o"), labels=str(tmp_path / "nope"), dry_run=True), show_progress=False)
    with pytest.raises(TrainDataError, match="--mine-skip"):
        MiningConfig(("bm25",), depth=5, skip=5).check()
    parser = argparse.ArgumentParser()
    add_fit_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--out", "o", "--train", "t.parquet", "--labels", "scifact"])
