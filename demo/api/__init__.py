"""The app's HTTP API beside its Gradio page: :mod:`~demo.api.rest` adds ``POST /rerank`` (the request and response
shapes Cohere, TEI-style and Infinity clients use), with the same models, limits and messages as the UI, a capped body
and a bounded number of reranks at once. The Gradio endpoints themselves (``/search``, ``/compare``, ...) are the tabs'
``api_name`` events in :mod:`demo.tabs`.
"""

from __future__ import annotations

__all__ = ["rest"]
