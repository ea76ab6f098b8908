"""``POST /rerank`` next to the Gradio app: the request and response shapes Cohere, TEI-style and Infinity clients use.

Request: ``{"query": str, "documents": [str | {"text": str, "title"?: str}], "top_n"?: int, "return_documents"?: bool,
"model"?: str, "precision"?: "auto" | "bf16" | "fp32"}``. Response: ``{"id", "results": [{"index", "relevance_score",
"raw_score", "document"?}], "model", "random_init", "precision", "dtype", "usage": {"documents", "seconds"}}``, best
first; ``dtype`` is what the model ran in ("bf16" falls back to float32 on a CPU without native bf16).
``relevance_score`` is the sigmoid of the model's raw logit (0–1, what these clients expect); ``raw_score`` is the logit
itself, the number the Search tab shows.

The same models, limits and messages as the UI: bad input is an HTTP 4xx with ``{"message": ...}``; the body is read
with a size cap; at most :data:`SLOTS` reranks run at once and a request that cannot get a slot within
:data:`WAIT_SECONDS` is told to retry (503) instead of queueing without end.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request  # at run time: FastAPI reads the endpoint's annotation

from demo.search.params import validate_precision
from demo.sources.choices import RANDOM_BADGE
from demo.sources.user_corpus import MAX_DOCUMENT_CHARS, MAX_UPLOAD_BYTES
from demo.views.frames import sigmoid
from ettin.errors import UserError
from ettin.pipeline import validate_query, whole_number
from ettin.runtime import INTERACTIVE_BATCH

if TYPE_CHECKING:
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from demo.search.playground import Playground

__all__ = ["MAX_DOCUMENTS", "RerankRequest", "RestError", "add_rerank_route", "parse_request", "rerank"]

MAX_DOCUMENTS = 200  # as K in the Search tab
SLOTS = 2
WAIT_SECONDS = 30.0
_FIELDS = {"query", "documents", "top_n", "return_documents", "model", "precision"}


class RestError(UserError, ValueError):
    """A refused ``/rerank`` request; ``status`` is the HTTP status it is answered with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RerankRequest:
    """A validated ``/rerank`` request."""

    query: str
    documents: tuple[str, ...]
    top_n: int
    return_documents: bool
    model: str | None
    precision: str = "auto"


