"""The leaderboard's columns, and the cells every table fills the same way: family, size, parameters, system names.

Published and regenerated rows of one table share its column list (``QUALITY_COLUMNS`` and so on); every row carries
``source`` (``published`` or ``regenerated``) and ``provenance`` (a short human-readable string shown on hover).
"""

from __future__ import annotations

import math
from typing import Any

from ettin import registry
from ettin.published import published
from eval.leaderboard import _COLUMNS
from eval.leaderboard.uncertainty import GAIN_COLUMNS, RANK_COLUMNS

__all__ = list(_COLUMNS)  # the public names, listed once in eval/leaderboard/__init__.py

QUALITY_COLUMNS = [
    "benchmark", "model", "family", "size", "params", "ndcg10", "ndcg10_low", "ndcg10_high", *RANK_COLUMNS, "source",
    "interval", "note", "provenance",
]  # fmt: skip
EMBEDDER_COLUMNS = [
    "dataset", "split", "scope", "system", "first_stage", "reranker", "family", "size", "params", "ndcg10", "ndcg10_low",
    "ndcg10_high", *RANK_COLUMNS, *GAIN_COLUMNS, "mrr10", "recall100", "n_queries", "source", "interval", "provenance",
    "command",
]  # fmt: skip
SPEED_COLUMNS = [
    "hardware", "model", "family", "size", "params", "pairs_per_s", "config", "batch_size", "source", "label", "provenance",
]  # fmt: skip
ABLATION_COLUMNS = ["hardware", "size", "family", "params", "config", "pairs_per_s", "peak_gb", "source", "label", "provenance"]


def family(model_id: str | None) -> str:
    """``Ettin``, ``teacher``, ``trained here`` (a reranker the project trained and ships, or its fused system),
    ``retriever only`` or the Hub organisation."""
    if not model_id:
        return "retriever only"
    if model_id.split(" + ")[0] in registry.TRAINED_RERANKERS:
        return "trained here"
    if "ettin-reranker" in model_id:
        return "Ettin"
    if model_id == registry.TEACHER_ID:
        return "teacher"
    return model_id.split("/")[0] if "/" in model_id else model_id


def ettin_size(model_id: str | None) -> str | None:
    """The registry size of an Ettin reranker (``17m`` …), ``None`` for any other model or none."""
    if not model_id:
        return None
    try:
        return registry.reranker(model_id).size
    except KeyError:
        return None


def system_name(first_stage: str, reranker: str | None) -> str:
    """How a (first stage, reranker) system is named in tables and comparisons: ``bm25`` or ``bm25 » 17m-model``."""
    return first_stage if not reranker else f"{first_stage} » {reranker}"


def scope_name(dataset: str, split: str) -> str:
    """The scope regenerated systems are compared in: ``scifact/test``."""
    return f"{dataset}/{split}"


def _size_params(size: str | None) -> float:
    """An Ettin size's parameter count: the registry's exact count, head included (NaN for no size).

    The post prints rounded counts that disagree between its tables (401.0M and 401.6M for 400m); every table here shows
    the registry's one count per model instead.
    """
    meta = registry.RERANKERS.get(size) if size else None
    return math.nan if meta is None else float(meta.total_parameters)


def _registry_params(df: Any) -> Any:
    """``df`` with the ``params`` of every Ettin row (one whose ``size`` is a registry size) set to the registry's."""
    if "size" not in df or "params" not in df or df.empty:
        return df
    exact = df["size"].map(lambda s: _size_params(s) if isinstance(s, str) else math.nan)
    out = df.copy()
    out["params"] = exact.where(exact.notna(), out["params"]).astype(float)
    return out


def format_params(params: Any) -> str:
    """``17.6M`` below a billion, ``1.00B`` from a billion up, ``""`` when unknown."""
    try:
        n = float(params)
    except (TypeError, ValueError):
        return ""
    if math.isnan(n):
        return ""
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.1f}M"


def _params(model_id: str) -> float:
    """A model's parameter count: the registry's for an Ettin reranker, else as the post prints it (NaN when it prints
    none)."""
    size = ettin_size(model_id)
    if size is not None:
        return _size_params(size)
    params = published().params(model_id)
    return math.nan if params is None else float(params)
