"""The Ettin Rerankers app's logic; ``app.py`` (the Spaces entry point) only composes the tabs.

Sub-packages by concern, each importing only those listed before it (and :mod:`demo.texts`):

- :mod:`demo.sources` — what is offered: rerankers and first stages (``choices``), the bundled corpora and the user's
  documents (``user_corpus``), a first model when there is none (``firstrun``);
- :mod:`demo.search` — what a search does, no Gradio: the ``Playground`` (``playground``) composed of loading, budget,
  searching, comparing and warm-up parts, judged queries (``judged``), live rates (``throughput``) and the
  corpus-embedding queue (``fair``);
- :mod:`demo.views` — what a search shows: tables and HTML (``frames``), the rank-movement figure (``figures``), the
  Markdown around the results (``search_text``), agreement between sizes (``agreement``) and the Compare tab's table and
  chart (``compare_figures``);
- :mod:`demo.board` — what the Leaderboard and Explore tabs show: the board (``store``), its tables (``tables``), the
  per-query view (``explore``) and its histogram (``figures``);
- :mod:`demo.api` — ``POST /rerank`` (``rest``);
- :mod:`demo.tabs` — the Gradio layout, one module per tab, and the handlers' guard (``guard``: user errors -> UI, Stop
  flags); the only sub-package that imports ``gradio``;
- :mod:`demo.tools` — ``python -m demo bundle-embeddings|load|screenshots`` (``bundle``, ``load``, ``screenshots``) and
  the subprocess app they drive (``server``).

:mod:`demo.texts` holds the long Markdown and the corpus choices' names; ``app.css`` the page's styles (results rows,
score bars, phone layout), read by ``app.py``.
"""

from __future__ import annotations

__all__ = ["api", "board", "search", "sources", "tabs", "texts", "tools", "views"]
