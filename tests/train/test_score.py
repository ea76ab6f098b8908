"""Teacher scoring: shards add up to the whole, a killed run resumes where it stopped, mismatched folders are refused."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from train.score import parse_shard, score_file
from train.scored import read_scored
from train.tables import TrainDataError


class HashTeacher:
    """A deterministic stand-in teacher: a fixed function of the texts."""

    spec = "hash-teacher"

    def __init__(self):
        self.calls = 0

    def score(self, pairs):
        self.calls += 1
        return np.array([(len(q) * 7 + len(d) * 3) % 23 - 11.5 for q, d in pairs], dtype=np.float32)

    def describe(self):
        return {"kind": "test"}


@pytest.fixture
def pairs_file(tmp_path) -> Path:
    path = tmp_path / "pairs.parquet"
    pq.write_table(
        pa.table({"query": [f"q{i % 5}" * (i % 3 + 1) for i in range(103)], "document": [f"doc {i}" * (i % 4 + 1) for i in range(103)]}),
        path,
    )
    return path


def test_parse_shard():
    assert parse_shard("1/4") == (1, 4)
    for bad in ("4/4", "-1/2", "a/b", "1", "0/0"):
        with pytest.raises(TrainDataError, match="--shard"):
            parse_shard(bad)


def test_shards_together_equal_one_run(pairs_file, tmp_path):
    teacher = HashTeacher()
    whole = tmp_path / "whole"
    score_file(pairs_file, whole, teacher, chunk_size=10, show_progress=False)
    sharded = tmp_path / "sharded"
    first = score_file(pairs_file, sharded, teacher, shard=(0, 3), chunk_size=10, show_progress=False)
    assert first["parts_total"] == 11 and first["written"] == 4
    with pytest.raises(TrainDataError, match="parts are missing"):
        read_scored(sharded)
    score_file(pairs_file, sharded, teacher, shard=(1, 3), chunk_size=10, show_progress=False)
    score_file(pairs_file, sharded, teacher, shard=(2, 3), chunk_size=10, show_progress=False)
    a, b = read_scored(whole), read_scored(sharded)
    assert a.num_rows == 103 and a.to_pylist() == b.to_pylist()
    expected = teacher.score(list(zip(a.column("query").to_pylist(), a.column("document").to_pylist())))
    assert np.allclose(a.column("score").to_numpy(), expected)
    again = score_file(pairs_file, whole, teacher, chunk_size=10, show_progress=False)
    assert again["written"] == 0 and again["already_done"] == 11, "finished work is not redone"


def test_manifest_records_each_run_and_when_the_folder_is_complete(pairs_file, tmp_path):
    out = tmp_path / "scores"
    first = score_file(pairs_file, out, HashTeacher(), shard=(0, 2), chunk_size=10, show_progress=False)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert not first["complete"] and not manifest["complete"]
    assert manifest["runs"][0] | {"id": 0, "started": 0, "finished": 0} == {
        "id": 0, "launcher": "shard", "world_size": 2, "shard": "0/2", "started": 0, "finished": 0,
        "parts_to_score": 6, "written": 6, "already_done": 0,
    }
    assert score_file(pairs_file, out, HashTeacher(), shard=(1, 2), chunk_size=10, show_progress=False)["complete"]
    score_file(pairs_file, out, HashTeacher(), shard=(0, 2), chunk_size=10, show_progress=False)  # nothing left to do
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["complete"] and [r.get("shard") for r in manifest["runs"]] == ["0/2", "1/2"]


def test_shard_flag_under_torchrun_is_refused(monkeypatch, tmp_path, capsys):
    from train.__main__ import main

    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["score", "--input", str(tmp_path / "p.parquet"), "--out", str(tmp_path / "o"), "--teacher", "x/y",
                 "--shard", "0/2"]) == 2  # fmt: skip
    assert "drop --shard" in capsys.readouterr().err


def test_other_runs_folder_is_refused(pairs_file, tmp_path):
    out = tmp_path / "scores"
    score_file(pairs_file, out, HashTeacher(), chunk_size=10, show_progress=False)
    with pytest.raises(TrainDataError, match="another run"):
        score_file(pairs_file, out, HashTeacher(), chunk_size=20, show_progress=False)
    pq.write_table(pa.table({"query": ["x"], "document": ["y"]}), pairs_file)
    with pytest.raises(TrainDataError, match="changed since it was scored"):
        read_scored(out)


def test_missing_columns_are_reported(tmp_path):
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"q": ["a"], "d": ["b"]}), path)
    with pytest.raises(TrainDataError, match="no query column"):
        score_file(path, tmp_path / "o", HashTeacher(), show_progress=False)


@pytest.mark.slow
def test_killed_scoring_resumes_without_redoing_parts(tmp_path, tiny_cross_encoder, run_cli, kill_when):
    pairs = tmp_path / "many-pairs.parquet"
    pq.write_table(pa.table({"query": [f"query {i % 7}" for i in range(400)], "document": [f"doc {i}" for i in range(400)]}),
                   pairs)  # fmt: skip
    out = tmp_path / "scores"
    args = ["score", "--input", str(pairs), "--out", str(out), "--teacher", str(tiny_cross_encoder),
            "--chunk-size", "2", "--precision", "fp32", "--quiet"]  # 200 parts of a few milliseconds each; fp32 as below
    # killed from outside at a random moment of the run (possibly while a part is being written)
    after = random.Random().randint(1, 60)
    kill_when(args, lambda: len(list(out.glob("part-*.parquet"))) >= after)
    done = sorted(out.glob("part-*.parquet"))
    assert after <= len(done) < 200, f"killed once {after} parts were written, found {len(done)}"
    stamps = {p.name: p.stat().st_mtime_ns for p in done}
    resumed = run_cli(args)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    summary = json.loads(resumed.stdout)
    assert summary["already_done"] == len(done) and summary["written"] == 200 - len(done)
    assert {p.name: p.stat().st_mtime_ns for p in done} == stamps, "finished parts were not rewritten"
    scored = read_scored(out)
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(str(tiny_cross_encoder))
    direct = model.predict(list(zip(scored.column("query").to_pylist(), scored.column("document").to_pylist())),
                           activation_fn=torch.nn.Identity())  # fmt: skip
    assert np.allclose(scored.column("score").to_numpy(), direct, atol=1e-4)


def test_score_cli_bad_input(tmp_path, capsys):
    from train.__main__ import main

    assert main(["score", "--input", str(tmp_path / "none.parquet"), "--out", str(tmp_path / "o"), "--teacher", "x/y",
                 "--shard", "3/2"]) == 2
    assert "--shard '3/2'" in capsys.readouterr().err
    assert main(["score", "--input", str(tmp_path / "none.parquet"), "--out", str(tmp_path / "o"), "--teacher", "x/y"]) == 2
    assert "no such file" in capsys.readouterr().err
