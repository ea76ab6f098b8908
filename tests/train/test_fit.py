"""Training: a tiny run learns and reloads, the recipe comes from the registry, killed runs resume, torchrun splits the batch."""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path

import numpy as np
import pytest

from train.fit import fit
from train.fit_config import FitConfig, resolve_recipe
from train.tables import TrainDataError


def _tiny_config(train, out, backbone, **kw) -> FitConfig:
    base = dict(
        train=str(train), out=str(out), backbone=str(backbone), max_length=48, learning_rate=1e-2, global_batch_size=16,
        max_steps=24, warmup=0.0, save_steps=12, logging_steps=4,
    )
    base.update(kw)
    return FitConfig(**base)


def test_recipe_comes_from_the_registry_and_can_be_overridden(monkeypatch):
    recipe = resolve_recipe(FitConfig(train="x", out="y", size="68m"))
    assert recipe["learning_rate"] == 3e-5 and recipe["global_batch_size"] == 256
    assert recipe["warmup"] == 0.03 and recipe["seed"] == 12 and recipe["backbone"] == "jhu-clsp/ettin-encoder-68m"
    recipe = resolve_recipe(FitConfig(train="x", out="y", size="17m", learning_rate=1e-3, global_batch_size=64))
    assert recipe["learning_rate"] == 1e-3 and recipe["per_device_batch_size"] == 64
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert resolve_recipe(FitConfig(train="x", out="y", size="1b"))["per_device_batch_size"] == 128
    with pytest.raises(TrainDataError, match="not divisible"):
        resolve_recipe(FitConfig(train="x", out="y", global_batch_size=30))
    with pytest.raises(TrainDataError, match="unknown Ettin reranker"):
        resolve_recipe(FitConfig(train="x", out="y", size="5m"))


def test_tiny_run_learns_saves_and_reloads(tiny_train_file, tiny_encoder, tmp_path):
    from sentence_transformers import CrossEncoder

    from transformers import TrainerCallback

    class StepRecorder(TrainerCallback):
        def __init__(self):
            self.steps = []
            self.trained = None

        def on_step_end(self, args, state, control, **kwargs):
            self.steps.append(state.global_step)

        def on_train_end(self, args, state, control, model=None, **kwargs):
            self.trained = model  # the trained student, in memory (the model fit() then saves)

    out = tmp_path / "student"
    recorder = StepRecorder()
    summary = fit(_tiny_config(tiny_train_file, out, tiny_encoder), show_progress=False, callbacks=[recorder])
    assert recorder.steps == list(range(1, 25)), "the callbacks passed to fit() see every step"
    losses = summary["loss_history"]
    assert summary["global_step"] == 24 and len(losses) == 6
    assert np.mean(losses[-2:]) < 0.5 * losses[0], f"loss did not decrease: {losses}"
    saved = json.loads((out / "train_config.json").read_text())
    assert saved["data"]["rows"] == 256 and len(saved["data"]["sha256"]) == 64
    assert saved["recipe"]["learning_rate"] == 1e-2 and saved["config"]["max_steps"] == 24
    assert "packages" in saved["provenance"]
    assert json.loads((out / "ettin_metadata.json").read_text())["random_init"] is False
    assert (out / "README.md").is_file()
    batches = json.loads((out / "rank_batches" / "rank0.json").read_text())["batch_sizes"]
    assert batches == [16] * 24
    model = CrossEncoder(str(out))
    ckpt = CrossEncoder(str(out / "checkpoints" / "checkpoint-12"))
    pairs = [("vitamin d and bone", "Vitamin D supplements reduce fractures."), ("heart", "Cells divide.")]
    assert model.predict(pairs).shape == (2,) and ckpt.predict(pairs).shape == (2,)
    # the saved folder reloads as the model that was trained (weights, head, activation), not as any other model
    in_memory = recorder.trained.predict(pairs)
    np.testing.assert_allclose(model.predict(pairs), in_memory, rtol=1e-5, atol=1e-5, err_msg="the reload is the trained model")
    assert not np.allclose(ckpt.predict(pairs), in_memory, atol=1e-3), "the step-12 checkpoint is another model"
    import transformers

    from train.student import build_student

    transformers.set_seed(12)  # the run's seed: the student as it was before training
    untrained = build_student(str(tiny_encoder), "17m", 48).predict(pairs)
    assert not np.allclose(untrained, in_memory, atol=1e-3), "training changed the saved model"
    with pytest.raises(TrainDataError, match="already holds a trained model"):
        fit(_tiny_config(tiny_train_file, out, tiny_encoder), show_progress=False)


