"""What the app offers to search with and over: the rerankers and first stages, the corpora, and a first model.

- :mod:`~demo.sources.choices` — the rerankers offered (local folders and the registry's Hub ids) and the first stages,
  with their labels; replicas carry :data:`~demo.sources.choices.RANDOM_BADGE`;
- :mod:`~demo.sources.user_corpus` — the bundled SciFact sample and full corpus, their example queries, and the user's
  own documents (pasted or uploaded), capped and validated;
- :mod:`~demo.sources.firstrun` — building the 17m replica when no reranker is offered at all.

No Gradio here, and nothing here imports the rest of :mod:`demo`.
"""

from __future__ import annotations

__all__ = ["choices", "firstrun", "user_corpus"]
