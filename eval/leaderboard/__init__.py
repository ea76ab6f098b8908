"""The leaderboard: the blog's published figures plus regenerated results, as tables and figures.

- :mod:`~eval.leaderboard.columns` — the tables' columns and the cells every row fills the same way (family, size,
  parameters, system and scope names);
- :mod:`~eval.leaderboard.published` — the post's figures as tables (quality, embedders, speed, ablation);
- :mod:`~eval.leaderboard.regenerated` — the results store's retrieval and speed files as rows (random-init refused,
  replica speed labelled), and regenerated quality averaged over first stages;
- :mod:`~eval.leaderboard.board` — the whole leaderboard: built, ranked, filtered and written as CSV/JSON;
- :mod:`~eval.leaderboard.stats` — bootstrap intervals, paired tests, Holm, rank ranges (scipy underneath);
- :mod:`~eval.leaderboard.uncertainty` — those statistics as leaderboard frames (comparisons, ranks, gains);
- :mod:`~eval.leaderboard.figures` — pure ``DataFrame -> plotly Figure`` functions (``from eval.leaderboard import figures``);
- :mod:`~eval.leaderboard.cli` — the ``leaderboard`` verb.

The public names of columns, published, regenerated and board (listed once, below) are re-exported here lazily, so
``from eval import leaderboard as lb; lb.build_leaderboard()`` works and importing the package (or the CLI) imports
neither pandas nor plotly.
"""

from __future__ import annotations

from ettin.lazy import lazy_exports

_COLUMNS = (  # columns.__all__
    "ABLATION_COLUMNS",
    "EMBEDDER_COLUMNS",
    "QUALITY_COLUMNS",
    "SPEED_COLUMNS",
    "ettin_size",
    "family",
    "format_params",
    "scope_name",
    "system_name",
)
_PUBLISHED = (  # published.__all__
    "ABLATION_CONFIGS",
    "NO_INTERVAL_PUBLISHED",
    "PUBLISHED_BENCHMARKS",
    "PUBLISHED_HARDWARE",
    "published_ablation",
    "published_embedders",
    "published_quality",
    "published_speed",
)
_REGENERATED = (  # regenerated.__all__
    "NO_INTERVAL_V1",
    "REPLICA_LABEL",
    "ReadReport",
    "read_retrieval_results",
    "read_speed_results",
    "regenerated_quality",
    "retrieval_command",
)
_BOARD = (  # board.__all__
    "DEFAULT_RESULTS_DIR",
    "MAIN_FAMILIES",
    "OTHERS",
    "Leaderboard",
    "build_leaderboard",
    "filter_frame",
    "frame_to_json",
    "ranked",
    "write_tables",
)

__all__ = [*_COLUMNS, *_PUBLISHED, *_REGENERATED, *_BOARD, "figures", "stats", "uncertainty"]

__getattr__ = lazy_exports(
    __name__,
    {
        **dict.fromkeys(_COLUMNS, "eval.leaderboard.columns"),
        **dict.fromkeys(_PUBLISHED, "eval.leaderboard.published"),
        **dict.fromkeys(_REGENERATED, "eval.leaderboard.regenerated"),
        **dict.fromkeys(_BOARD, "eval.leaderboard.board"),
        "board": "eval.leaderboard.board",
        "columns": "eval.leaderboard.columns",
        "figures": "eval.leaderboard.figures",
        "published": "eval.leaderboard.published",
        "regenerated": "eval.leaderboard.regenerated",
        "stats": "eval.leaderboard.stats",
        "uncertainty": "eval.leaderboard.uncertainty",
    },
)
