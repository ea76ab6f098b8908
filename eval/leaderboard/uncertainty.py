"""The leaderboard's uncertainty as frames: pairwise comparisons of systems, rank ranges, and rerankers' gains.

Systems are compared within a *scope* (one dataset split, or one quality benchmark) on the queries they share. The
expensive part — a paired bootstrap interval and a paired t-test p-value per pair — is done once, in
:func:`comparisons_frame`. :func:`with_ranks` then takes any selection of rows (the filters' result), Holm-corrects the
p-values of the pairs *among those rows* and gives each row its rank range, the systems it is tied with, and (for a
reranked row) its gain over its first stage. Rows without per-query scores (the blog's published figures, schema-1
files) are ranked by their mean alone, against every other row (:func:`eval.leaderboard.stats.rank_ranges`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from eval.leaderboard.stats import Comparison, StatsSettings, bootstrap_interval, compare_systems, holm, rank_ranges

__all__ = [
    "COMPARISON_COLUMNS",
    "GAIN_COLUMNS",
    "RANK_COLUMNS",
    "comparisons_frame",
    "interval_of",
    "mean_per_query",
    "tied_groups",
    "with_ranks",
]

COMPARISON_COLUMNS = ["scope", "a", "b", "n_queries", "difference", "low", "high", "p_value", "p_holm", "significant"]
RANK_COLUMNS = ["rank", "rank_best", "rank_worst", "tied_with"]
GAIN_COLUMNS = ["gain", "gain_low", "gain_high", "gain_p_holm"]

PerQuery = Mapping[str, float]


def comparisons_frame(
    per_query: Mapping[tuple[str, str], PerQuery],
    settings: StatsSettings = StatsSettings(),
    groups: Mapping[tuple[str, str], Hashable] | None = None,
) -> pd.DataFrame:
    """Every pair of systems of each scope, tested on the queries those two share (``p_holm`` over the scope's pairs).

    Args:
        per_query: (scope, system) -> query id -> score.
        settings: Resamples, seed, confidence, alpha.
        groups: (scope, system) -> group; when given, only systems of one group are tested against each other (rows
            averaged over different first stages are not: their difference would mix the rerankers and the first stages).
    """
    scopes: dict[str, dict[str, PerQuery]] = {}
    for (scope, system), scores in per_query.items():
        scopes.setdefault(scope, {})[system] = scores
    rows = []
    for scope, systems in scopes.items():
        if len(systems) < 2:
            continue
        scope_groups = None if groups is None else {system: groups.get((scope, system)) for system in systems}
        comparisons, _ = compare_systems(systems, settings, scope_groups)
        rows += [{"scope": scope, **c.__dict__} for c in comparisons]
    return pd.DataFrame.from_records(rows, columns=COMPARISON_COLUMNS)


def mean_per_query(runs: list[PerQuery]) -> dict[str, float]:
    """Per query, the mean of several systems' scores over the queries they all have."""
    common = set.intersection(*(set(r) for r in runs)) if runs else set()
    return {q: float(np.mean([r[q] for r in runs])) for q in sorted(common)}


def _holm_within(comparisons: pd.DataFrame, systems: set[str], alpha: float) -> list[Comparison]:
    """The comparisons between ``systems``, Holm-corrected among themselves."""
    shown = comparisons[comparisons["a"].isin(systems) & comparisons["b"].isin(systems)]
    adjusted = holm(shown["p_value"].tolist()) if len(shown) else []
    return [
        Comparison(r.a, r.b, int(r.n_queries), r.difference, r.low, r.high, r.p_value, p, p < alpha)
        for r, p in zip(shown.itertuples(), adjusted)
    ]


def _ordinal(g: pd.DataFrame) -> pd.DataFrame:
    """Ranks by mean only (ties of equal means share the best rank)."""
    best = g["ndcg10"].rank(method="min", ascending=False)
    worst = g["ndcg10"].rank(method="max", ascending=False)
    return pd.DataFrame(
        {"rank_best": best.astype("Int64"), "rank_worst": worst.astype("Int64"), "tied_with": ""}, index=g.index
    )


def _ranged(g: pd.DataFrame, system_col: str, tests: list[Comparison]) -> pd.DataFrame:
    """Rank ranges from the paired tests among the rows, and from the means for every pair no test covers."""
    means = dict(zip(g[system_col], g["ndcg10"]))
    ranks = {r.name: r for r in rank_ranges(means, tests)}
    out = pd.DataFrame(index=g.index, columns=["rank_best", "rank_worst", "tied_with"])
    for idx, name in zip(g.index, g[system_col]):
        r = ranks[name]
        out.loc[idx] = [r.best_rank, r.worst_rank, ", ".join(r.tied_with)]
    return out.astype({"rank_best": "Int64", "rank_worst": "Int64"})


def _gains(g: pd.DataFrame, system_col: str, tests: list[Comparison]) -> pd.DataFrame:
    """Each reranked row's paired gain over the row of its first stage alone (when that row is shown)."""
    by_pair = {(c.a, c.b): c for c in tests}
    out = pd.DataFrame(np.nan, index=g.index, columns=GAIN_COLUMNS)
    if "reranker" not in g:
        return out
    for idx, r in g.iterrows():
        if not isinstance(r["reranker"], str):
            continue
        system, base = r[system_col], r["first_stage"]
        c = by_pair.get((system, base)) or by_pair.get((base, system))
        if c is None:
            continue
        sign = 1.0 if c.a == system else -1.0
        low, high = sorted((sign * c.low, sign * c.high))
        out.loc[idx] = [sign * c.difference, low, high, c.p_holm]
    return out


def with_ranks(df: pd.DataFrame, comparisons: pd.DataFrame, scope_col: str, system_col: str, alpha: float = 0.05) -> pd.DataFrame:
    """``df`` with rank (``"2–4"``), rank_best, rank_worst, tied_with and, where it applies, the gain columns.

    Args:
        df: Rows of one or more scopes (e.g. a filtered ``embedders`` or ``quality`` frame) with ``ndcg10``.
        comparisons: :func:`comparisons_frame`'s table.
        scope_col: The column naming the scope (``dataset`` + split, or ``benchmark``).
        system_col: The column naming the system, as in ``comparisons``.
        alpha: Significance level after Holm's correction over the pairs among the rows of a scope.
    """
    out = df.copy()
    for col in [*RANK_COLUMNS, *GAIN_COLUMNS]:
        out[col] = pd.Series(dtype="object" if col in ("rank", "tied_with") else "float64")
    if out.empty:
        return out
    parts, gains = [], []
    for scope, g in out.groupby(scope_col, sort=False):
        mine = comparisons[comparisons["scope"] == scope] if len(comparisons) else comparisons
        tests = _holm_within(mine, set(g[system_col]), alpha) if len(mine) else []
        parts.append(_ranged(g, system_col, tests) if tests else _ordinal(g))
        gains.append(_gains(g, system_col, tests))
    ranks = pd.concat(parts)
    out["rank_best"], out["rank_worst"], out["tied_with"] = ranks["rank_best"], ranks["rank_worst"], ranks["tied_with"]
    out["rank"] = [
        "" if pd.isna(b) else (str(int(b)) if b == w else f"{int(b)}–{int(w)}") for b, w in zip(out["rank_best"], out["rank_worst"])
    ]
    out[GAIN_COLUMNS] = pd.concat(gains)[GAIN_COLUMNS]
    return out


def tied_groups(ranked: pd.DataFrame, scope_col: str, system_col: str) -> dict[str, list[list[str]]]:
    """Per scope, the groups of systems sharing one rank range (only groups of two or more), best first."""
    out: dict[str, list[list[str]]] = {}
    for scope, g in ranked.groupby(scope_col, sort=False):
        groups = g.sort_values("ndcg10", ascending=False).groupby("rank", sort=False)[system_col].apply(list)
        found = [names for rank, names in groups.items() if len(names) > 1 and "–" in str(rank)]
        if found:
            out[str(scope)] = found
    return out


def interval_of(values: list[float], settings: StatsSettings = StatsSettings()) -> dict[str, Any]:
    """The bootstrap interval of a mean, as ``{"mean", "low", "high"}``."""
    return bootstrap_interval(values, settings).as_dict()