def test_metric_key_matches_the_recipe_name():
    from types import SimpleNamespace

    from train.student import metric_key

    nanobeir = SimpleNamespace(name="NanoBEIR_R100_mean", primary_metric="ndcg@10")
    assert metric_key(nanobeir) == "eval_NanoBEIR_R100_mean_ndcg@10"
    from ettin.published import published

    assert metric_key(nanobeir) == published().training_constants["metric_for_best_model"]
    assert metric_key(SimpleNamespace(name="scifact_R100", primary_metric="scifact_R100_ndcg@10")) == "eval_scifact_R100_ndcg@10"


def test_bad_training_input_is_reported(tmp_path, tiny_encoder, capsys):
    from train.__main__ import main

    assert main(["fit", "--train", str(tmp_path / "none.parquet"), "--out", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "a", "text": "b"}\n', encoding="utf-8")
    assert main(["fit", "--train", str(bad), "--out", str(tmp_path / "o"), "--backbone", str(tiny_encoder)]) == 2
    assert "missing column(s) document, score" in capsys.readouterr().err
    assert main(["fit", "--train", str(bad), "--out", str(tmp_path / "o"), "--size", "3m"]) == 2
    assert "known sizes" in capsys.readouterr().err


def _fake_checkpoint(folder: Path, step: int, state: str | None, weights: bool = True) -> None:
    path = folder / f"checkpoint-{step}"
    path.mkdir(parents=True)
    if weights:
        (path / "model.safetensors").write_bytes(b"weights")
    if state is not None:
        (path / "trainer_state.json").write_text(state, encoding="utf-8")


def test_resume_picks_the_newest_complete_checkpoint_and_sets_the_others_aside(tmp_path, capsys):
    from train.checkpoints import last_checkpoint, set_aside_incomplete

    folder = tmp_path / "checkpoints"
    _fake_checkpoint(folder, 4, json.dumps({"global_step": 4}))
    _fake_checkpoint(folder, 8, json.dumps({"global_step": 8}))
    _fake_checkpoint(folder, 12, '{"global_st')  # killed while writing the state, its last file
    _fake_checkpoint(folder, 16, None)  # killed before the state
    _fake_checkpoint(folder, 20, json.dumps({"global_step": 20}), weights=False)  # weights missing
    assert last_checkpoint(folder).name == "checkpoint-8"
    assert set_aside_incomplete(folder, rank=0) == ["checkpoint-12", "checkpoint-16", "checkpoint-20"]
    assert sorted(p.name for p in folder.iterdir()) == [
        "checkpoint-12.incomplete", "checkpoint-16.incomplete", "checkpoint-20.incomplete", "checkpoint-4", "checkpoint-8"]
    assert "skipping checkpoint-12: incomplete" in capsys.readouterr().err
    assert last_checkpoint(folder).name == "checkpoint-8" and set_aside_incomplete(folder, rank=0) == []


def _saving(folder: Path) -> bool:
    """A checkpoint after the first is being written: its folder exists, its trainer_state.json (written last) not yet."""
    return any(p.name != "checkpoint-2" and not (p / "trainer_state.json").exists() for p in folder.glob("checkpoint-*"))


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["during-a-save", "at-a-random-step", "after-the-last-save"])
def test_training_killed_from_outside_resumes_from_its_newest_complete_checkpoint(
    tiny_train_file, tiny_encoder, tmp_path, run_cli, kill_when, moment
):
    out = tmp_path / "student"
    ckpts = out / "checkpoints"
    args = ["fit", "--train", str(tiny_train_file), "--out", str(out), "--backbone", str(tiny_encoder), "--max-length", "48",
            "--lr", "2e-3", "--global-batch-size", "16", "--max-steps", "12", "--warmup", "0", "--save-steps", "2",
            "--save-total-limit", "20", "--logging-steps", "2", "--quiet"]  # fmt: skip
    if moment == "during-a-save":
        kill_when(args, lambda: _saving(ckpts))
    elif moment == "after-the-last-save":  # nothing left to train: the resume only finishes the outputs
        kill_when(args, lambda: (ckpts / "checkpoint-12" / "trainer_state.json").is_file())
    else:
        # a random step: after a randomly chosen checkpoint is complete, at a random moment of the next steps
        step = random.Random().choice([2, 4, 6, 8])
        kill_when(args, lambda: (ckpts / f"checkpoint-{step}" / "trainer_state.json").is_file(),
                  delay_s=random.Random().uniform(0.0, 0.02))  # fmt: skip
    assert not (out / "train_config.json").exists()
    from train.checkpoints import checkpoint_is_complete

    on_disk = sorted(ckpts.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    complete = [p.name for p in on_disk if checkpoint_is_complete(p)]
    partial = [p.name for p in on_disk if not checkpoint_is_complete(p)]
    if moment == "during-a-save":
        assert len(partial) == 1, "the kill landed while a checkpoint was being written"
    if moment == "at-a-random-step":  # (once is enough: each check starts a process)
        again = run_cli(args)
        assert again.returncode == 2 and "--resume" in again.stderr, "a second run without --resume is refused"
        other = run_cli([*[a if a != "2e-3" else "5e-3" for a in args], "--resume"])
        assert other.returncode == 2 and "other settings (learning_rate)" in other.stderr, other.stderr[-2000:]
    resumed = run_cli([*args, "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    summary = json.loads((out / "train_config.json").read_text())
    assert summary["resumed_from"] == complete[-1] and summary["global_step"] == 12
    assert summary["skipped_incomplete_checkpoints"] == partial
    resumed_step = int(complete[-1].split("-")[1])
    batches = json.loads((out / "rank_batches" / "rank0.json").read_text())["batch_sizes"]
    assert len(batches) == 12 - resumed_step, "only the steps after the checkpoint were trained again"
    from sentence_transformers import CrossEncoder

    assert CrossEncoder(str(out)).predict([("a", "b")]).shape == (1,)


@pytest.mark.slow
def test_torchrun_two_processes_split_the_global_batch(tiny_train_file, tiny_encoder, tmp_path):
    out = tmp_path / "ddp"
    result = _torchrun(tiny_train_file, tiny_encoder, out)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    for rank in (0, 1):
        record = json.loads((out / "rank_batches" / f"rank{rank}.json").read_text())
        assert record["world_size"] == 2 and record["rank"] == rank
        assert record["batch_sizes"] == [4, 4, 4], "each rank saw half of the global batch of 8 at every step"
    summary = json.loads((out / "train_config.json").read_text())
    assert summary["recipe"]["world_size"] == 2 and summary["recipe"]["per_device_batch_size"] == 4
    assert summary["global_step"] == 3


def _torchrun(tiny_train_file, tiny_encoder, out):
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "train", "fit",
        "--train", str(tiny_train_file), "--out", str(out), "--backbone", str(tiny_encoder), "--max-length", "48",
        "--global-batch-size", "8", "--max-steps", "3", "--warmup", "0", "--save-steps", "3", "--logging-steps", "1", "--quiet",
    ]
    return subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=600)


def test_local_evaluator_keeps_only_the_dev_queries(tmp_path):
    from train.student import build_evaluator, metric_key

    assert build_evaluator(FitConfig(train="x", out="y")) is None, "--eval-data none (the default): no evaluator"
    ids = tmp_path / "dev.json"
    ids.write_text(json.dumps(["1", "3", "5"]), encoding="utf-8")
    evaluator = build_evaluator(FitConfig(train="x", out="y", eval_data="scifact", eval_split="test", eval_top_k=5,
                                          eval_query_ids=str(ids)))
    assert len(evaluator.samples) <= 3 and metric_key(evaluator) == "eval_scifact-dev_R5_ndcg@10"
    ids.write_text(json.dumps(["no-such-query"]), encoding="utf-8")
    with pytest.raises(TrainDataError, match="not in scifact/test"):
        build_evaluator(FitConfig(train="x", out="y", eval_data="scifact", eval_split="test", eval_query_ids=str(ids)))
