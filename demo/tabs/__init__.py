"""The Gradio layer: one module per tab, each with a ``build`` function that lays out its tab and wires its handlers,
and the guard every handler shares. The only part of :mod:`demo` that imports ``gradio``.

- :mod:`~demo.tabs.search` — query, corpus (sample or the user's documents), first stage, reranker, results;
- :mod:`~demo.tabs.compare` — every chosen size on one query, with agreement;
- :mod:`~demo.tabs.leaderboard` — published and regenerated numbers, intervals, tied ranks, filters, figures, export;
- :mod:`~demo.tabs.explore` — one regenerated result query by query: wins, ties, losses, rankings before and after;
- :mod:`~demo.tabs.reproduce` — the command behind every figure;
- :mod:`~demo.tabs.guard` — user errors become one clean line in the UI, and the per-session Stop flags.

``build`` must be called inside ``gr.Blocks`` and ``gr.Tabs`` contexts.
"""

from __future__ import annotations

__all__ = ["compare", "explore", "guard", "leaderboard", "reproduce", "search"]
