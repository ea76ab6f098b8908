"""Uncertainty of per-query results: bootstrap intervals, paired t-tests, Holm, tied rank ranges.

Intervals resample *queries* (the unit a retrieval benchmark samples) and are seeded, so the same per-query scores always
give the same numbers. The statistics are scipy's (:func:`scipy.stats.bootstrap`, :func:`scipy.stats.ttest_rel`); only
Holm's step-down correction (which scipy lacks: ``false_discovery_control`` is Benjamini-Hochberg) and the rank ranges
are written here.

Why a paired t-test rather than a randomization test: it is exact to any p-value in milliseconds, while a randomization
test with 10,000 resamples costs about half a second per pair here and cannot go below p = 1/10,001 — too coarse once
Holm multiplies the smallest p-value by the number of pairs (a store of 16 systems has 120). Urbano, Lima & Hanjalic
(SIGIR 2019) found the t-test among the best-behaved tests for IR evaluation.

- :func:`bootstrap_interval` — a percentile bootstrap interval of a mean (one system's NDCG@10, or the per-query
  differences of two systems: the paired interval of a gain);
- :func:`paired_test` — a two-sided paired t-test of the mean difference;
- :func:`holm` — Holm-adjusted p-values;
- :func:`compare_systems` — every pair of systems tested on the queries *those two* share, Holm-corrected together, and
  each system's rank range ("2–4": the ranks it could hold given which differences are significant).

Rank ranges: a pair with a paired test is separated when the Holm-adjusted p-value is below alpha (the better mean on
the shared queries wins) and tied otherwise. A pair with no paired test — a row without per-query scores (the blog's
published figures, schema-1 files), two systems sharing fewer than two queries, or two rows :func:`compare_systems` was
told not to test against each other (``groups``) — is ordered by its two means alone: the higher mean is ranked above,
and only equal means tie.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

import numpy as np

__all__ = [
    "ALPHA",
    "Comparison",
    "Interval",
    "StatsSettings",
    "SystemRank",
    "bootstrap_interval",
    "compare_systems",
    "format_rank",
    "holm",
    "paired_test",
    "rank_ranges",
]

ALPHA = 0.05


@dataclass(frozen=True)
class StatsSettings:
    """How intervals and tests are computed; recorded in the provenance of every number they produce."""

    n_resamples: int = 10_000
    seed: int = 0
    confidence_level: float = 0.95
    alpha: float = ALPHA
    bootstrap_method: str = "percentile"
    test: str = "paired t-test of the mean difference (scipy.stats.ttest_rel), two-sided"
    correction: str = "Holm"

    def as_provenance(self) -> dict[str, Any]:
        """The settings as a JSON-able dict (``resampling: queries``)."""
        return {**asdict(self), "resampling": "queries", "library": _scipy_version()}

    def interval_provenance(self) -> dict[str, Any]:
        """Only what a bootstrap interval depends on (what a results-store record holds)."""
        keep = ("n_resamples", "seed", "confidence_level", "bootstrap_method", "resampling", "library")
        return {k: v for k, v in self.as_provenance().items() if k in keep}


def _scipy_version() -> str:
    import scipy

    return f"scipy {scipy.__version__}"


@dataclass(frozen=True)
class Interval:
    """A mean and its bootstrap interval."""

    mean: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "low": self.low, "high": self.high}


def bootstrap_interval(values: Sequence[float] | np.ndarray, settings: StatsSettings = StatsSettings()) -> Interval:
    """The mean of ``values`` and its percentile bootstrap interval (queries resampled with replacement).

    For a paired gain pass the per-query differences (system minus baseline): resampling them resamples query pairs.

    Raises:
        ValueError: no values.
    """
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("no per-query values to bootstrap")
    mean = float(data.mean())
    if data.size == 1 or np.all(data == data[0]):
        return Interval(mean, mean, mean)  # every resample has the same mean (scipy warns and returns NaN here)
    from scipy.stats import bootstrap

    res = bootstrap(
        (data,), np.mean, n_resamples=settings.n_resamples, confidence_level=settings.confidence_level,
        method=settings.bootstrap_method, vectorized=True, rng=np.random.default_rng(settings.seed),
    )  # fmt: skip
    return Interval(mean, float(res.confidence_interval.low), float(res.confidence_interval.high))


def paired_test(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Two-sided p-value of a paired t-test: is the mean of ``a - b`` different from 0?

    Identical systems (every difference 0) give p = 1; a constant non-zero difference gives p = 0.

    Raises:
        ValueError: ``a`` and ``b`` differ in length or hold fewer than two queries.
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.size < 2:
        raise ValueError("a paired test needs two equally long score lists of at least two queries")
    d = x - y
    if np.all(d == d[0]):
        return 1.0 if d[0] == 0 else 0.0  # no spread: t is 0 or infinite (scipy returns NaN)
    from scipy.stats import ttest_rel

    return float(ttest_rel(x, y, alternative="two-sided").pvalue)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (monotone, capped at 1), in the order given."""
    p = np.asarray(p_values, dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for step, idx in enumerate(order):
        running = max(running, min(1.0, (m - step) * p[idx]))
        adjusted[idx] = running
    return adjusted.tolist()


@dataclass(frozen=True)
class Comparison:
    """One pair of systems on the ``n_queries`` queries both have: mean difference ``a - b``, its paired interval, p-values."""

    a: str
    b: str
    n_queries: int
    difference: float
    low: float
    high: float
    p_value: float
    p_holm: float
    significant: bool


@dataclass(frozen=True)
class SystemRank:
    """A system's mean, its rank range among the compared systems, and the systems it is tied with."""

    name: str
    mean: float
    best_rank: int
    worst_rank: int
    tied_with: tuple[str, ...]

    @property
    def rank(self) -> str:
        return format_rank(self.best_rank, self.worst_rank)


def format_rank(best: int, worst: int) -> str:
    """``"3"`` or ``"2–4"``."""
    return str(best) if best == worst else f"{best}–{worst}"


def rank_ranges(means: Mapping[str, float], comparisons: Sequence[Comparison]) -> list[SystemRank]:
    """Each system's rank range, best mean first.

    A system's best rank is 1 + the number of systems above it; its worst rank is the number of systems minus the number
    below it. With a paired test, "above" means significantly better; without one (see the module docstring), a higher
    mean. Systems neither above nor below each other are tied and share ranks ("2–4"). Comparisons of systems that are
    not in ``means`` are ignored.
    """
    names = list(means)
    tests = {frozenset((c.a, c.b)): c for c in comparisons if c.a in means and c.b in means}
    above = {n: 0 for n in names}
    below = {n: 0 for n in names}
    tied: dict[str, list[str]] = {n: [] for n in names}
    for a, b in combinations(names, 2):
        c = tests.get(frozenset((a, b)))
        if c is not None:
            winner = None if not c.significant else (c.a if c.difference > 0 else c.b)
        else:
            winner = None if means[a] == means[b] else (a if means[a] > means[b] else b)
        if winner is None:
            tied[a].append(b)
            tied[b].append(a)
            continue
        loser = b if winner == a else a
        above[loser] += 1
        below[winner] += 1
    n = len(names)
    order = sorted(names, key=lambda name: -means[name])
    return [SystemRank(name, float(means[name]), 1 + above[name], n - below[name], tuple(tied[name])) for name in order]


def _testable_pairs(
    per_query: Mapping[str, Mapping[str, float]], groups: Mapping[str, Hashable] | None
) -> list[tuple[str, str, list[str]]]:
    """(a, b, the query ids both have) of every pair that can be tested: two shared queries or more, the same group."""
    names = list(per_query)
    out = []
    for a, b in combinations(names, 2):
        if groups is not None and groups.get(a) != groups.get(b):
            continue
        shared = sorted(set(per_query[a]) & set(per_query[b]))
        if len(shared) >= 2:
            out.append((a, b, shared))
    return out


def compare_systems(
    per_query: Mapping[str, Mapping[str, float]],
    settings: StatsSettings = StatsSettings(),
    groups: Mapping[str, Hashable] | None = None,
) -> tuple[list[Comparison], list[SystemRank]]:
    """Test every pair of systems on the queries those two share, Holm-correct across the pairs tested, and rank them.

    Args:
        per_query: System name -> query id -> score (e.g. NDCG@10).
        settings: Resamples, seed, confidence and alpha.
        groups: System name -> group; when given, only systems of the same group are tested against each other (e.g.
            rerankers averaged over the same first stages). A pair left untested is ranked by its means alone.

    Returns:
        (one :class:`Comparison` per pair tested — pairs sharing fewer than two queries are not —, the systems'
        :class:`SystemRank` s best first, each system's mean taken over all its own queries). With one system, no
        comparison and rank 1.
    """
    raw = []
    for a, b, shared in _testable_pairs(per_query, groups):
        x = np.array([float(per_query[a][q]) for q in shared])
        y = np.array([float(per_query[b][q]) for q in shared])
        raw.append((a, b, len(shared), bootstrap_interval(x - y, settings), paired_test(x, y)))
    adjusted = holm([r[4] for r in raw])
    comparisons = [
        Comparison(a, b, n, interval.mean, interval.low, interval.high, p, p_adj, p_adj < settings.alpha)
        for (a, b, n, interval, p), p_adj in zip(raw, adjusted)
    ]
    means = {name: float(np.mean([float(v) for v in scores.values()])) for name, scores in per_query.items() if scores}
    return comparisons, rank_ranges(means, comparisons)
