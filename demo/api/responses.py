"""A rerank's result in each wire format's own response shape.

- Cohere v1 / Jina (``/v1/rerank``): ``{"id", "results": [{"index", "relevance_score", "document"?}], "meta":
  {"api_version": {"version": "1"}, "billed_units": {"search_units"}, "warnings"?}, "usage": {"total_tokens"}, "model",
  "random_init", "warning"?}`` — ``meta`` is Cohere's, ``usage`` and ``model`` Jina's.
- Cohere v2 (``/v2/rerank``): the same without ``usage``, ``api_version`` ``"2"``.
- The app's own form (``/rerank`` with ``documents``): ``{"id", "object": "rerank", "created", "results": [{"index",
  "relevance_score", "raw_score", "document"?}], "model", "random_init", "precision", "dtype", "runtime", "usage":
  {"documents", "seconds", "prompt_tokens", "total_tokens"}, "notes"?, "warning"?}``; Infinity's (``raw_scores`` sent)
  is the same with each ``document`` a string, as Infinity returns it.
- TEI (``/rerank`` with ``texts``): a bare list ``[{"index", "score", "text"?}]``, best first.

``relevance_score`` (TEI: ``score``) is the sigmoid of the model's logit, 0–1, or with ``raw_scores`` the logit itself;
the app's form always carries the logit as ``raw_score`` too. A returned document is the object sent (Cohere keeps its
other fields) or ``{"text": ...}`` for a string. Cohere bills one search unit per query and 100 documents (documents
are never split into chunks here). ``warning`` says when the weights are random.
"""

from __future__ import annotations

import math
import time
import uuid
from typing import TYPE_CHECKING, Any

from demo.sources.choices import RANDOM_BADGE
from demo.views.frames import sigmoid

if TYPE_CHECKING:
    from demo.api.formats import RerankRequest
    from demo.api.handler import Ranked

__all__ = ["response_body", "search_units"]


def search_units(n_documents: int) -> int:
    """Cohere's billed search units: one per query and up to 100 documents."""
    return max(1, math.ceil(n_documents / 100))


def _score(request: RerankRequest, ranked: Ranked, i: int) -> float:
    logit = ranked.scores[i]
    return logit if request.raw_scores else sigmoid(logit)


def _echo(request: RerankRequest, i: int) -> dict[str, Any]:
    sent = request.sent[i] if i < len(request.sent) else request.documents[i]
    return dict(sent) if isinstance(sent, dict) else {"text": request.documents[i]}


def _cohere(request: RerankRequest, ranked: Ranked, version: str) -> dict[str, Any]:
    results = []
    for i in ranked.order:
        row: dict[str, Any] = {"index": i, "relevance_score": _score(request, ranked, i)}
        if request.return_documents:
            row["document"] = _echo(request, i)
        results.append(row)
    meta: dict[str, Any] = {"api_version": {"version": version},
                            "billed_units": {"search_units": search_units(len(ranked.scores))}}  # fmt: skip
    warnings = [*request.notes, *([RANDOM_BADGE] if ranked.choice.random_init else [])]
    if warnings:
        meta["warnings"] = warnings
    body: dict[str, Any] = {"id": str(uuid.uuid4()), "results": results, "meta": meta}
    if version == "1":
        body["usage"] = {"total_tokens": ranked.tokens}  # Jina's
    body.update(model=ranked.choice.key, random_init=ranked.choice.random_init)
    if ranked.choice.random_init:
        body["warning"] = RANDOM_BADGE
    return body


def _app(request: RerankRequest, ranked: Ranked) -> dict[str, Any]:
    results = []
    for i in ranked.order:
        row: dict[str, Any] = {"index": i, "relevance_score": _score(request, ranked, i), "raw_score": ranked.scores[i]}
        if request.return_documents:
            row["document"] = request.documents[i] if request.wire == "infinity" else _echo(request, i)
        results.append(row)
    n = len(ranked.scores)
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()), "object": "rerank", "created": int(time.time()), "results": results,
        "model": ranked.choice.key, "random_init": ranked.choice.random_init, "precision": request.precision,
        "dtype": ranked.dtype, "runtime": ranked.runtime,
        "usage": {"documents": n, "seconds": round(ranked.seconds, 4), "prompt_tokens": ranked.tokens,
                  "total_tokens": ranked.tokens},
    }  # fmt: skip
    if request.notes:
        body["notes"] = list(request.notes)
    if ranked.choice.random_init:
        body["warning"] = RANDOM_BADGE
    return body


def _tei(request: RerankRequest, ranked: Ranked) -> list[dict[str, Any]]:
    rows = []
    for i in ranked.order:
        row: dict[str, Any] = {"index": i, "score": _score(request, ranked, i)}
        if request.return_documents:
            row["text"] = request.documents[i]
        rows.append(row)
    return rows


def response_body(request: RerankRequest, ranked: Ranked) -> Any:
    """The JSON body answering ``request`` in its own wire format (``request.wire``)."""
    if request.wire == "cohere-v1":
        return _cohere(request, ranked, "1")
    if request.wire == "cohere-v2":
        return _cohere(request, ranked, "2")
    if request.wire == "tei":
        return _tei(request, ranked)
    return _app(request, ranked)
