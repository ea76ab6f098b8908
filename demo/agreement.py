"""How much two rerankers agree on the same candidates: top-k overlap and Kendall's tau-b."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["kendall_tau", "overlap_at_k"]


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
