"""What the Leaderboard and Explore tabs show, from the results store: the board and its tables, and the per-query view.

- :mod:`~demo.board.store` — :class:`~demo.board.store.BoardStore`: the leaderboard built from one results store, its
  filters, export and reload;
- :mod:`~demo.board.tables` — the leaderboard's tables as sortable styled frames (columns, headers, formats);
- :mod:`~demo.board.explore` — which queries a system helped or hurt against its baseline, and both rankings of one;
- :mod:`~demo.board.figures` — the Explore view's histogram of per-query NDCG@10 changes.

No Gradio here; the figures of the board itself are :mod:`eval.leaderboard.figures`.
"""

from __future__ import annotations

__all__ = ["explore", "figures", "store", "tables"]
