"""The leaderboard: the blog's published figures plus regenerated results, as tables and figures.

- :mod:`~eval.leaderboard.data` — the tables (published + regenerated frames, filters, CSV/JSON export); its public names
  are re-exported here, so ``from eval import leaderboard as lb; lb.build_leaderboard()`` works;
- :mod:`~eval.leaderboard.figures` — pure ``DataFrame -> plotly Figure`` functions (``from eval.leaderboard import figures``);
- :mod:`~eval.leaderboard.cli` — the ``leaderboard`` verb.
"""

from __future__ import annotations

from eval.leaderboard import data as _data
from eval.leaderboard.data import *  # noqa: F403 - the tables' public names, listed once in data.__all__

__all__ = [*_data.__all__, "figures"]
