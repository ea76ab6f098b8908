"""The app's tools, ``python -m demo bundle-embeddings|load|screenshots``; the running app imports none of them.

- :mod:`~demo.tools.bundle` — ``bundle-embeddings``: ship the bundled corpora's MiniLM embeddings;
- :mod:`~demo.tools.load` — ``load``: measure the app as a user meets it (start, first search, warm searches, fair
  sharing, concurrency);
- :mod:`~demo.tools.screenshots` — ``screenshots``: photograph each tab for the docs with Debian chromium + playwright;
- :mod:`~demo.tools.server` — run ``python app.py`` as a subprocess on a free port, for the two above (and tests).
"""

from __future__ import annotations

__all__ = ["bundle", "load", "screenshots", "server"]
