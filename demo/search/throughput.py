"""Rerank throughput measured live in this process, per reranker and per number of pairs, and the time estimates and
bounds built on it (with a prior from the blog's CPU rates before anything was measured)."""

from __future__ import annotations

import os
import threading

from demo.sources.choices import RerankerChoice
from ettin import registry
from ettin.published import published

__all__ = ["BLOG_CPU_CORES", "ThroughputBook", "published_cpu_rate"]

BLOG_CPU_CORES = 16  # the blog's i7-13700K: 8 performance + 8 efficiency cores


def published_cpu_rate(size: str | None) -> float | None:
    """The blog's pairs/s for an Ettin size on its i7-13700K CPU (``None`` for an unknown size)."""
    return published().cpu_speed.rate(registry.RERANKERS[size].hub_id) if size else None


class ThroughputBook:
    """Pairs/s measured in this process, per reranker and per number of pairs scored at once.

    Throughput depends on how many pairs are scored together (small batches pay a fixed cost), so each reranker keeps a
    rate per number of pairs; an estimate uses the rate measured at the nearest number. Estimates for unmeasured sizes
    scale a measured one by the ratio of the blog's published CPU rates.
    """

    def __init__(self) -> None:
        self._rates: dict[str, dict[int, float]] = {}
        self._sizes: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def record(self, key: str, size: str | None, pairs: int, seconds: float) -> None:
        """Fold one timing into the rate of ``key`` at ``pairs`` pairs (an even mean with the previous one there)."""
        if pairs <= 0 or seconds <= 0:
            return
        rate = pairs / seconds
        with self._lock:
            by_pairs = self._rates.setdefault(key, {})
            old = by_pairs.get(pairs)
            by_pairs[pairs] = rate if old is None else 0.5 * old + 0.5 * rate
            self._sizes[key] = size

    def _nearest(self, key: str, n_pairs: int) -> tuple[int, float] | None:
        with self._lock:
            by_pairs = dict(self._rates.get(key, {}))
        if not by_pairs:
            return None
        pairs = min(by_pairs, key=lambda p: (abs(p - n_pairs), -p))
        return pairs, by_pairs[pairs]

    def rate(self, key: str, n_pairs: int | None = None) -> float | None:
        """Pairs/s measured for ``key`` at the nearest number of pairs (default: the most measured at once), or
        ``None`` before its first measurement."""
        found = self._nearest(key, n_pairs if n_pairs is not None else 1 << 30)
        return found[1] if found else None

    def estimate(self, choice: RerankerChoice, n_pairs: int) -> tuple[float | None, str]:
        """Seconds to score ``n_pairs`` with ``choice`` on this machine, and how the estimate was made (``None``
        before any reranker was measured here)."""
        found = self._nearest(choice.key, n_pairs)
        if found:
            pairs, measured = found
            return n_pairs / measured, f"measured here: {measured:,.1f} pairs/s at {pairs} pairs"
        target = published_cpu_rate(choice.size)
        with self._lock:
            anchors = [(k, self._sizes.get(k)) for k in self._rates]
        for key, size in anchors:
            ref = published_cpu_rate(size)
            rate = self.rate(key, n_pairs)
            if target and ref and rate:
                est = rate * target / ref
                return n_pairs / est, f"{est:,.1f} pairs/s, scaled from {key} measured here by the blog's CPU speed ratio"
        return None, "not measured on this machine yet"

    def prior(self, choice: RerankerChoice, n_pairs: int, cores: int | None = None) -> tuple[float | None, str]:
        """Before any measurement: the blog's CPU rate for the size scaled by this machine's cores (``None`` for a
        model of unknown size)."""
        rate = published_cpu_rate(choice.size)
        if not rate:
            return None, "no published rate for this model"
        cores = cores or os.cpu_count() or 1
        est = rate * min(cores, BLOG_CPU_CORES) / BLOG_CPU_CORES
        return n_pairs / est, (f"a prior: the blog's {rate:g} pairs/s on a {BLOG_CPU_CORES}-core i7-13700K scaled to "
                               f"this machine's {cores} cores")