def _document(value: Any, i: int) -> str:
    if isinstance(value, dict):
        text, title = value.get("text"), value.get("title", "")
        if not isinstance(text, str) or not isinstance(title, str):
            raise RestError(f"documents[{i}]: give a string, or an object with a string \"text\" (and optional \"title\")")
        value = f"{title} {text}".strip()
    if not isinstance(value, str):
        raise RestError(f"documents[{i}] must be a string or {{\"text\": ...}}, not {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RestError(f"documents[{i}] contains an invalid character (a lone UTF-16 surrogate)") from None
    if len(value) > MAX_DOCUMENT_CHARS:
        raise RestError(f"documents[{i}] has {len(value):,} characters; the limit is {MAX_DOCUMENT_CHARS:,}")
    return value


def parse_request(body: bytes) -> RerankRequest:
    """Validate a request body; every refusal names the field and the fix.

    Raises:
        RestError: not a JSON object, unknown fields, wrong types, empty or over-limit values.
    """
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise RestError("the body is not UTF-8 text: send JSON") from None
    except RecursionError:
        raise RestError("the body is nested too deeply: send a flat JSON object") from None
    except ValueError as exc:  # includes json.JSONDecodeError and integers too long to convert
        raise RestError(f"the body is not valid JSON ({str(exc)[:80]})") from None
    if not isinstance(data, dict):
        raise RestError('send a JSON object: {"query": "...", "documents": ["...", ...]}')
    unknown = sorted(str(k)[:40] for k in set(data) - _FIELDS)
    if unknown:
        raise RestError(f"unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(_FIELDS))}")
    try:
        query = validate_query(data.get("query"))
    except UserError as exc:
        raise RestError(f"query: {exc}") from None
    documents = data.get("documents")
    if not isinstance(documents, list) or not documents:
        raise RestError("documents must be a non-empty list of strings")
    if len(documents) > MAX_DOCUMENTS:
        raise RestError(f"{len(documents):,} documents; the limit is {MAX_DOCUMENTS} per request", status=413)
    texts = tuple(_document(d, i) for i, d in enumerate(documents))
    try:
        top_n = whole_number(data.get("top_n", len(texts)), "top_n", 1, MAX_DOCUMENTS)
    except UserError as exc:
        raise RestError(str(exc)) from None
    return_documents = data.get("return_documents", False)
    if not isinstance(return_documents, bool):
        raise RestError("return_documents must be true or false")
    model = data.get("model")
    if model is not None and not isinstance(model, str):
        raise RestError("model must be a string: one of the app's reranker keys")
    try:
        precision = validate_precision(data.get("precision", "auto"))
    except UserError as exc:
        raise RestError(str(exc)) from None
    return RerankRequest(query, texts, min(top_n, len(texts)), return_documents, model, precision)


def _choice(play: Playground, key: str | None):
    """The offered reranker for ``key`` (default: the first offered; offline, the reranker trained here)."""
    if key is None:
        if not play.rerankers:
            raise RestError("no rerankers are offered: start the app with --models-dir (python -m ettin replica ...)", 503)
        return play.rerankers[0]
    try:
        choice = play.reranker_choice(key)
    except UserError as exc:
        raise RestError(str(exc), status=404) from None
    if choice is None:
        raise RestError("model: give a reranker key (\"none\" does not rerank)")
    return choice


def rerank(play: Playground, request: RerankRequest) -> dict[str, Any]:
    """Score every document against the query with the chosen model; the response body, best first.

    Raises:
        RestError: unknown model, or a rerank estimated above the app's time limit.
    """
    choice = _choice(play, request.model)
    try:
        model = play.reranker(choice, request.precision)
        play.check_budget(choice, len(request.documents), request.precision)
    except UserError as exc:
        raise RestError(str(exc), status=422) from None
    t0 = time.perf_counter()
    pairs = [(request.query, d) for d in request.documents]
    scores = [float(s) for s in model.score_pairs(pairs, batch_size=INTERACTIVE_BATCH)]
    seconds = time.perf_counter() - t0
    play.record_throughput(choice, request.precision, len(scores), seconds)
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[: request.top_n]
    results = []
    for i in order:
        row: dict[str, Any] = {"index": i, "relevance_score": sigmoid(scores[i]), "raw_score": scores[i]}
        if request.return_documents:
            row["document"] = {"text": request.documents[i]}
        results.append(row)
    body = {"id": str(uuid.uuid4()), "results": results, "model": choice.key, "random_init": choice.random_init,
            "precision": request.precision, "dtype": model.settings.dtype,
            "usage": {"documents": len(scores), "seconds": round(seconds, 4)}}  # fmt: skip
    if choice.random_init:
        body["warning"] = RANDOM_BADGE
    return body


async def _read_body(request: Request, cap: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise RestError(f"the body has {int(declared):,} bytes; the limit is {cap:,}", status=413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise RestError(f"the body is larger than the limit of {cap:,} bytes", status=413)
        chunks.append(chunk)
    return b"".join(chunks)


def add_rerank_route(app: FastAPI, play: Playground, max_body_bytes: int = MAX_UPLOAD_BYTES) -> None:
    """Add ``POST /rerank`` to ``app`` (the FastAPI app Gradio serves, or any other)."""
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool

    slots = threading.BoundedSemaphore(SLOTS)

    def run(parsed: RerankRequest) -> dict[str, Any]:
        if not slots.acquire(timeout=WAIT_SECONDS):
            raise RestError(f"the server is busy ({SLOTS} reranks running for over {WAIT_SECONDS:.0f} s); retry later", 503)
        try:
            return rerank(play, parsed)
        finally:
            slots.release()

    async def endpoint(request: Request) -> JSONResponse:
        try:
            parsed = parse_request(await _read_body(request, max_body_bytes))
            return JSONResponse(await run_in_threadpool(run, parsed))
        except RestError as exc:
            return JSONResponse({"message": str(exc)}, status_code=exc.status)
        except MemoryError:
            return JSONResponse({"message": "out of memory: send fewer or shorter documents"}, status_code=503)

    app.add_api_route("/rerank", endpoint, methods=["POST"], include_in_schema=False)
