"""A LoRA adapter reranker: saved small, merged once into a CrossEncoder folder that scores like the trained model."""

from __future__ import annotations

import json

import pytest

from ettin.adapter import (
    ADAPTER_WEIGHTS,
    HEAD_WEIGHTS,
    AdapterError,
    attach_lora,
    merged_folder,
    publish_adapter,
    read_adapter_metadata,
    save_adapter,
)
from ettin.registry import MINILM_ID

PAIRS = [("what causes scurvy", "Scurvy is caused by a lack of vitamin C."), ("what causes scurvy", "BM25 ranks documents.")]


@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    import torch

    from ettin.architecture import build_reranker
    from ettin.packaged import packaged_path

    torch.manual_seed(0)
    model = attach_lora(build_reranker(str(packaged_path(MINILM_ID)), max_length=32, pooling="mean"), rank=4, alpha=8)
    with torch.no_grad():  # a trained adapter is not zero: move every LoRA B matrix off its zero start
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.02)
    model.eval()
    scores = model.predict(PAIRS)
    folder = tmp_path_factory.mktemp("adapter") / "tiny-adapter"
    save_adapter(model, folder, base_encoder=MINILM_ID, metadata={"random_init": False, "trained_here": {"dataset": "test"}})
    return folder, scores


def test_the_merged_folder_scores_like_the_trained_model_and_is_built_once(adapter, tmp_path):
    from sentence_transformers import CrossEncoder

    folder, scores = adapter
    merged = merged_folder(folder, tmp_path / "merged")
    again = merged_folder(folder, tmp_path / "merged")
    assert again == merged
    reloaded = CrossEncoder(str(merged)).predict(PAIRS)
    assert abs(float(reloaded[0]) - float(scores[0])) < 2e-2 and abs(float(reloaded[1]) - float(scores[1])) < 2e-2
    meta = json.loads((merged / "ettin_metadata.json").read_text())
    assert meta["merged_from_adapter"] == meta["weights_sha256"] and meta["random_init"] is False
    assert meta["pooling"] == "mean" and meta["base_encoder"] == MINILM_ID


def test_the_adapter_stays_small_and_names_its_base_by_id_not_by_path(adapter):
    folder, _ = adapter
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == MINILM_ID
    assert (folder / ADAPTER_WEIGHTS).stat().st_size < 5_000_000


def test_weights_that_differ_from_the_card_are_refused_with_the_fix(adapter, tmp_path):
    import shutil

    folder, _ = adapter
    copy = tmp_path / "changed"
    shutil.copytree(folder, copy)
    data = bytearray((copy / HEAD_WEIGHTS).read_bytes())
    data[-1] ^= 0xFF
    (copy / HEAD_WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(AdapterError, match="differs from its card.*python -m train scifact-reranker"):
        read_adapter_metadata(copy)


@pytest.mark.parametrize("damage", ["missing-weights", "bad-metadata"])
def test_an_incomplete_or_unreadable_adapter_gives_one_clear_error(adapter, tmp_path, damage):
    import shutil

    from ettin.runtime.sources import ModelLoadError, resolve_model

    folder, _ = adapter
    copy = tmp_path / "broken"
    shutil.copytree(folder, copy)
    if damage == "missing-weights":
        (copy / ADAPTER_WEIGHTS).unlink()
    else:
        (copy / "ettin_metadata.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelLoadError, match="incomplete|unreadable"):
        resolve_model(str(copy), kind="reranker")


def test_a_local_adapter_folder_resolves_to_its_merged_cross_encoder(adapter, monkeypatch, tmp_path):
    from ettin.runtime.sources import resolve_model

    monkeypatch.setenv("ETTIN_CACHE", str(tmp_path))
    folder, _ = adapter
    source = resolve_model(str(folder), kind="reranker")
    assert source.is_local and (tmp_path / "merged") in __import__("pathlib").Path(source.name_or_path).parents
    assert not source.random_init


def test_the_hash_is_checked_once_per_file_state_not_per_request(adapter, monkeypatch, tmp_path):
    import shutil

    import ettin.adapter

    folder, _ = adapter
    copy = tmp_path / "hashed-once"
    shutil.copytree(folder, copy)
    calls = []
    real = ettin.adapter.adapter_sha256
    monkeypatch.setattr(ettin.adapter, "adapter_sha256", lambda f: calls.append(f) or real(f))
    read_adapter_metadata(copy)
    read_adapter_metadata(copy)
    assert len(calls) == 1
    data = bytearray((copy / HEAD_WEIGHTS).read_bytes())
    data[-1] ^= 0xFF
    (copy / HEAD_WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(AdapterError, match="differs from its card"):
        read_adapter_metadata(copy)  # a changed file is checked again


def test_publishing_a_trained_adapter_keeps_its_weights_and_hash_and_takes_the_new_card(adapter, tmp_path):
    folder, _ = adapter
    before = read_adapter_metadata(folder)
    shipped = tmp_path / "shipped"
    (shipped).mkdir()
    (shipped / "stale.txt").write_text("from an older run")
    digest = publish_adapter(folder, shipped, metadata={"random_init": False, "id": "x"}, card="# new card\n")
    meta = read_adapter_metadata(shipped)
    assert digest == before["weights_sha256"] == meta["weights_sha256"] and meta["id"] == "x"
    assert meta["pooling"] == before["pooling"] and meta["max_length"] == before["max_length"]
    assert (shipped / "README.md").read_text() == "# new card\n" and not (shipped / "stale.txt").exists()
    (tmp_path / "broken").mkdir()
    with pytest.raises(AdapterError, match="incomplete"):
        publish_adapter(tmp_path / "broken", tmp_path / "out", metadata={}, card="")
    assert not (tmp_path / "out").exists()
