"""The model side of a ``fit`` run: the student (Ettin head on a backbone, or a CrossEncoder), its precision, the evaluator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from train.beir import load_beir_spec
from train.tables import TrainDataError, read_query_ids

if TYPE_CHECKING:
    from train.fit_config import FitConfig

__all__ = [
    "is_cross_encoder_folder",
    "build_student",
    "precision",
    "seeded_student",
    "drop_unused_pooler",
    "build_evaluator",
    "metric_key",
]


def is_cross_encoder_folder(path: str) -> bool:
    """Whether ``path`` is a saved CrossEncoder (continued as is) rather than a bare encoder (which gets the Ettin head)."""
    p = Path(path)
    if not (p / "modules.json").is_file():
        return False
    try:
        modules = json.loads((p / "modules.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return any("Dense" in m.get("type", "") for m in modules) and (p / "config_sentence_transformers.json").is_file() and (
        "cross" in (p / "config_sentence_transformers.json").read_text(encoding="utf-8").lower()
        or (p / "ettin_metadata.json").is_file()
    )


def build_student(backbone: str, size: str, max_length: int | None, model_kwargs: dict[str, Any] | None = None):
    """The student: an existing CrossEncoder folder as is, ``replica`` (a random Ettin replica of ``size``), or the Ettin
    head on an encoder (Hub id or folder)."""
    from ettin.architecture import build_reranker

    if backbone == "replica":
        from ettin.paths import cache_dir
        from ettin.replica import build_replica

        backbone = str(build_replica(size, cache_dir() / "replicas" / size, seed=0))
    elif Path(backbone).expanduser().is_dir():
        backbone = str(Path(backbone).expanduser().resolve())
    try:
        if is_cross_encoder_folder(backbone):
            from sentence_transformers import CrossEncoder

            return CrossEncoder(backbone, max_length=max_length, model_kwargs=model_kwargs)
        return build_reranker(backbone, max_length=max_length, model_kwargs=model_kwargs)
    except Exception as exc:  # noqa: BLE001 - one clear message for every loading failure
        raise TrainDataError(
            f"cannot load the backbone {backbone!r}: {type(exc).__name__}: {str(exc)[:300]} — offline, give a local "
            "encoder folder with --backbone (e.g. the packaged MiniLM) or --backbone replica"
        ) from None


def build_evaluator(cfg: FitConfig):
    """The in-training evaluator: ``nanobeir`` (online), a local BEIR dataset (``scifact`` or a folder), or ``None``.

    Raises:
        TrainDataError: NanoBEIR cannot be loaded, or ``cfg.eval_query_ids`` names queries the split lacks.
    """
    if cfg.eval_data in ("", "none"):
        return None
    if cfg.eval_data == "nanobeir":
        from eval.retrieval.nanobeir import build_nanobeir_evaluator

        try:
            return build_nanobeir_evaluator(rerank_k=cfg.eval_top_k, batch_size=cfg.eval_batch_size)
        except RuntimeError as exc:
            raise TrainDataError(str(exc)) from None
    from ettin.metrics import identical_ids_rule
    from eval.retrieval.nanobeir import build_reranking_evaluator

    dataset = load_beir_spec(cfg.eval_data, cfg.eval_split)
    identical = identical_ids_rule(dataset.name).ignore  # before the dev restriction renames the dataset
    if cfg.eval_query_ids:
        keep = read_query_ids(cfg.eval_query_ids)
        unknown = [q for q in keep if q not in dataset.queries]
        if unknown:
            raise TrainDataError(f"{cfg.eval_query_ids}: {len(unknown)} query id(s) not in {cfg.eval_data}/{cfg.eval_split}")
        dataset = dataset.restrict(keep, f"{dataset.name}-dev")
    return build_reranking_evaluator(
        dataset,
        first_stage=cfg.eval_first_stage,
        top_k=cfg.eval_top_k,
        max_queries=cfg.eval_max_queries,
        batch_size=cfg.eval_batch_size,
        ignore_identical_ids=identical,
    )


def metric_key(evaluator) -> str:
    """The trainer's name for the evaluator's primary metric (``eval_<name>_ndcg@10``)."""
    primary = evaluator.primary_metric
    name = getattr(evaluator, "name", "")
    if name and not primary.startswith(name):
        primary = f"{name}_{primary}"
    return f"eval_{primary}"


def precision(cfg: FitConfig) -> tuple[bool, dict[str, Any]]:
    """(train in bf16, the student's ``model_kwargs``): bf16 and FlashAttention-2 only on a GPU that has them.

    Raises:
        TrainDataError: ``--bf16 on`` without a CUDA GPU.
    """
    import torch

    from ettin.runtime import flash_attention_available

    cuda = torch.cuda.is_available()
    use_bf16 = cuda and torch.cuda.is_bf16_supported() if cfg.bf16 == "auto" else cfg.bf16 == "on"
    if use_bf16 and not cuda:
        raise TrainDataError("--bf16 on needs a CUDA GPU with bf16 support")
    model_kwargs: dict[str, Any] = {}
    if cuda and flash_attention_available():
        model_kwargs["attn_implementation"] = "flash_attention_2"
    return use_bf16, model_kwargs


def seeded_student(cfg: FitConfig, recipe: dict[str, Any], model_kwargs: dict[str, Any], world_size: int):
    """The student, its head initialised from the run's seed, with its model card filled in."""
    import transformers

    transformers.set_seed(recipe["seed"])  # the head's initialisation is part of the run
    student = build_student(recipe["backbone"], recipe["size"], cfg.max_length, model_kwargs or None)
    if world_size > 1:
        drop_unused_pooler(student)
    student.model_card_data.local_files_only = True
    student.model_card_data.model_name = f"Ettin-recipe student ({recipe['size']} recipe) on {recipe['backbone']}"
    student.model_card_data.train_datasets = [{"name": Path(cfg.train).name if cfg.train else f"{cfg.labels} ({cfg.split} qrels)"}]
    return student


def drop_unused_pooler(model) -> None:
    """Remove a BERT-style pooler: the Ettin head pools the CLS token itself, so the pooler never gets a gradient, and
    DDP (which runs with ``find_unused_parameters=False``) requires every parameter to take part."""
    inner = getattr(model, "transformers_model", None) or getattr(model[0], "auto_model", None)
    if inner is not None and getattr(inner, "pooler", None) is not None:
        inner.pooler = None
