"""The rerank wire formats the REST API speaks, and the validation of a request body into one :class:`RerankRequest`.

Which format a request speaks (the rule the README's "Use it as a reranking server" section documents):

- ``POST /v1/rerank``: Cohere v1 (``cohere.Client``), and Jina (its clients call ``/v1/rerank`` with a subset of the
  same fields);
- ``POST /v2/rerank``: Cohere v2 (``cohere.ClientV2``, langchain-cohere's ``CohereRerank``);
- ``POST /rerank``: decided by the request's own fields: ``texts`` is text-embeddings-inference (TEI), answered with
  TEI's bare list; ``documents`` with a ``raw_scores`` value is Infinity (its client always sends one), answered with
  each document echoed as a string as Infinity does; ``documents`` otherwise is the app's own form. Both ``texts`` and
  ``documents`` are refused.

A null value is always the field's absence. Every optional field of those APIs is accepted: ``top_n``,
``return_documents`` / ``return_text``, ``raw_scores``, ``truncate``, ``max_tokens_per_doc`` (a token cap per
document) and ``rank_fields`` (which keys of an object document are ranked, in order) are honoured;
``max_chunks_per_doc``, ``priority`` and ``relevant_spans`` (cohere 7) are checked and then ignored (:data:`IGNORED` says why). A field outside those
APIs is refused with its name. ``precision`` (auto | bf16 | fp32) is the app's own, on every path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from demo.api.errors import RestError
from demo.search.params import validate_precision
from demo.sources.user_corpus import MAX_DOCUMENT_CHARS
from ettin.errors import UserError
from ettin.pipeline import is_encodable, validate_query, whole_number

__all__ = ["FIELDS", "IGNORED", "MAX_DOCUMENTS", "PATHS", "RerankRequest", "parse_request", "wire_of"]

MAX_DOCUMENTS = 200  # as K in the Search tab
MAX_RANK_FIELDS = 32
INFINITY_DEFAULT_MODEL = "default/not-specified"  # what Infinity's client sends when no model is chosen

_COMMON = frozenset({"query", "model", "top_n", "precision"})
_COHERE = _COMMON | {"documents", "return_documents", "rank_fields", "max_tokens_per_doc", "max_chunks_per_doc"}
FIELDS: dict[str, frozenset[str]] = {
    "cohere-v1": _COHERE,
    "cohere-v2": _COHERE | {"priority", "relevant_spans"},
    "app": _COHERE | {"raw_scores"},
    "infinity": _COHERE | {"raw_scores"},
    "tei": _COMMON | {"texts", "raw_scores", "return_text", "truncate", "truncation_direction"},
}
"""The fields each wire format accepts (``model`` and ``top_n`` on TEI's form too: the rerankers package sends them)."""

IGNORED = {
    "max_chunks_per_doc": "max_chunks_per_doc is ignored: each document is scored once, cut at the model's length",
    "priority": "priority is ignored: requests are served first come, first served",
    "relevant_spans": "relevant_spans is ignored: the model scores each document whole, so no spans are returned",
}
"""Fields accepted for compatibility that mean nothing here, with the note a Cohere response's ``meta.warnings``
carries."""

PATHS = {"/v1/rerank": "cohere-v1", "/v2/rerank": "cohere-v2", "/rerank": None}
"""The routes and the wire format each speaks (``None``: decided by the request's fields, see :func:`wire_of`)."""

_SHOWN = {"cohere-v1": "POST /v1/rerank (Cohere v1, Jina)", "cohere-v2": "POST /v2/rerank (Cohere v2)",
          "app": "POST /rerank", "infinity": "POST /rerank", "tei": 'POST /rerank with "texts" (TEI)'}  # fmt: skip


@dataclass(frozen=True)
class RerankRequest:
    """A validated rerank request, in whichever wire format it came.

    Attributes:
        query: The stripped query.
        documents: The text ranked for each document (an object's ranked fields joined; cut to no cap yet).
        top_n: Results to return, at most ``len(documents)``.
        return_documents: Echo each document (TEI: ``return_text``).
        model: The reranker key asked for (``None``: the default).
        precision: auto | bf16 | fp32.
        wire: The format to answer in: one of :data:`FIELDS`.
        raw_scores: Report the logit instead of its sigmoid (TEI, Infinity).
        truncate: Cut pairs longer than the model reads (``False``: refuse them, as TEI does with ``truncate: false``).
        max_tokens_per_doc: Cut each document to this many tokens first (Cohere).
        sent: The documents as sent (a string or an object), for the echo.
        notes: Why accepted fields were ignored (:data:`IGNORED`).
    """

    query: str
    documents: tuple[str, ...]
    top_n: int
    return_documents: bool
    model: str | None
    precision: str = "auto"
    wire: str = "app"
    raw_scores: bool = False
    truncate: bool = True
    max_tokens_per_doc: int | None = None
    sent: tuple[Any, ...] = field(default=(), compare=False, repr=False)
    notes: tuple[str, ...] = ()


def _json_object(body: bytes) -> dict[str, Any]:
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
    return data


def wire_of(path: str, data: dict[str, Any]) -> str:
    """The wire format of a request body sent to ``path`` (one of :data:`PATHS`), by the rule the module describes.

    Raises:
        RestError: on ``/rerank``, both ``texts`` and ``documents``.
    """
    fixed = PATHS.get(path)
    if fixed is not None:
        return fixed
    texts, documents = data.get("texts") is not None, data.get("documents") is not None
    if texts and documents:
        raise RestError('send either "texts" (TEI\'s form) or "documents", not both')
    if texts:
        return "tei"
    return "infinity" if data.get("raw_scores") is not None else "app"


def _refuse_unknown(data: dict[str, Any], wire: str) -> None:
    unknown = sorted(str(k)[:40] for k in set(data) - FIELDS[wire])
    if unknown:
        known = ", ".join(sorted(FIELDS[wire]))
        raise RestError(f"unknown field(s) {', '.join(unknown)}; known on {_SHOWN[wire]}: {known}")


def _text(value: str, where: str) -> str:
    if not is_encodable(value):
        raise RestError(f"{where} contains an invalid character (a lone UTF-16 surrogate)")
    if len(value) > MAX_DOCUMENT_CHARS:
        raise RestError(f"{where} has {len(value):,} characters; the limit is {MAX_DOCUMENT_CHARS:,}")
    return value


def _object_text(value: dict[str, Any], where: str, rank_fields: tuple[str, ...] | None) -> str:
    """An object document's ranked text: its ``rank_fields`` in order, or else ``title`` and ``text``."""
    if rank_fields is None:
        text, title = value.get("text"), value.get("title", "")
        if not isinstance(text, str) or not isinstance(title, str):
            raise RestError(f'{where}: give a string, or an object with a string "text" (and optional "title"), '
                            'or name its fields in "rank_fields"')  # fmt: skip
        return f"{title} {text}".strip()
    parts = []
    for name in rank_fields:
        if name in value:
            if not isinstance(value[name], str):
                raise RestError(f"{where}[{name!r}] must be a string to be ranked, not {type(value[name]).__name__}")
            parts.append(value[name])
    if not parts:
        raise RestError(f"{where} has none of rank_fields ({', '.join(rank_fields)}): add one, or change rank_fields")
    return " ".join(parts).strip()


def _documents(value: Any, key: str, rank_fields: tuple[str, ...] | None) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        also = ' (or TEI\'s "texts")' if key == "documents" else ""
        raise RestError(f"{key} must be a non-empty list of strings{also}")
    if len(value) > MAX_DOCUMENTS:
        raise RestError(f"{len(value):,} {key}; the limit is {MAX_DOCUMENTS} per request", status=413)
    texts = []
    for i, item in enumerate(value):
        where = f"{key}[{i}]"
        if isinstance(item, dict) and key == "documents":
            item = _object_text(item, where, rank_fields)
        elif not isinstance(item, str):
            shape = 'a string or {"text": ...}' if key == "documents" else "a string"
            raise RestError(f"{where} must be {shape}, not {type(item).__name__}")
        texts.append(_text(item, where))
    return tuple(texts)


def _rank_fields(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if (not isinstance(value, list) or not value or len(value) > MAX_RANK_FIELDS
            or not all(isinstance(v, str) and v.strip() for v in value)):  # fmt: skip
        raise RestError(f'rank_fields must be a list of 1 to {MAX_RANK_FIELDS} field names, e.g. ["title", "text"]')
    return tuple(value)


def _flag(data: dict[str, Any], name: str, default: bool = False) -> bool:
    value = data.get(name, default)
    if not isinstance(value, bool):
        raise RestError(f"{name} must be true or false, not {type(value).__name__}")
    return value


def _whole(data: dict[str, Any], name: str, low: int, high: int) -> int | None:
    if name not in data:
        return None
    try:
        return whole_number(data[name], name, low, high)
    except UserError as exc:
        raise RestError(str(exc)) from None


def _model(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise RestError("model must be a string: one of the app's reranker keys")
    return None if value == INFINITY_DEFAULT_MODEL else value


def _truncation_direction(value: Any) -> None:
    if value is None or (isinstance(value, str) and value.lower() == "right"):
        return
    if isinstance(value, str) and value.lower() == "left":
        raise RestError('truncation_direction: only "Right" is supported here (the start of each text is kept); '
                        'drop the field or send "Right"')  # fmt: skip
    raise RestError(f'truncation_direction must be "Right" or "Left", not {repr(value)[:40]}')


def _relevant_spans(value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, dict) or value.get("mode") not in ("enabled", "disabled"):
        raise RestError('relevant_spans must be an object with "mode": "enabled" or "disabled" (it is ignored here)')


def parse_request(body: bytes, path: str = "/rerank") -> RerankRequest:
    """Validate a request body sent to ``path`` (one of :data:`PATHS`); every refusal names the field and the fix.

    Raises:
        RestError: not a JSON object, unknown fields, wrong types, empty or over-limit values.
    """
    data = _json_object(body)
    wire = wire_of(path, data)
    _refuse_unknown(data, wire)
    data = {k: v for k, v in data.items() if v is not None}  # null is absent
    try:
        query = validate_query(data.get("query"))
    except UserError as exc:
        raise RestError(f"query: {exc}") from None
    key = "texts" if wire == "tei" else "documents"
    rank_fields = _rank_fields(data.get("rank_fields"))
    texts = _documents(data.get(key), key, rank_fields)
    top_n = _whole(data, "top_n", 1, MAX_DOCUMENTS)
    return_documents = _flag(data, "return_text" if wire == "tei" else "return_documents")
    raw_scores, truncate = _flag(data, "raw_scores"), _flag(data, "truncate", default=True)
    _truncation_direction(data.get("truncation_direction"))
    max_tokens = _whole(data, "max_tokens_per_doc", 1, 1_000_000)
    _whole(data, "max_chunks_per_doc", 1, 1_000_000)  # checked, then ignored
    _whole(data, "priority", 0, 1_000_000)
    _relevant_spans(data.get("relevant_spans"))
    model = _model(data.get("model"))
    try:
        precision = validate_precision(data.get("precision", "auto"))
    except UserError as exc:
        raise RestError(str(exc)) from None
    notes = tuple(note for name, note in IGNORED.items() if name in data)
    return RerankRequest(query, texts, min(top_n or len(texts), len(texts)), return_documents, model, precision, wire,
                         raw_scores, truncate, max_tokens, tuple(data[key]), notes)  # fmt: skip
