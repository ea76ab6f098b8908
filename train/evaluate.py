"""Rerank a BEIR split's first-stage candidates with a teacher or a student and report NDCG@10 (:mod:`ettin.metrics`,
pytrec_eval, BEIR's way: relevant documents the first stage missed count as missed)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

    from ettin.corpus import BeirDataset

__all__ = ["Scorer", "rerank_run", "first_stage_run", "cross_encoder_scorer", "evaluate_scorers", "split_candidates"]

Scorer = Callable[[Sequence[tuple[str, str]]], np.ndarray]


def rerank_run(candidates: pa.Table, scorer: Scorer) -> tuple[dict[str, dict[str, float]], np.ndarray]:
    """Score every candidate row with ``scorer``; returns (run, scores)."""
    pairs = list(zip(candidates.column("query").to_pylist(), candidates.column("document").to_pylist()))
    scores = np.asarray(scorer(pairs), dtype=np.float64)
    run: dict[str, dict[str, float]] = {}
    for qid, did, s in zip(candidates.column("query_id").to_pylist(), candidates.column("doc_id").to_pylist(), scores):
        run.setdefault(qid, {})[did] = float(s)
    return run, scores


def first_stage_run(candidates: pa.Table) -> dict[str, dict[str, float]]:
    """The candidates in their first-stage (interleaved) order, as a run."""
    run: dict[str, dict[str, float]] = {}
    for qid, did, rank in zip(
        candidates.column("query_id").to_pylist(),
        candidates.column("doc_id").to_pylist(),
        candidates.column("first_stage_rank").to_pylist(),
    ):
        run.setdefault(qid, {})[did] = -float(rank)
    return run


def cross_encoder_scorer(model: Any, batch_size: int = 32, show_progress: bool = True) -> Scorer:
    """A :data:`Scorer` over a ``CrossEncoder``'s ``predict`` (inference mode, one score per pair)."""
    import torch

    def score(pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        with torch.inference_mode():
            return np.asarray(
                model.predict(list(pairs), batch_size=batch_size, show_progress_bar=show_progress, convert_to_numpy=True)
            ).reshape(-1)

    return score


def evaluate_scorers(dataset: BeirDataset, candidates: pa.Table, scorers: dict[str, Scorer]) -> dict[str, float]:
    """Mean NDCG@10 of the first stage and of each scorer reranking the same candidates.

    Every judged query counts (one the candidates miss scores 0), as :func:`ettin.metrics.evaluate_run` defines it; a
    dataset named after an mteb task that sets ``ignore_identical_ids`` (ArguAna, FiQA2018 …) drops a document whose id
    equals the query id, as mteb does (:func:`ettin.metrics.identical_ids_rule`).
    """
    from ettin.metrics import MAIN_METRIC, evaluate_run, identical_ids_rule

    ignore = identical_ids_rule(dataset.name).ignore
    out = {"first_stage": evaluate_run(dataset.qrels, first_stage_run(candidates), ignore)[MAIN_METRIC]}
    for name, scorer in scorers.items():
        run, _ = rerank_run(candidates, scorer)
        out[name] = evaluate_run(dataset.qrels, run, ignore)[MAIN_METRIC]
    return out


def split_candidates(
    dataset: BeirDataset, first_stages: Sequence[str], depth: int, cache_file: Path, show_progress: bool = True
) -> tuple[pa.Table, str]:
    """The evaluation candidates of a split (the first stages interleaved, top ``depth``; built once into ``cache_file``).

    ``python -m train scifact`` and ``python -m train fit --labels --test-split`` both evaluate on these, so the same
    first stages and depth give the same candidates.

    Returns:
        ``(candidates, SHA-256 of the cache file)``.
    """
    from ettin.io import sha256_file
    from train.data.candidates import build_candidates
    from train.tables import read_table, write_parquet_atomic

    if not cache_file.is_file():
        write_parquet_atomic(build_candidates(dataset, list(first_stages), depth=depth, show_progress=show_progress), cache_file)
    return read_table(cache_file), sha256_file(cache_file)
