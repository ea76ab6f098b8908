"""The leaderboard: the blog's published figures plus regenerated results, as tables and figures.

- :mod:`~eval.leaderboard.data` — the tables (published + regenerated frames, filters, CSV/JSON export); its public names
  (listed once, below) are re-exported here lazily, so ``from eval import leaderboard as lb;
  lb.build_leaderboard()`` works and importing the package (or the CLI) imports neither pandas nor plotly;
- :mod:`~eval.leaderboard.stats` — bootstrap intervals, paired tests, Holm, rank ranges (scipy underneath);
- :mod:`~eval.leaderboard.uncertainty` — those statistics as leaderboard frames (comparisons, ranks, gains);
- :mod:`~eval.leaderboard.figures` — pure ``DataFrame -> plotly Figure`` functions (``from eval.leaderboard import figures``);
- :mod:`~eval.leaderboard.cli` — the ``leaderboard`` verb.
"""

from __future__ import annotations

from ettin.lazy import lazy_exports

_DATA = (  # data.__all__
    "ABLATION_COLUMNS",
    "ABLATION_CONFIGS",
    "DEFAULT_RESULTS_DIR",
    "EMBEDDER_COLUMNS",
    "MAIN_FAMILIES",
    "NO_INTERVAL_PUBLISHED",
    "NO_INTERVAL_V1",
    "OTHERS",
    "PUBLISHED_BENCHMARKS",
    "PUBLISHED_HARDWARE",
    "QUALITY_COLUMNS",
    "REPLICA_LABEL",
    "SPEED_COLUMNS",
    "Leaderboard",
    "ReadReport",
    "build_leaderboard",
    "ettin_size",
    "family",
    "filter_frame",
    "format_params",
    "frame_to_json",
    "published_ablation",
    "published_embedders",
    "published_quality",
    "published_speed",
    "ranked",
    "read_retrieval_results",
    "read_speed_results",
    "regenerated_quality",
    "retrieval_command",
    "scope_name",
    "system_name",
    "write_tables",
)

__all__ = [*_DATA, "figures", "stats", "uncertainty"]

__getattr__ = lazy_exports(
    __name__,
    {
        **dict.fromkeys(_DATA, "eval.leaderboard.data"),
        "figures": "eval.leaderboard.figures",
        "stats": "eval.leaderboard.stats",
        "uncertainty": "eval.leaderboard.uncertainty",
    },
)
