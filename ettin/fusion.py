"""Score fusion of a reranker with the first stage it reranks: a *fused system*, never reported as the reranker alone.

Per query, the two score lists over the same candidates are z-scored (mean 0, standard deviation 1; a constant list
becomes all 0) and combined as ``w * z(reranker) + (1 - w) * z(first stage)``; ``w`` is chosen on a dev hold-out. It is
the convex-combination fusion that hybrid search stacks use for score fusion, applied to the two stages.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["fused_name", "zscore", "zscore_fuse"]


def zscore(values: np.ndarray) -> np.ndarray:
    """``(x - mean) / std`` over one query's candidates (all 0 when they are all equal)."""
    x = np.asarray(values, dtype=np.float64)
    std = x.std()
    return (x - x.mean()) / std if std > 0 else np.zeros_like(x)


def zscore_fuse(first_stage: Mapping[str, float], reranker: Mapping[str, float], weight: float) -> dict[str, float]:
    """One query's fused scores over the documents both stages scored.

    Args:
        first_stage: Document id -> first-stage score.
        reranker: Document id -> reranker score (the same candidates).
        weight: The reranker's weight ``w`` in [0, 1].

    Raises:
        ValueError: ``weight`` outside [0, 1].
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"the fusion weight must be between 0 and 1, not {weight}")
    docs = [d for d in reranker if d in first_stage]
    if not docs:
        return {}
    fused = weight * zscore([reranker[d] for d in docs]) + (1.0 - weight) * zscore([first_stage[d] for d in docs])
    return {d: float(s) for d, s in zip(docs, fused)}


def fused_name(reranker: str, weight: float) -> str:
    """The fused system's own name: ``<reranker> + first stage (z, w=0.5)``."""
    return f"{reranker} + first stage (z, w={weight:g})"
