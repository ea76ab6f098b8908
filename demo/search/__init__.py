"""What a search and a comparison do, without Gradio: the :class:`~demo.search.playground.Playground` the tabs and
``POST /rerank`` call, composed of one part per job.

- :mod:`~demo.search.playground` — :class:`~demo.search.playground.Playground`: its state (caches, limits, what is
  offered) and the parts below;
- :mod:`~demo.search.loading` — which reranker or first stage a key names, and loading them (kept in bounded caches);
- :mod:`~demo.search.budget` — the one limit rule every rerank follows (refused before it starts with the K that fits,
  unless run anyway, then with a warning) and the estimates it judges by;
- :mod:`~demo.search.searching` — one search: retrieve, rerank, keep the best, with timings and notes;
- :mod:`~demo.search.comparing` — the all-sizes comparison, streamed size by size, with its agreement reference;
- :mod:`~demo.search.judged` — did the reranker help a query the bundled SciFact test split judges?;
- :mod:`~demo.search.warmup` — compiling the start-up reranker, and the warm-up before (or while) the app serves;
- :mod:`~demo.search.params` — the parameters (K, results, precision, compile mode) and their checks;
- :mod:`~demo.search.outcomes` — what a search and a comparison return;
- :mod:`~demo.search.throughput` — pairs/s measured on this machine (timed when a model first loads, stored per machine
  and precision), and estimates scaled by compute for sizes not measured yet;
- :mod:`~demo.search.fair` — the corpus-embedding queue: one corpus at a time, within its own time budget.
"""

from __future__ import annotations

__all__ = [
    "budget",
    "comparing",
    "fair",
    "judged",
    "loading",
    "outcomes",
    "params",
    "playground",
    "searching",
    "throughput",
    "warmup",
]
