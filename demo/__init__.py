"""The Ettin Rerankers app's logic; ``app.py`` (the Spaces entry point) only composes the tabs.

- models and search: :mod:`~demo.choices` (what is offered), :mod:`~demo.throughput` (live pairs/s, estimates),
  :mod:`~demo.playground` (search / streaming compare and their caches), :mod:`~demo.user_corpus` (bundled corpora and
  user documents), :mod:`~demo.fair` (the corpus-embedding queue and its time budget), :mod:`~demo.warmup` (start-up
  loading), :mod:`~demo.firstrun` (building a first model when there is none), :mod:`~demo.rest` (``POST /rerank``);
- what is shown: :mod:`~demo.agreement`, :mod:`~demo.frames` (tables), :mod:`~demo.figures` (rank movement),
  :mod:`~demo.compare_figures` (latency and agreement per size), :mod:`~demo.board` (leaderboard data),
  :mod:`~demo.texts` (long Markdown), :mod:`~demo.guard` (user errors -> UI, Stop flags);
- Gradio layout: :mod:`demo.tabs` (one module per tab);
- tools (``python -m demo bundle-embeddings|load|screenshots``): :mod:`~demo.bundle`, :mod:`~demo.load`,
  :mod:`~demo.screenshots`, :mod:`~demo.server`.
"""

from __future__ import annotations

__all__ = [
    "agreement",
    "board",
    "bundle",
    "choices",
    "compare_figures",
    "fair",
    "figures",
    "firstrun",
    "frames",
    "guard",
    "load",
    "playground",
    "rest",
    "screenshots",
    "server",
    "tabs",
    "texts",
    "throughput",
    "user_corpus",
    "warmup",
]
