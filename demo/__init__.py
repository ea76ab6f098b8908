"""The Ettin Rerankers app's logic; ``app.py`` (the Spaces entry point) only composes the tabs.

- models and search: :mod:`~demo.choices` (what is offered), :mod:`~demo.throughput` (live pairs/s, estimates),
  :mod:`~demo.playground` (search / compare and their caches), :mod:`~demo.user_corpus` (sample and user documents);
- what is shown: :mod:`~demo.agreement`, :mod:`~demo.frames` (tables), :mod:`~demo.figures` (rank movement),
  :mod:`~demo.board` (leaderboard data), :mod:`~demo.texts` (long Markdown), :mod:`~demo.guard` (user errors -> UI);
- Gradio layout: :mod:`demo.tabs` (one module per tab);
- tools (``python -m demo load|screenshots``): :mod:`~demo.load`, :mod:`~demo.screenshots`, :mod:`~demo.server`.
"""

from __future__ import annotations

__all__ = [
    "agreement",
    "board",
    "choices",
    "figures",
    "frames",
    "guard",
    "load",
    "playground",
    "screenshots",
    "server",
    "tabs",
    "texts",
    "throughput",
    "user_corpus",
]
