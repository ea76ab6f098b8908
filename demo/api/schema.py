"""The rerank routes as OpenAPI describes them (``/openapi.json``, ``/docs``): request and response models per wire
format, written with pydantic for the schema only. Validation is :func:`demo.api.formats.parse_request`'s, so a refusal
is always the app's ``{"message": ...}`` naming the field, never FastAPI's generic 422.
"""

from __future__ import annotations

from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from demo.api import formats
from demo.api.formats import IGNORED, MAX_DOCUMENTS

__all__ = ["ROUTES", "route_docs"]

Precision = Literal["auto", "bf16", "fp32"]
_MODEL = "One of the app's reranker keys (the Search tab's list); default: the first offered. Unknown: 404 with the list."
_TOP_N = f"Results to return, 1 to {MAX_DOCUMENTS} (default: all)."
_DOCS = (f"1 to {MAX_DOCUMENTS} documents: strings, or objects with a string `text` (and `title`), or any string fields "
         "named in `rank_fields`.")  # fmt: skip
_MAX_TOKENS = "Cut each document to this many tokens before scoring (the model also cuts each pair at its own length)."
_RANK_FIELDS = "For object documents: the keys ranked, in order (their values joined)."
_PRECISION = "The app's own: auto | bf16 | fp32."


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(description="The query, up to 2,000 characters.")
    model: str | None = Field(None, description=_MODEL)
    top_n: int | None = Field(None, ge=1, le=MAX_DOCUMENTS, description=_TOP_N)
    precision: Precision | None = Field(None, description=_PRECISION)


class _Documents(_Request):
    documents: list[Union[str, dict[str, Any]]] = Field(description=_DOCS)
    return_documents: bool | None = Field(None, description="Echo each document in its result (default false).")
    rank_fields: list[str] | None = Field(None, description=_RANK_FIELDS)
    max_tokens_per_doc: int | None = Field(None, ge=1, description=_MAX_TOKENS)
    max_chunks_per_doc: int | None = Field(None, ge=1, description=f"Accepted; {IGNORED['max_chunks_per_doc']}.")


class CohereV1Request(_Documents):
    """Cohere v1 (``cohere.Client``) and Jina: ``POST /v1/rerank``."""


class CohereV2Request(_Documents):
    """Cohere v2 (``cohere.ClientV2``, langchain-cohere's ``CohereRerank``): ``POST /v2/rerank``."""

    priority: int | None = Field(None, ge=0, description=f"Accepted; {IGNORED['priority']}.")
    relevant_spans: dict[str, Any] | None = Field(None, description=f"cohere 7: accepted; {IGNORED['relevant_spans']}.")


class AppRequest(_Documents):
    """The app's own form and Infinity's (``raw_scores`` present): ``POST /rerank`` with ``documents``."""

    raw_scores: bool | None = Field(None, description="Infinity: relevance_score is the raw logit (default false).")


class TeiRequest(_Request):
    """text-embeddings-inference: ``POST /rerank`` with ``texts``."""

    texts: list[str] = Field(description=f"1 to {MAX_DOCUMENTS} texts.")
    raw_scores: bool | None = Field(None, description="score is the raw logit instead of its sigmoid (default false).")
    return_text: bool | None = Field(None, description="Echo each text (default false).")
    truncate: bool | None = Field(None, description="false: refuse a pair longer than the model reads (413); default: cut it.")
    truncation_direction: Literal["Right", "right"] | None = Field(None, description='Only "Right" (the default).')


class BilledUnits(BaseModel):
    search_units: int


class ApiVersion(BaseModel):
    version: str


class CohereMeta(BaseModel):
    api_version: ApiVersion
    billed_units: BilledUnits
    warnings: list[str] | None = None


class CohereResult(BaseModel):
    index: int
    relevance_score: float = Field(description="The sigmoid of the model's logit, 0–1 (with raw_scores: the logit).")
    document: dict[str, Any] | None = None


class CohereResponse(BaseModel):
    """Cohere v1/v2 (and Jina's ``usage``, ``model`` on v1)."""

    id: str
    results: list[CohereResult]
    meta: CohereMeta
    usage: dict[str, int] | None = Field(None, description="Jina's: total_tokens (v1 only).")
    model: str
    random_init: bool
    warning: str | None = Field(None, description="Set when the weights are random: scores meaningless.")


class AppResult(BaseModel):
    index: int
    relevance_score: float
    raw_score: float = Field(description="The model's logit.")
    document: Union[dict[str, Any], str, None] = Field(None, description="An object; a string for Infinity.")


class AppResponse(BaseModel):
    """The app's own form (Infinity's fields included)."""

    id: str
    object: Literal["rerank"]
    created: int
    results: list[AppResult]
    model: str
    random_init: bool
    precision: Precision
    dtype: str
    runtime: str = Field("torch", description="Where the forward passes ran: torch, or an export that passed the gate.")
    usage: dict[str, float]
    notes: list[str] | None = None
    warning: str | None = None


class TeiRank(BaseModel):
    """One entry of TEI's bare list."""

    index: int
    score: float
    text: str | None = None


class Message(BaseModel):
    """Every refusal: what is wrong and the fix."""

    message: str


def _body(*models: type[BaseModel]) -> dict[str, Any]:
    schemas = [m.model_json_schema() for m in models]
    schema = schemas[0] if len(schemas) == 1 else {"anyOf": schemas}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _responses(ok: Any) -> dict[int | str, dict[str, Any]]:
    refusals = {400: "a bad field (the message names it)", 401: "ETTIN_API_KEY is set and the key is missing or wrong",
                404: "an unknown model (the message lists the offered ones)", 413: "too many documents, a body over "
                "the cap, or a pair too long with truncate false", 422: "a rerank estimated above the time limit",
                503: "busy (with Retry-After) or no reranker offered"}  # fmt: skip
    return {200: {"model": ok, "description": "Ranked, best first"},
            **{code: {"model": Message, "description": why} for code, why in refusals.items()}}  # fmt: skip


ROUTES: dict[str, dict[str, Any]] = {
    "/v1/rerank": {"summary": "Rerank (Cohere v1, Jina)", "openapi_extra": _body(CohereV1Request),
                   "responses": _responses(CohereResponse)},
    "/v2/rerank": {"summary": "Rerank (Cohere v2)", "openapi_extra": _body(CohereV2Request),
                   "responses": _responses(CohereResponse)},
    "/rerank": {"summary": "Rerank (the app's form, Infinity; TEI with texts)", "openapi_extra": _body(AppRequest, TeiRequest),
                "responses": _responses(Union[AppResponse, list[TeiRank]])},
}  # fmt: skip
"""Per path: what ``add_api_route`` is given for the docs."""


def route_docs(path: str) -> dict[str, Any]:
    """The ``add_api_route`` keyword arguments documenting ``path`` (tags and description included)."""
    spec = ROUTES[path]
    return {**spec, "tags": ["rerank"], "description": (formats.__doc__ or "").strip()}
