"""The rerank routes next to the Gradio app: ``POST /v1/rerank`` and ``/v2/rerank`` (Cohere; Jina uses ``/v1``) and
``POST /rerank`` (the app's form, Infinity's, and TEI's ``texts`` form), one handler for all.

:mod:`~demo.api.formats` says which format a request speaks and validates it, :mod:`~demo.api.handler` scores it and
:mod:`~demo.api.responses` answers in the format's own shape; :mod:`~demo.api.schema` lists the routes in
``/openapi.json`` (``/docs`` is served when the host app has none).

The same models, limits and messages as the UI: bad input is an HTTP 4xx with ``{"message": ...}`` on every path; the
body is read with a size cap; at most :data:`SLOTS` reranks run at once and a request that cannot get a slot within
:data:`WAIT_SECONDS` is answered 503 with ``Retry-After`` instead of queueing without end. With ``ETTIN_API_KEY`` set
(or ``api_key`` given) every rerank route wants ``Authorization: Bearer <key>`` (compared in constant time); unset, the
routes are open, as before.
"""

from __future__ import annotations

import hmac
import os
import threading
from typing import TYPE_CHECKING, Any

from starlette.requests import Request  # at run time: FastAPI reads the endpoint's annotation

from demo.api.errors import RestError
from demo.api.formats import MAX_DOCUMENTS, PATHS, RerankRequest, parse_request
from demo.api.handler import Ranked, rerank
from demo.api.responses import response_body
from demo.api.schema import route_docs
from demo.sources.user_corpus import MAX_UPLOAD_BYTES

if TYPE_CHECKING:
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from demo.search.playground import Playground

__all__ = ["API_KEY_ENV", "MAX_DOCUMENTS", "RETRY_AFTER_SECONDS", "SLOTS", "WAIT_SECONDS", "add_rerank_route",
           "check_api_key"]  # fmt: skip

SLOTS = 2
WAIT_SECONDS = 30.0
RETRY_AFTER_SECONDS = 5
API_KEY_ENV = "ETTIN_API_KEY"


def check_api_key(authorization: str | None, key: str) -> None:
    """Accept ``Authorization: Bearer <key>`` (the scheme in any case), compared in constant time.

    Raises:
        RestError: 401 with ``WWW-Authenticate: Bearer`` when the header is missing, not a bearer token, or wrong.
    """
    challenge = {"WWW-Authenticate": "Bearer"}
    scheme, _, given = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise RestError(f"this server needs an API key: send the header 'Authorization: Bearer <key>' with the key "
                        f"set in {API_KEY_ENV} where the app runs", 401, challenge)  # fmt: skip
    # Starlette decodes header bytes as latin-1: re-encoding gives the bytes the client sent
    if not hmac.compare_digest(given.strip().encode("latin-1"), key.encode("utf-8")):
        raise RestError(f"the API key is wrong: send the key set in {API_KEY_ENV} where the app runs", 401, challenge)


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


def _model_headers(ranked: Ranked) -> dict[str, str]:
    """``X-Ettin-Model`` / ``X-Ettin-Random-Init``: what scored, in every format (TEI's bare list has no room for it)."""
    headers = {"X-Ettin-Random-Init": "true" if ranked.choice.random_init else "false"}
    if ranked.choice.key.isascii() and ranked.choice.key.isprintable():
        headers["X-Ettin-Model"] = ranked.choice.key
    return headers


def _add_docs(app: FastAPI) -> None:
    """Serve Swagger UI at ``/docs`` when the host app does not (Gradio turns FastAPI's off); its script and style
    load from the CDN FastAPI names, so offline the page is served but stays blank (``/openapi.json`` is complete)."""
    if app.docs_url is not None or app.openapi_url is None or any(getattr(r, "path", None) == "/docs" for r in app.routes):
        return
    from fastapi.openapi.docs import get_swagger_ui_html

    openapi_url = app.openapi_url

    async def docs(_: Request):
        return get_swagger_ui_html(openapi_url=openapi_url, title="Ettin Rerankers — rerank API")

    app.add_api_route("/docs", docs, methods=["GET"], include_in_schema=False)


def add_rerank_route(app: FastAPI, play: Playground, max_body_bytes: int = MAX_UPLOAD_BYTES, api_key: str | None = None,
                     slots: int = SLOTS, wait_seconds: float = WAIT_SECONDS) -> None:  # fmt: skip
    """Add ``POST /v1/rerank``, ``/v2/rerank`` and ``/rerank`` to ``app`` (the FastAPI app Gradio serves, or any other).

    Args:
        app: The FastAPI app.
        play: The app's models, limits and rate estimates.
        max_body_bytes: Largest request body read.
        api_key: The key every request must send as ``Authorization: Bearer``; ``None``: ``$ETTIN_API_KEY``; empty:
            no key (the routes are open).
        slots: Reranks at once.
        wait_seconds: How long a request waits for a slot before a 503.
    """
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool

    key = os.environ.get(API_KEY_ENV, "") if api_key is None else api_key
    semaphore = threading.BoundedSemaphore(slots)

    def run(parsed: RerankRequest) -> tuple[Any, dict[str, str]]:
        if not semaphore.acquire(timeout=wait_seconds):
            raise RestError(f"the server is busy: all {slots} rerank slots stayed taken for the {wait_seconds:g} s this "
                            f"request waited; retry in a few seconds", 503,
                            {"Retry-After": str(RETRY_AFTER_SECONDS)})  # fmt: skip
        try:
            ranked = rerank(play, parsed)
            return response_body(parsed, ranked), _model_headers(ranked)
        finally:
            semaphore.release()

    def endpoint_for(path: str):
        async def endpoint(request: Request) -> JSONResponse:
            try:
                if key:
                    check_api_key(request.headers.get("authorization"), key)
                parsed = parse_request(await _read_body(request, max_body_bytes), path)
                body, headers = await run_in_threadpool(run, parsed)
                return JSONResponse(body, headers=headers)
            except RestError as exc:
                return JSONResponse({"message": str(exc)}, status_code=exc.status, headers=exc.headers)
            except MemoryError:
                return JSONResponse({"message": "out of memory: send fewer or shorter documents"}, status_code=503,
                                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)})  # fmt: skip

        endpoint.__name__ = "rerank_" + path.strip("/").replace("/", "_")
        return endpoint

    async def not_post(request: Request) -> JSONResponse:
        return JSONResponse({"message": f"{request.url.path} answers POST with a JSON body, not {request.method}"},
                            status_code=405, headers={"Allow": "POST"})  # fmt: skip

    for path in PATHS:
        app.add_api_route(path, endpoint_for(path), methods=["POST"], response_model=None, **route_docs(path))
        app.add_api_route(path, not_post, methods=["GET", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    _add_docs(app)
    app.openapi_schema = None  # a schema built before these routes existed is rebuilt on the next request
