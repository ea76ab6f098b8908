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
    # the train and test queries were checked disjoint and recorded (no evaluator: no dev set)
    assert summary["query_sets"]["pairs"] == {"train-test": "id"} and summary["query_sets"]["disjoint"] is True
    recorded = json.loads((out / "query_ids.json").read_text())
    assert recorded == {"train": sorted(train.queries), "test": sorted(load_beir(tiny_beir, "test").queries)}

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


# --- no model selection on test: split flags, disjoint query sets, the dev hold-out file ------------------------------


def _dry(tiny_beir, tmp_path, **kw) -> dict:
    base = dict(out=str(tmp_path / "o"), labels=str(tiny_beir), first_stages="bm25", negatives=2, mine_depth=10, dry_run=True)
    return fit(FitConfig(**{**base, **kw}), show_progress=False)


def test_no_default_evaluates_on_test_and_test_splits_are_refused_for_selection(tiny_beir, tiny_train_file, tmp_path):
    assert FitConfig(out="o", train="t").eval_split is None, "no default split for the checkpoint-picking evaluator"
    with pytest.raises(TrainDataError, match="--eval-data scifact needs --eval-split"):
        fit(FitConfig(out=str(tmp_path / "a"), train=str(tiny_train_file), eval_data="scifact", dry_run=True))
    with pytest.raises(TrainDataError, match="--eval-split test is a test split"):
        fit(FitConfig(out=str(tmp_path / "b"), train=str(tiny_train_file), eval_data="scifact", eval_split="test",
                      dry_run=True))
    with pytest.raises(TrainDataError, match="--eval-split dev2 is a test split"):
        _dry(tiny_beir, tmp_path, eval_data=str(tiny_beir), eval_split="dev2", test_split="dev2")
    with pytest.raises(TrainDataError, match="--test-split train is the split trained on"):
        _dry(tiny_beir, tmp_path, split="train", test_split="train")


def test_train_dev_and_test_queries_must_be_disjoint(tiny_beir, tmp_path):
    import shutil

    summary = _dry(tiny_beir, tmp_path, holdout=2, test_split="test")
    check = summary["query_sets"]
    assert check["disjoint"] is True and check["pairs"] == {"train-dev": "id", "train-test": "id", "dev-test": "id"}
    assert {r: v["queries"] for r, v in check["roles"].items()} == {"train": 6, "dev": 2, "test": 3}
    # the evaluator on the training split without a hold-out: dev = the training queries
    with pytest.raises(TrainDataError, match="the train and dev queries overlap: 8 shared"):
        _dry(tiny_beir, tmp_path / "x", eval_data=str(tiny_beir), eval_split="train")
    # a test split that judges a training query
    leaky = tmp_path / "leaky" / "tinyfact"
    shutil.copytree(tiny_beir, leaky)
    train_q = (leaky / "qrels" / "train.tsv").read_text(encoding="utf-8").splitlines()[1]
    with open(leaky / "qrels" / "test.tsv", "a", encoding="utf-8") as f:
        f.write(train_q + "\n")
    with pytest.raises(TrainDataError, match="the train and test queries overlap: 1 shared"):
        _dry(leaky, tmp_path / "y", test_split="test")


def test_teacher_rows_are_checked_against_the_dev_queries_by_text(tiny_train_file, tmp_path):
    """``--train`` rows carry no ids of the evaluator's dataset: a dev query whose text is trained on is refused."""
    import pyarrow.parquet as pq

    from ettin.corpus import scifact

    train = scifact("train")
    trained_texts = set(pq.read_table(tiny_train_file).column("query").to_pylist())
    leaked = sorted(q for q, text in train.queries.items() if text in trained_texts)[:2]
    fresh = sorted(q for q, text in train.queries.items() if text not in trained_texts)[:2]
    ids = tmp_path / "dev.json"
    for dev, ok in ((fresh, True), (leaked, False)):
        ids.write_text(json.dumps(dev), encoding="utf-8")
        cfg = FitConfig(out=str(tmp_path / "o"), train=str(tiny_train_file), eval_data="scifact", eval_split="train",
                        eval_query_ids=str(ids), dry_run=True)
        if ok:
            assert fit(cfg)["query_sets"]["pairs"] == {"train-dev": "text"}
        else:
            with pytest.raises(TrainDataError, match="the train and dev queries overlap: 2 shared \\(by text"):
                fit(cfg)


def test_a_dev_file_drawn_with_another_holdout_is_refused_not_reused(tiny_beir, tmp_path):
    mining = MiningConfig(("bm25",), negatives=2, depth=10, seed=12)
    first = prepare_label_data(str(tiny_beir), "train", tmp_path, mining, "bce", holdout=2, show_progress=False)
    held = json.loads(first.dev_query_ids.read_text(encoding="utf-8"))
    assert len(held) == 2 and not set(held) & set(first.mined.column("query_id").to_pylist())
    again = prepare_label_data(str(tiny_beir), "train", tmp_path, mining, "bce", holdout=2, show_progress=False)
    assert json.loads(again.dev_query_ids.read_text(encoding="utf-8")) == held, "the same settings reuse the draw"
    with pytest.raises(TrainDataError, match="drawn with other settings than --holdout 3"):
        prepare_label_data(str(tiny_beir), "train", tmp_path, mining, "bce", holdout=3, show_progress=False)
    with pytest.raises(TrainDataError, match="without --holdout they would now be trained on"):
        prepare_label_data(str(tiny_beir), "train", tmp_path, mining, "bce", holdout=0, show_progress=False)
