"""The app's HTTP API beside its Gradio page: :mod:`~demo.api.rest` adds ``POST /v1/rerank``, ``/v2/rerank`` (Cohere
v1/v2, Jina) and ``/rerank`` (the app's form, Infinity, TEI), one handler for every wire format, with the same models,
limits and messages as the UI, a capped body, a bounded number of reranks at once and an optional API key.

- :mod:`~demo.api.formats`: which wire format a request speaks, and its validation;
- :mod:`~demo.api.handler`: the model, the token cap and length check, the scores;
- :mod:`~demo.api.responses`: each format's response shape;
- :mod:`~demo.api.schema`: the routes in ``/openapi.json``;
- :mod:`~demo.api.errors`: the refusal (an HTTP status and ``{"message"}``).

The Gradio endpoints themselves (``/search``, ``/compare``, ...) are the tabs' ``api_name`` events in :mod:`demo.tabs`.
"""

from __future__ import annotations

__all__ = ["errors", "formats", "handler", "responses", "rest", "schema"]
