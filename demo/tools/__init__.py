"""The app's tools, ``python -m demo bundle-embeddings|cold-start|evaluate-bench|judged|load|load-api|screenshots``; the
running app imports none of them.

- :mod:`~demo.tools.bundle` — ``bundle-embeddings``: ship the bundled corpora's MiniLM embeddings;
- :mod:`~demo.tools.coldstart` — ``cold-start``: how soon the app answers and reranks fast;
- :mod:`~demo.tools.evalbench` — ``evaluate-bench``: the Evaluate tab's time against the CLI's;
- :mod:`~demo.tools.judged` — ``judged``: whether the app's reranker helps on judged queries;
- :mod:`~demo.tools.load` — ``load``, ``load-api``: measure the app as a user meets it;
- :mod:`~demo.tools.screenshots` — ``screenshots``: photograph each tab for the docs with Debian chromium + playwright;
- :mod:`~demo.tools.server` — run ``python app.py`` as a subprocess on a free port (and :func:`publish`, how each
  measuring verb ends).
"""

from __future__ import annotations

__all__ = ["bundle", "coldstart", "evalbench", "judged", "load", "screenshots", "server"]
