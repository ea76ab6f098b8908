"""An offline teacher stronger than either first stage: BM25 and a dense embedder fused by score, per query.

For a query, the *pool* is the union of each first stage's top ``depth`` documents (what the trained reranker will
rerank). Each stage's scores are z-scored over the pool (mean 0, standard deviation 1) and averaged — the score-fusion
counterpart of the hybrid first stage (:mod:`ettin.hybrid`, which fuses ranks and so gives no score to a document
outside both top lists) — then scaled to [0, 1] within the pool, so a soft target mixes with a 0/1 label on one scale.

:func:`mine_distilled_rows` turns it into training rows: every judged-relevant document plus seeded negatives drawn
from the pool, each with the target ``(1 - w) * label + w * teacher``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ettin.fusion import zscore
from train.tables import TrainDataError

if TYPE_CHECKING:
    import pyarrow as pa

    from ettin.corpus import BeirDataset

__all__ = ["DistillConfig", "StageScores", "mine_distilled_rows", "stage_scores", "teacher_pool"]


@dataclass(frozen=True)
class DistillConfig:
    """How the rows are drawn (recorded in the model card; a changed setting re-mines)."""

    first_stages: tuple[str, ...]
    depth: int = 100
    negatives: int = 7
    distill_weight: float = 0.5
    seed: int = 12

    def check(self) -> None:
        """Raise :class:`TrainDataError` on settings that cannot give rows."""
        if len(self.first_stages) < 1:
            raise TrainDataError("give at least one first stage for the teacher")
        if self.depth < 1 or self.negatives < 1:
            raise TrainDataError("the pool depth and the negatives per query must be at least 1")
        if not 0.0 <= self.distill_weight <= 1.0:
            raise TrainDataError(f"the teacher's weight must be between 0 and 1, not {self.distill_weight}")


@dataclass
class StageScores:
    """Each first stage's score of every document for each query: ``scores[stage][row of query] -> (n_docs,)``."""

    query_ids: list[str]
    scores: dict[str, np.ndarray]

    def row(self, query_id: str) -> list[np.ndarray]:
        """The stages' score arrays of one query."""
        i = self.query_ids.index(query_id)
        return [matrix[i] for matrix in self.scores.values()]


def stage_scores(dataset: BeirDataset, query_ids: Sequence[str], first_stages: Sequence[str]) -> StageScores:
    """Whole-corpus scores of ``first_stages`` (``bm25`` or a dense embedder, :func:`ettin.pipeline.make_first_stage`)."""
    from ettin.pipeline import make_first_stage

    texts = [dataset.queries[q] for q in query_ids]
    out: dict[str, np.ndarray] = {}
    for spec in first_stages:
        stage = make_first_stage(spec, dataset.corpus)
        if not hasattr(stage, "scores"):
            raise TrainDataError(f"{spec!r} gives ranks, not scores: the teacher fuses bm25 and dense embedders")
        out[spec] = np.stack([np.asarray(s, dtype=np.float32) for s in stage.scores(texts)])
    return StageScores(list(query_ids), out)


def teacher_pool(rows: Sequence[np.ndarray], depth: int) -> tuple[np.ndarray, np.ndarray]:
    """(document indices of the pool, ascending; the teacher's score of each in [0, 1]) for one query.

    Args:
        rows: Each first stage's scores of every document for the query. From a stage whose scores are never negative
            (BM25's), only documents it scores above 0 enter the pool: its top list is not padded with non-matches.
        depth: Documents taken from the top of each stage.
    """
    tops = []
    for scores in rows:
        top = np.argsort(-scores, kind="stable")[:depth]
        tops.append(top[scores[top] > 0] if (scores >= 0).all() else top)
    pool = np.array(sorted(set(np.concatenate(tops).tolist())), dtype=np.int64)
    fused = np.mean([zscore(scores[pool]) for scores in rows], axis=0)
    lo, hi = fused.min(), fused.max()
    return pool, (fused - lo) / (hi - lo) if hi > lo else np.full(len(pool), 0.5)


def _query_rows(dataset: BeirDataset, qid: str, rows: Sequence[np.ndarray], cfg: DistillConfig) -> list[tuple[int, float, bool]]:
    """(document index, target, is positive) of one query: its relevant documents, then its negatives."""
    from train.selection import query_rng

    ids = dataset.corpus.ids
    position = {d: i for i, d in enumerate(ids)}
    judged = dataset.qrels.get(qid, {})
    pool, teacher = teacher_pool(rows, cfg.depth)
    of = dict(zip(pool.tolist(), teacher.tolist()))
    w = cfg.distill_weight
    positives = sorted(position[d] for d, g in judged.items() if g > 0 and d in position)
    window = [int(i) for i in pool[np.argsort(-teacher, kind="stable")] if ids[i] not in judged]
    take = min(cfg.negatives, len(window))
    drawn = sorted(query_rng(cfg.seed, qid).choice(len(window), size=take, replace=False)) if take else []
    out = [(i, (1 - w) + w * of.get(i, 1.0), True) for i in positives]
    return out + [(window[j], w * of[window[j]], False) for j in drawn]


def mine_distilled_rows(dataset: BeirDataset, query_ids: Sequence[str], cfg: DistillConfig) -> pa.Table:
    """Training rows of ``query_ids`` (those with a relevant document): ``query_id, query, doc_id, document, label,
    teacher_target, is_positive``, grouped by query, positives first; ``label`` is the mixed target the loss trains on.

    Raises:
        TrainDataError: bad settings, or no query with a relevant document.
    """
    import pyarrow as pa

    cfg.check()
    qids = [q for q in sorted(query_ids) if any(g > 0 for g in dataset.qrels.get(q, {}).values())]
    if not qids:
        raise TrainDataError(f"{dataset.name}/{dataset.split}: none of the queries has a relevant document in the qrels")
    scores = stage_scores(dataset, qids, cfg.first_stages)
    cols: dict[str, list] = {k: [] for k in ("query_id", "query", "doc_id", "document", "label", "is_positive")}
    for qid in qids:
        for i, target, positive in _query_rows(dataset, qid, scores.row(qid), cfg):
            cols["query_id"].append(qid)
            cols["query"].append(dataset.queries[qid])
            cols["doc_id"].append(dataset.corpus.ids[i])
            cols["document"].append(dataset.corpus.document_text(i))
            cols["label"].append(target)
            cols["is_positive"].append(positive)
    return pa.table({
        **{k: pa.array(cols[k], type=pa.string()) for k in ("query_id", "query", "doc_id", "document")},
        "label": pa.array(cols["label"], type=pa.float32()),
        "is_positive": pa.array(cols["is_positive"], type=pa.bool_()),
    })  # fmt: skip
