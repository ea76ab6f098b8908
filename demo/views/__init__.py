"""What a search and a comparison show, as pure functions of their outcomes: tables, HTML, Markdown and figures (no
Gradio).

- :mod:`~demo.views.frames` — the results as a table, as expandable HTML rows with score bars and as the
  sentence-transformers code that reproduces them; rank movement and latency frames;
- :mod:`~demo.views.figures` — where the reranker took the final top from (a slope chart), and the movement colours;
- :mod:`~demo.views.search_text` — the Markdown around a search's results: what ran, a judged query's metrics, the
  estimate;
- :mod:`~demo.views.agreement` — top-k overlap and Kendall's tau-b between two rerankers;
- :mod:`~demo.views.compare_figures` — the Compare tab's table and chart, filled in size by size.
"""

from __future__ import annotations

__all__ = ["agreement", "compare_figures", "figures", "frames", "search_text"]
