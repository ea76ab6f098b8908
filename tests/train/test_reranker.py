"""``python -m train scifact-reranker``: its checkpoints hold the adapter, so a killed run resumes with its weights; a
changed recipe trains in a folder of its own; the time estimate is measured here; the shipped copy keeps the weights'
hash and takes the run's card."""

from __future__ import annotations

import pytest

from train.reranker import Recipe, _student, _trainer_class


def test_a_checkpoint_restores_the_adapter_and_head_into_a_fresh_student(tmp_path):
    import torch
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    recipe = Recipe(max_length=16, lora_rank=4, lora_alpha=8)
    trained = _student(recipe)
    with torch.no_grad():
        for name, param in trained.named_parameters():
            if param.requires_grad:
                param.add_(0.05 * torch.randn_like(param))
    pairs = [("vitamin c scurvy", "Scurvy comes from too little vitamin C."), ("vitamin c scurvy", "Unrelated text.")]
    rows = Dataset.from_dict({"query": [p[0] for p in pairs], "document": [p[1] for p in pairs], "label": [1.0, 0.0]})
    args = CrossEncoderTrainingArguments(output_dir=str(tmp_path / "ckpt"), report_to="none", use_cpu=True)
    trainer_class = _trainer_class()
    trainer_class(model=trained, args=args, train_dataset=rows, loss=BinaryCrossEntropyLoss(trained))._save(str(tmp_path / "c"))
    assert (tmp_path / "c" / "adapter_model.safetensors").is_file() and (tmp_path / "c" / "head.safetensors").is_file()

    fresh = _student(recipe)
    assert not torch.allclose(torch.tensor(fresh.predict(pairs)), torch.tensor(trained.predict(pairs)), atol=1e-3)
    trainer_class(model=fresh, args=args, train_dataset=rows, loss=BinaryCrossEntropyLoss(fresh))._load_from_checkpoint(str(tmp_path / "c"))
    assert fresh.predict(pairs) == pytest.approx(trained.predict(pairs), abs=2e-2)  # the adapter is stored in fp16


def test_the_verb_is_registered_with_its_flags(capsys):
    from train.__main__ import main

    with pytest.raises(SystemExit):
        main(["scifact-reranker", "--help"])
    out = capsys.readouterr().out
    assert "--skip-test" in out and "--epochs" in out and "LoRA" in out


def test_a_changed_training_setting_names_a_new_run_folder_and_a_dev_only_setting_does_not():
    base = Recipe()
    assert Recipe().digest() == base.digest()
    assert Recipe(learning_rate=1e-4).digest() != base.digest() and Recipe(negatives=15).digest() != base.digest()
    assert Recipe(fuse_weights=(0.5,), dev_depth=30).digest() == base.digest()  # chosen after training: same weights


def test_the_estimate_multiplies_what_was_timed_here_by_the_runs_counts():
    from train.estimate import Estimate

    est = Estimate(step_s=2.0, pairs_per_s=50.0, steps=100, pairs={"dev": 1000, "test": 5000})
    assert est.seconds() == {"train_s": 200.0, "dev_s": 20.0, "test_s": 100.0, "total_s": 320.0}
    assert "training 100 steps x 2.00 s" in est.summary() and "about 5 min in all" in est.summary()


def test_a_training_step_is_timed_without_changing_the_weights():
    import torch
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    from train.estimate import time_training_step

    model = _student(Recipe(max_length=16, lora_rank=4, lora_alpha=8))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rows = [("vitamin c scurvy", "Scurvy comes from too little vitamin C.", 1.0), ("vitamin c scurvy", "Unrelated.", 0.0)]
    assert time_training_step(model, BinaryCrossEntropyLoss(model), rows, bf16=False) > 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_a_resumed_runs_report_keeps_what_each_earlier_invocation_measured(tmp_path):
    import json
    from dataclasses import replace

    from train.reranker import earlier_invocations, run_report

    report_file = tmp_path / "report.json"
    assert earlier_invocations(report_file, Recipe()) == []  # a fresh work folder
    report_file.write_text("{not json", encoding="utf-8")
    assert earlier_invocations(report_file, Recipe()) == []

    first = run_report(Recipe(), {"fuse_weight": 0.7}, None, {"train_s": 100.0, "dev_s": 10.0}, (1.0, 1.0, 1.0))
    report_file.write_text(json.dumps(first), encoding="utf-8")
    assert earlier_invocations(report_file, replace(Recipe(), epochs=9.0)) == []  # another recipe's report
    earlier = earlier_invocations(report_file, Recipe())
    assert [e["timings_s"] for e in earlier] == [{"train_s": 100.0, "dev_s": 10.0}] and earlier[0]["tested"] is False

    second = run_report(Recipe(), {"fuse_weight": 0.7}, {"bm25": {"ndcg_at_10": 0.7}}, {"test_s": 50.0}, (2.0, 2.0, 2.0),
                        earlier)  # fmt: skip
    report_file.write_text(json.dumps(second), encoding="utf-8")
    chain = earlier_invocations(report_file, Recipe())
    assert [e["timings_s"] for e in chain] == [{"train_s": 100.0, "dev_s": 10.0}, {"test_s": 50.0}]
    assert [e["tested"] for e in chain] == [False, True]
    assert chain[1]["machine_load_1_5_15min"]["start"] == [2.0, 2.0, 2.0]
