"""A model trained here from relevance labels is offered with the label its own folder's metadata gives it."""

from __future__ import annotations

import json
from pathlib import Path

from demo.sources.choices import RANDOM_BADGE, discover_rerankers


def _model_folder(root: Path, name: str, metadata: dict | None) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    if metadata is not None:
        (folder / "ettin_metadata.json").write_text(json.dumps(metadata))
    return folder


def _trained_here(**extra) -> dict:
    return {
        "random_init": False,
        "trained": True,
        "recipe": "fine-tuned from relevance labels (python -m train fit --labels)",
        "trained_here": {"dataset": "scifact", "split": "train", "test_split": "test", "test_ndcg@10": 0.7012, **extra},
    }


def test_label_comes_from_the_folders_metadata_not_its_name(tmp_path):
    _model_folder(tmp_path, "my-reranker", _trained_here())
    _model_folder(tmp_path, "scifact-labels", None)  # the name alone says nothing
    _model_folder(tmp_path, "noisy", {**_trained_here(), "random_init": True, "replica_of": "cross-encoder/ettin-reranker-17m-v1"})
    choices = {c.key: c for c in discover_rerankers(tmp_path, include_hub=False)}
    trained = choices["my-reranker"]
    assert trained.label == "my-reranker — trained here on SciFact train (test NDCG@10 0.701)"
    assert not trained.random_init and RANDOM_BADGE not in trained.label
    assert "trained here" not in choices["scifact-labels"].label
    noisy = choices["noisy"]
    assert noisy.random_init and RANDOM_BADGE in noisy.label and "trained here" not in noisy.label


def test_other_datasets_and_runs_without_a_test_evaluation(tmp_path):
    meta = _trained_here()
    meta["trained_here"] = {"dataset": "my-beir", "split": "dev"}
    _model_folder(tmp_path, "m", meta)
    (choice,) = discover_rerankers(tmp_path, include_hub=False)
    assert choice.label == "m — trained here on my-beir dev"


def _safetensors(path: Path, shapes: dict[str, list[int]]) -> None:
    header = json.dumps({name: {"dtype": "F32", "shape": shape, "data_offsets": [0, 0]} for name, shape in shapes.items()})
    path.write_bytes(len(header).to_bytes(8, "little") + header.encode())


def test_a_model_without_a_parameter_count_is_counted_from_its_weights_and_sorted_by_it(tmp_path):
    big = _model_folder(tmp_path, "a-big", _trained_here())
    _safetensors(big / "model.safetensors", {"w": [1000, 30]})
    (big / "modules.json").write_text(json.dumps([{"path": ""}, {"path": "2_Dense"}]))
    (big / "2_Dense").mkdir()
    _safetensors(big / "2_Dense" / "model.safetensors", {"linear.weight": [10, 10]})
    small = _model_folder(tmp_path, "b-small", _trained_here())
    _safetensors(small / "model.safetensors", {"w": [7, 3], "b": [3]})
    broken = _model_folder(tmp_path, "c-broken", _trained_here())
    (broken / "model.safetensors").write_bytes(b"\xff" * 12)
    choices = discover_rerankers(tmp_path, include_hub=False)
    assert [(c.key, c.parameters) for c in choices] == [("c-broken", None), ("b-small", 24), ("a-big", 30_100)]
