"""The recipe's per-query candidate selection rules (pure functions, no I/O).

Stage 1 (``select_pool``): from up to 2048 first-stage candidates, keep **all positives**, the **top-16 hardest**
negatives (highest teacher score) and fill the pool to 256 with **quantile-anchor stratified** samples of the remaining
negatives: the teacher-score-sorted remainder is cut into equal-width rank strata (one per slot, the strata edges being
the quantile anchors) and one candidate is drawn from each stratum, so the pool covers the whole score distribution.

Stage 2 (``select_training``): from the pool, sorted by teacher score (best first), take the **head** (32) and sample
**medium negatives** (32) from an explicit rank band further down (``band_start <= rank < band_end`` of the sorted pool,
0-based, head excluded). Everything is deterministic given a seed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from ettin.cli import flag
from train.tables import TrainDataError

__all__ = [
    "SelectionConfig",
    "query_rng",
    "draw_holdout",
    "quantile_anchor_sample",
    "select_pool",
    "select_training",
]


@dataclass(frozen=True)
class SelectionConfig:
    """Numbers of the selection rules (the blog's defaults).

    Attributes:
        max_candidates: First-stage candidates considered per query (the first ones, in first-stage order).
        pool_size: Size of the stage-1 pool (positives + hard + anchors).
        hard: Hardest negatives (highest teacher score) always kept in the pool.
        head: Stage 2: the top ``head`` of the pool by teacher score.
        medium: Stage 2: medium negatives sampled from the band.
        band_start: Stage 2 band, first rank (0-based, in the teacher-sorted pool); must be >= ``head``.
        band_end: Stage 2 band, end rank (exclusive).
    """

    max_candidates: int = field(default=2048, metadata=flag("candidates considered per query"))
    pool_size: int = field(default=256, metadata=flag("stage-1 pool size per query"))
    hard: int = field(default=16, metadata=flag("hardest negatives always in the pool"))
    head: int = field(default=32, metadata=flag("stage 2: top of the teacher-sorted pool"))
    medium: int = field(default=32, metadata=flag("stage 2: medium negatives from the band"))
    band_start: int = field(default=64, metadata=flag("stage 2 band start rank, 0-based"))
    band_end: int = field(default=192, metadata=flag("stage 2 band end rank, exclusive"))

    def __post_init__(self):
        for name in ("max_candidates", "pool_size", "head"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("hard", "medium"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.hard > self.pool_size:
            raise ValueError(f"hard ({self.hard}) cannot exceed pool_size ({self.pool_size})")
        if self.band_start < self.head:
            raise ValueError(f"the band must start at or after the head: band_start {self.band_start} < head {self.head}")
        if self.band_end <= self.band_start:
            raise ValueError(f"empty band: band_end {self.band_end} <= band_start {self.band_start}")
        if self.medium > self.band_end - self.band_start:
            raise ValueError(f"medium ({self.medium}) exceeds the band width ({self.band_end - self.band_start})")

    def as_dict(self) -> dict[str, int]:
        """The numbers as a plain dict (recorded in manifests)."""
        return asdict(self)


def query_rng(seed: int, key: str) -> np.random.Generator:
    """A generator that depends only on ``seed`` and the query key (stable across processes and runs)."""
    digest = hashlib.sha256(f"{seed}\x00{key}".encode("utf-8", "surrogatepass")).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def draw_holdout(query_ids: Sequence[str], size: int, seed: int) -> list[str]:
    """The seeded hold-out draw: ``size`` of ``query_ids`` (sorted first), returned sorted.

    The same ``(query ids, size, seed)`` give the same draw in every process and run; ``python -m train data candidates
    --holdout`` and ``python -m train scifact`` both use it.

    Raises:
        TrainDataError: ``size`` leaves no training query.
    """
    qids = sorted(query_ids)
    if size >= len(qids):
        raise TrainDataError(f"--holdout {size} leaves no training queries (the split has {len(qids)})")
    return sorted(query_rng(seed, "holdout").choice(qids, size=size, replace=False).tolist())


def _sorted_by_score(indices: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Indices ordered by score descending, ties by index ascending (deterministic)."""
    if indices.size == 0:
        return indices
    order = np.lexsort((indices, -scores[indices]))
    return indices[order]


def quantile_anchor_sample(sorted_indices: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n`` items from a score-sorted list, one from each of ``n`` equal-width rank strata.

    The strata edges are the quantile anchors ``floor(k * len / n)``; with ``n >= len`` every item is returned.
    """
    m = sorted_indices.size
    if n <= 0 or m == 0:
        return sorted_indices[:0]
    if n >= m:
        return sorted_indices.copy()
    edges = (np.arange(n + 1) * m) // n  # strictly increasing because n < m
    picks = edges[:-1] + (rng.random(n) * (edges[1:] - edges[:-1])).astype(np.int64)
    return sorted_indices[picks]


def select_pool(
    scores: Sequence[float] | np.ndarray,
    positives: Sequence[bool] | np.ndarray,
    config: SelectionConfig = SelectionConfig(),
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Stage 1: indices (into the candidate list) of the pool, in teacher-score order (best first).

    Only the first ``config.max_candidates`` candidates are considered. All of their positives are kept even when
    there are more than ``pool_size`` of them; then the ``hard`` highest-scored negatives; then quantile-anchor samples of
    the other negatives until ``pool_size`` is reached.
    """
    scores = np.asarray(scores, dtype=np.float64)[: config.max_candidates]
    positives = np.asarray(positives, dtype=bool)[: config.max_candidates]
    if scores.shape != positives.shape:
        raise ValueError("scores and positives must have the same length")
    rng = rng or np.random.default_rng(0)
    idx = np.arange(scores.size)
    pos = idx[positives]
    neg = _sorted_by_score(idx[~positives], scores)
    room = max(0, config.pool_size - pos.size)
    hard = neg[: min(config.hard, room)]
    rest = neg[hard.size :]
    anchors = quantile_anchor_sample(rest, room - hard.size, rng)
    return _sorted_by_score(np.concatenate([pos, hard, anchors]), scores)


def select_training(
    pool_scores: Sequence[float] | np.ndarray,
    pool_positives: Sequence[bool] | np.ndarray,
    config: SelectionConfig = SelectionConfig(),
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Stage 2: (head indices, medium-negative indices) into the pool.

    The pool is sorted by teacher score; the head is its first ``head`` items; the medium negatives are ``medium``
    non-positive items drawn without replacement from ranks ``[band_start, band_end)`` (fewer when the band holds fewer).
    """
    scores = np.asarray(pool_scores, dtype=np.float64)
    positives = np.asarray(pool_positives, dtype=bool)
    if scores.shape != positives.shape:
        raise ValueError("scores and positives must have the same length")
    rng = rng or np.random.default_rng(0)
    ranked = _sorted_by_score(np.arange(scores.size), scores)
    head = ranked[: config.head]
    band = ranked[config.band_start : config.band_end]
    band = band[~positives[band]]
    k = min(config.medium, band.size)
    medium = np.sort(rng.choice(band, size=k, replace=False)) if k else band[:0]
    return head, medium
