"""``python -m train scifact-reranker``: its checkpoints hold the adapter, so a killed run resumes with its weights."""

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
