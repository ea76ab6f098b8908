"""The proof run's own pieces: the cosine teacher, the hold-out drawn once, the skip/extend rule of its training step."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from train import scifact
from train.score import CosineTeacher

PAIRS = [("vitamin b12 and homocysteine", "Vitamin B12 deficiency raises homocysteine."),
         ("vitamin b12 and homocysteine", "Cats sleep a lot."),
         ("aspirin", "Aspirin inhibits PGE2 synthesis.")]  # fmt: skip


def test_cosine_teacher_is_scale_times_the_cosine_of_the_real_minilm_embeddings(minilm_package):
    gt = minilm_package
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt.get_model_path()), device="cpu")
    q = model.encode([p[0] for p in PAIRS], convert_to_numpy=True)
    d = model.encode([p[1] for p in PAIRS], convert_to_numpy=True)
    cosine = np.sum(q * d, axis=1) / (np.linalg.norm(q, axis=1) * np.linalg.norm(d, axis=1))
    teacher = CosineTeacher(scifact.MINILM, scale=20.0)
    scores = teacher.score(PAIRS)
    assert scores.dtype == np.float32 and scores.shape == (3,)
    np.testing.assert_allclose(scores, 20.0 * cosine, atol=1e-4)  # embedders run lossless (fp32) on a CPU
    assert scores[0] > scores[1], "the matching document scores above the unrelated one"
    assert teacher.score([]).shape == (0,)


def test_holdout_is_drawn_once_then_reused_and_kept_out_of_training(tmp_path):
    from ettin.corpus import scifact as load_scifact
    from train.tables import TrainDataError

    train_split = load_scifact("train")
    path, train_qids = scifact._holdout(tmp_path, train_split, 40)
    held = json.loads(path.read_text(encoding="utf-8"))
    assert len(held) == 40 and not set(held) & set(train_qids)
    assert sorted(held + train_qids) == sorted(train_split.queries)
    recorded = json.loads((tmp_path / "query_ids.json").read_text(encoding="utf-8"))  # checked disjoint, then recorded
    assert recorded["dev"] == held and recorded["train"] == train_qids and len(recorded["test"]) == 300
    mtime = path.stat().st_mtime_ns
    assert scifact._holdout(tmp_path, train_split, 40) == (path, train_qids) and path.stat().st_mtime_ns == mtime
    # --holdout changed after the file was drawn: its queries may be in the folder's trained rows; refused, not reused
    with pytest.raises(TrainDataError, match="drawn with other settings than --holdout 50"):
        scifact._holdout(tmp_path, train_split, 50)
    path.write_text(json.dumps(held[:5]), encoding="utf-8")  # a file that is not this run's draw
    with pytest.raises(TrainDataError, match="holds 5 dev query id"):
        scifact._holdout(tmp_path, train_split, 40)


def _args(max_steps: int) -> argparse.Namespace:
    return argparse.Namespace(max_length=128, lr=1e-4, global_batch_size=16, max_steps=max_steps, eval_depth=20,
                              resume=False)  # fmt: skip


@pytest.mark.parametrize(("done_steps", "max_steps", "expect"), [(None, 10, "new"), (10, 10, "skip"), (6, 10, "extend")])
def test_training_step_trains_skips_or_extends(tmp_path, monkeypatch, done_steps, max_steps, expect):
    import train.fit
    import train.fit_config

    calls = []
    monkeypatch.setattr(train.fit, "fit", lambda cfg, show_progress=True: calls.append(cfg))
    out = tmp_path / "student"
    out.mkdir()
    if done_steps is not None:
        (out / train.fit_config.TRAIN_CONFIG).write_text(json.dumps({"global_step": done_steps}), encoding="utf-8")
    scifact._fit(_args(max_steps), tmp_path / "train.parquet", out, "backbone", tmp_path / "dev.json", show=False)
    if expect == "skip":
        assert calls == []
    else:
        (cfg,) = calls
        assert cfg.max_steps == max_steps and cfg.resume is (expect == "extend") and cfg.seed == scifact.SEED
        assert cfg.eval_split == "train" and cfg.eval_query_ids == str(tmp_path / "dev.json")
