"""The leaderboard: published plus regenerated tables, ranked with intervals, filtered and written as CSV and JSON.

Every pair of regenerated systems of one scope is tested once, on the queries those two share
(``Leaderboard.comparisons``; regenerated quality rows only against rows averaged over the same first stages), and
:func:`ranked` gives any selection of rows its rank ranges ("2–4"), ties and rerankers' gains over their first stage
(Holm-corrected over the pairs shown; pairs without a test are ordered by their means; see
:mod:`eval.leaderboard.uncertainty`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from eval.leaderboard import _BOARD
from eval.leaderboard.columns import (
    ABLATION_COLUMNS,
    EMBEDDER_COLUMNS,
    QUALITY_COLUMNS,
    SPEED_COLUMNS,
    _registry_params,
    scope_name,
    system_name,
)
from eval.leaderboard.published import published_ablation, published_embedders, published_quality, published_speed
from eval.leaderboard.regenerated import read_retrieval_results, read_speed_results, regenerated_quality
from eval.leaderboard.stats import StatsSettings
from eval.leaderboard.uncertainty import COMPARISON_COLUMNS, comparisons_frame, tied_groups, with_ranks
from eval.retrieval.store import DEFAULT_RESULTS_DIR

__all__ = list(_BOARD)  # the public names, listed once in eval/leaderboard/__init__.py

MAIN_FAMILIES = ("Ettin", "teacher")
OTHERS = "others"


@dataclass
class Leaderboard:
    """All tables the app and the CLI show.

    ``comparisons`` holds one row per pair of regenerated systems tested on the queries both have (scope, a, b, mean
    difference a − b with its paired interval, raw and Holm-adjusted p-values); ``statistics`` how they were computed.
    """

    quality: pd.DataFrame
    embedders: pd.DataFrame
    speed: pd.DataFrame
    ablation: pd.DataFrame
    notes: list[str]
    refused_random_init: int
    errors: list[str]
    comparisons: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=COMPARISON_COLUMNS))
    statistics: dict[str, Any] = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        """Table name -> frame, in the order they are printed and written."""
        return {
            "quality": self.quality,
            "embedders": self.embedders,
            "speed": self.speed,
            "ablation": self.ablation,
            "comparisons": self.comparisons,
        }

    def tied_groups(self) -> dict[str, list[list[str]]]:
        """Scope -> groups of regenerated systems no test separates (each group shares one rank range)."""
        regen = self.embedders[self.embedders["source"] == "regenerated"]
        quality = self.quality[self.quality["source"] == "regenerated"]
        return {**tied_groups(regen, "scope", "system"), **tied_groups(quality, "benchmark", "model")}


def _concat(frames: Iterable[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    """The non-empty ``frames`` stacked, in ``columns`` (an empty frame with them when all are empty)."""
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=list(columns))
    return pd.concat(frames, ignore_index=True)[list(columns)]


def ranked(df: pd.DataFrame, comparisons: pd.DataFrame, alpha: float = StatsSettings().alpha) -> pd.DataFrame:
    """A quality or embedders frame (typically after :func:`filter_frame`) with its rank ranges, ties and gains.

    Holm's correction runs over the pairs among the rows given, so a selection is ranked by the comparisons it shows.
    """
    if "benchmark" in df:
        return with_ranks(df, comparisons, "benchmark", "model", alpha)
    return with_ranks(df, comparisons, "scope", "system", alpha)


def build_leaderboard(results_dir: str | Path | None = None, settings: StatsSettings = StatsSettings()) -> Leaderboard:
    """Published tables plus whatever the results store holds (absent folders are fine), ranked with intervals."""
    root = Path(results_dir) if results_dir is not None else DEFAULT_RESULTS_DIR
    retr, r_report = read_retrieval_results(root)
    speed, ablation, s_report = read_speed_results(root)
    embedders = _registry_params(_concat([published_embedders(), retr], EMBEDDER_COLUMNS))
    regen_quality, averaged, first_stages = regenerated_quality(embedders, r_report.per_query, settings)
    quality = _registry_params(_concat([published_quality(), regen_quality], QUALITY_COLUMNS))
    by_system = {
        (scope_name(ds, split), system_name(fs, rr)): scores for (ds, split, fs, rr), scores in r_report.per_query.items()
    }
    comparisons = _concat(
        [comparisons_frame(by_system, settings), comparisons_frame(averaged, settings, groups=first_stages)],
        COMPARISON_COLUMNS,
    )
    notes = []
    if r_report.refused_random_init:
        notes.append(
            f"{r_report.refused_random_init} regenerated quality result(s) refused: made with random-weight replicas "
            "(random_init: true), whose scores are meaningless"
        )
    if retr.empty:
        notes.append("no regenerated retrieval results yet: quality numbers are the blog's published ones")
    if speed.empty:
        notes.append("no regenerated speed results yet: speed numbers are the blog's published ones")
    errors = r_report.errors + s_report.errors
    if errors:
        notes.append(f"{len(errors)} result file(s) could not be read and were skipped: " + "; ".join(e[:200] for e in errors[:5])
                     + ("; …" if len(errors) > 5 else ""))  # fmt: skip
    return Leaderboard(
        quality=ranked(quality, comparisons, settings.alpha),
        embedders=ranked(embedders, comparisons, settings.alpha),
        speed=_registry_params(_concat([published_speed(), speed], SPEED_COLUMNS)),
        ablation=_registry_params(_concat([published_ablation(), ablation], ABLATION_COLUMNS)),
        notes=notes,
        refused_random_init=r_report.refused_random_init,
        errors=errors,
        comparisons=comparisons,
        statistics=settings.as_provenance(),
    )


def filter_frame(
    df: pd.DataFrame,
    families: Sequence[str] | None = None,
    min_params: float | None = None,
    max_params: float | None = None,
    hardware: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Rows whose family, parameter count, hardware and source pass the filters (``None`` = no filter).

    ``families`` may contain :data:`OTHERS`, which stands for every family other than ``Ettin`` and ``teacher``. In a frame
    of (first stage, reranker) rows, the first stages alone stay whatever the families: they are the rerankers' baselines.
    """
    mask = pd.Series(True, index=df.index)
    if families is not None and "family" in df:
        fam = mask & df["family"].isin(list(families))
        if OTHERS in families:
            fam |= ~df["family"].isin(MAIN_FAMILIES)
        if "reranker" in df:
            fam |= df["reranker"].isna()  # a first stage alone is every reranked row's baseline: always kept
        mask &= fam
    if "params" in df:
        params = pd.to_numeric(df["params"], errors="coerce")
        if min_params is not None:
            mask &= params.isna() | (params >= min_params)
        if max_params is not None:
            mask &= params.isna() | (params <= max_params)
    if hardware is not None and "hardware" in df:
        mask &= df["hardware"].isin(list(hardware))
    if sources is not None and "source" in df:
        mask &= df["source"].isin(list(sources))
    return df[mask].reset_index(drop=True)


def write_tables(board: Leaderboard, out_dir: str | Path) -> list[Path]:
    """Write every table as CSV and JSON (records) into ``out_dir``; returns the files written."""
    from ettin.io import atomic_open

    out = Path(out_dir)
    written = []
    for name, df in board.tables().items():
        csv_path, json_path = out / f"{name}.csv", out / f"{name}.json"
        with atomic_open(csv_path) as f:
            df.to_csv(f, index=False)
        with atomic_open(json_path) as f:
            f.write(frame_to_json(df))
        written += [csv_path, json_path]
    return written


def frame_to_json(df: pd.DataFrame) -> str:
    """Records JSON with NaN as null."""
    return df.to_json(orient="records", indent=1, force_ascii=False)
