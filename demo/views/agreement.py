"""How much two rerankers agree on the same candidates: top-k overlap and Kendall's tau-b."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["agreement", "kendall_tau", "overlap_at_k"]


def overlap_at_k(a: Sequence[str], b: Sequence[str], k: int = 5) -> float:
    """Fraction of the top ``k`` of ``a`` that is also in the top ``k`` of ``b`` (NaN when ``a`` is empty).

    Raises:
        ValueError: ``k`` below 1.
    """
    if k < 1:
        raise ValueError("k must be positive")
    top_a, top_b = list(a)[:k], set(list(b)[:k])
    if not top_a:
        return float("nan")
    return len([x for x in top_a if x in top_b]) / min(k, len(top_a))


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b between two score lists over the same items (NaN when either is constant or fewer than 2 items).

    Raises:
        ValueError: lists of different lengths.
    """
    n = len(x)
    if n != len(y):
        raise ValueError("x and y must have the same length")
    concordant = discordant = ties_x = ties_y = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    denom = ((concordant + discordant + ties_x) * (concordant + discordant + ties_y)) ** 0.5
    return float("nan") if denom == 0 else (concordant - discordant) / denom


def agreement(
    top: Sequence[str], scores: Mapping[str, float], ref_top: Sequence[str], ref_scores: Mapping[str, float], k: int = 5
) -> tuple[float, float]:
    """How much one ranking agrees with a reference over the same items: overlap of the top ``k`` and Kendall's tau-b of
    the scores of the items both scored.

    Args:
        top: Item ids, best first.
        scores: Item id -> score.
        ref_top: The reference's item ids, best first.
        ref_scores: The reference's item id -> score.
        k: Depth of the overlap.

    Returns:
        ``(overlap_at_k, kendall_tau)``, NaN where undefined.
    """
    shared = [d for d in top if d in scores and d in ref_scores]
    return overlap_at_k(top, ref_top, k), kendall_tau([scores[d] for d in shared], [ref_scores[d] for d in shared])
