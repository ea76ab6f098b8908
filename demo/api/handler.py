"""One handler for every wire format: the model a request names, its token cap and length check, the scores and the
order, and the tokens the model read (for the usage fields of the responses)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from demo.api.errors import RestError
from demo.search.accelerating import runtime_text
from ettin.errors import UserError
from ettin.runtime import INTERACTIVE_BATCH

if TYPE_CHECKING:
    from demo.api.formats import RerankRequest
    from demo.search.playground import Playground
    from demo.sources.choices import RerankerChoice

__all__ = ["Ranked", "cap_tokens", "choose", "pair_lengths", "rerank"]


@dataclass(frozen=True)
class Ranked:
    """What a rerank produced, before it is shaped into a wire format.

    Attributes:
        choice: The reranker that scored.
        dtype: What its weights ran in.
        scores: The raw logit of each document, in input order.
        order: The indices of the ``top_n`` best documents, best first (ties: the earlier document first).
        tokens: Tokens the model read over all pairs (query, document and special tokens, after truncation).
        seconds: Time spent scoring.
        runtime: Where its forward passes ran (``torch``, ``OpenVINO fp32``, ...).
    """

    choice: RerankerChoice
    dtype: str
    scores: tuple[float, ...]
    order: tuple[int, ...]
    tokens: int
    seconds: float
    runtime: str = "torch"


def choose(play: Playground, key: str | None) -> RerankerChoice:
    """The offered reranker for ``key`` (default: the first offered that scores alone; offline, the one trained here).

    Raises:
        RestError: nothing offered (503), an unknown key (404, with the offered keys), ``none``, or a fused system (it
            needs first-stage scores, which a rerank request does not carry).
    """
    alone = [c for c in play.rerankers if c.fuse_weight is None]
    if key is None:
        if not alone:
            raise RestError("no rerankers are offered: start the app with --models-dir (python -m ettin replica ...)", 503)
        return alone[0]
    try:
        choice = play.reranker_choice(key)
    except UserError as exc:
        raise RestError(str(exc), status=404) from None
    if choice is None:
        raise RestError('model: give a reranker key ("none" does not rerank)')
    if choice.fuse_weight is not None:
        raise RestError(f"model: {choice.key!r} fuses the reranker's score with a first stage's, and a rerank request "
                        f"has no first stage: send model {choice.spec!r} (the reranker alone)")  # fmt: skip
    return choice


def cap_tokens(tokenizer: Any, texts: Sequence[str], cap: int) -> tuple[str, ...]:
    """Each text cut after its first ``cap`` tokens (by the tokenizer's character offsets: the original text is kept,
    never re-decoded); a shorter text unchanged."""
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True, return_attention_mask=False)
        return tuple(t if len(offsets) <= cap else t[: offsets[cap - 1][1]] for t, offsets in zip(texts, enc["offset_mapping"]))
    return tuple(tokenizer.convert_tokens_to_string(tokenizer.tokenize(t)[:cap]) for t in texts)


def pair_lengths(tokenizer: Any, query: str, texts: Sequence[str]) -> list[int]:
    """Tokens of each (query, text) pair before any truncation, special tokens included."""
    enc = tokenizer([query] * len(texts), list(texts), truncation=False, padding=False, return_attention_mask=False,
                    return_token_type_ids=False, verbose=False)  # fmt: skip
    return [len(ids) for ids in enc["input_ids"]]


def _tokens(model: Any, request: RerankRequest) -> tuple[tuple[str, ...], int]:
    """The documents as scored (after ``max_tokens_per_doc``) and the tokens the model reads; refuses an over-long pair
    when the request asked not to truncate."""
    tokenizer = getattr(model.model, "tokenizer", None)
    if tokenizer is None:
        return request.documents, 0
    texts = request.documents
    if request.max_tokens_per_doc is not None:
        texts = cap_tokens(tokenizer, texts, request.max_tokens_per_doc)
    lengths = pair_lengths(tokenizer, request.query, texts)
    limit = getattr(model.settings, "max_length", None)
    if limit is None:
        return texts, sum(lengths)
    if not request.truncate:
        key = "texts" if request.wire == "tei" else "documents"
        for i, n in enumerate(lengths):
            if n > limit:
                raise RestError(f"{key}[{i}] and the query make {n:,} tokens; this model reads at most {limit:,}: send "
                                '"truncate": true to cut it, or a shorter text', status=413)  # fmt: skip
    return texts, sum(min(n, limit) for n in lengths)


def rerank(play: Playground, request: RerankRequest) -> Ranked:
    """Score every document against the query with the chosen model.

    Raises:
        RestError: unknown model, a pair over the length with ``truncate: false``, or a rerank estimated above the
            app's time limit.
    """
    choice = choose(play, request.model)
    try:
        model, _ = play.reranker_within_limit(choice, len(request.documents), request.precision)  # the app's one rule
    except UserError as exc:
        raise RestError(str(exc), status=422) from None
    texts, tokens = _tokens(model, request)
    runtime = runtime_text(model, play.backend_build(choice, request.precision))
    t0 = time.perf_counter()
    scores = tuple(float(s) for s in model.score_pairs([(request.query, d) for d in texts], batch_size=INTERACTIVE_BATCH))
    seconds = time.perf_counter() - t0
    bad = next((i for i, s in enumerate(scores) if not math.isfinite(s)), None)
    if bad is not None:
        raise RestError(f"the model gave a non-finite score ({scores[bad]}) for document {bad}: a fault of the model or "
                        "its runtime, not of the request; retry with \"precision\": \"fp32\"", status=500)  # fmt: skip
    play.record_throughput(choice, request.precision, len(scores), seconds)
    order = tuple(sorted(range(len(scores)), key=lambda i: (-scores[i], i))[: request.top_n])
    return Ranked(choice, model.settings.dtype, scores, order, tokens, seconds, runtime)
