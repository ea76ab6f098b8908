"""Rerank throughput measured live in this process, and the time estimates and bounds built on it."""

from __future__ import annotations

import threading

from demo.choices import RerankerChoice
from ettin import registry
from ettin.published import published

__all__ = ["ThroughputBook", "published_cpu_rate"]


def published_cpu_rate(size: str | None) -> float | None:
    """The blog's pairs/s for an Ettin size on its i7-13700K CPU (``None`` for an unknown size)."""
    return published().cpu_speed.rate(registry.RERANKERS[size].hub_id) if size else None


class ThroughputBook:
    """Pairs/s measured in this process, per reranker.

    Estimates for unmeasured sizes scale a measured one by the ratio of the blog's published CPU rates.
    """

    def __init__(self) -> None:
        self._rates: dict[str, float] = {}
        self._sizes: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def record(self, key: str, size: str | None, pairs: int, seconds: float) -> None:
        """Fold one timing into the rate of ``key`` (an even mean with the previous rate)."""
        if pairs <= 0 or seconds <= 0:
            return
        rate = pairs / seconds
        with self._lock:
            old = self._rates.get(key)
            self._rates[key] = rate if old is None else 0.5 * old + 0.5 * rate
            self._sizes[key] = size

    def rate(self, key: str) -> float | None:
        """Pairs/s measured for ``key``, or ``None`` before its first measurement."""
        with self._lock:
            return self._rates.get(key)

    def estimate(self, choice: RerankerChoice, n_pairs: int) -> tuple[float | None, str]:
        """Seconds to score ``n_pairs`` with ``choice`` on this machine, and how the estimate was made."""
        measured = self.rate(choice.key)
        if measured:
            return n_pairs / measured, f"measured here: {measured:,.1f} pairs/s"
        target = published_cpu_rate(choice.size)
        with self._lock:
            anchors = [(k, r, self._sizes.get(k)) for k, r in self._rates.items()]
        for key, rate, size in anchors:
            ref = published_cpu_rate(size)
            if target and ref:
                est = rate * target / ref
                return n_pairs / est, f"{est:,.1f} pairs/s, scaled from {key} measured here by the blog's CPU speed ratio"
        return None, "not measured on this machine yet"
