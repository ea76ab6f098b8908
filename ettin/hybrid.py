"""The hybrid first stage: BM25 and a dense embedder fused by reciprocal rank (RRF, Cormack et al. 2009).

A document's fused score is the sum over the two rankings of ``1 / (k + rank)`` (rank 1-based, ``k`` = 60 with no
tuning); a document in one ranking only gets that one term. Ties keep the order in which the two rankings first reach
the documents (rank 1 of BM25, rank 1 of the embedder, rank 2 of BM25, ...), so a fusion is the same wherever it runs.

A hybrid is named ``hybrid:<embedder>`` (``hybrid`` alone means BM25 + :data:`ettin.registry.HYBRID`'s default embedder).
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Sequence
from typing import Any, Protocol, TypeVar

import numpy as np

from ettin import registry
from ettin.corpus import Corpus

__all__ = ["HybridFirstStage", "hybrid_embedder", "hybrid_id", "rrf_fuse"]

Key = TypeVar("Key", bound=Hashable)


class _Stage(Protocol):
    name: str
    corpus: Corpus

    def search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray, dict[str, float]]: ...

    def search_many(self, queries: Sequence[str], k: int) -> list[tuple[np.ndarray, np.ndarray]]: ...


def hybrid_embedder(spec: str, meta: registry.HybridMeta = registry.HYBRID) -> str | None:
    """The embedder of a hybrid first-stage spec (``hybrid`` or ``hybrid:<embedder>``); ``None`` when not a hybrid.

    Raises:
        ValueError: ``hybrid:`` with no embedder, or an embedder that is itself BM25 or a hybrid.
    """
    text = spec.strip() if isinstance(spec, str) else ""
    head, sep, embedder = text.partition(":")
    if head.lower() != meta.id:
        return None
    if not sep:
        return meta.default_embedder
    embedder = embedder.strip()
    if not embedder:
        raise ValueError(f"{text!r} names no embedder: write {meta.id}:<embedder id>, or {meta.id} for {meta.default_embedder}")
    if embedder.lower() == registry.BM25.id or hybrid_embedder(embedder, meta) is not None:
        raise ValueError(f"{text!r}: a hybrid fuses BM25 with a dense embedder; give an embedder id after '{meta.id}:'")
    return embedder


def hybrid_id(embedder: str, meta: registry.HybridMeta = registry.HYBRID) -> str:
    """The canonical name of BM25 + ``embedder`` fused (``hybrid:<embedder>``)."""
    return f"{meta.id}:{embedder.strip()}"


def rrf_fuse(rankings: Sequence[Sequence[Key]], k: int = registry.HYBRID.rrf_k, depth: int | None = None) -> list[tuple[Key, float]]:
    """Reciprocal-rank fusion of best-first rankings: ``(key, fused score)``, best first, at most ``depth`` of them.

    Args:
        rankings: Each a best-first sequence of distinct keys (document indices or ids).
        k: RRF's constant (60 in the original paper and in Elasticsearch, Vespa, Weaviate, Qdrant).
        depth: How many fused keys to return (default: all).

    Raises:
        ValueError: ``k`` negative.
    """
    if k < 0:
        raise ValueError(f"the RRF constant k must be 0 or more, not {k}")
    scores: dict[Key, float] = {}
    for rank in range(max((len(r) for r in rankings), default=0)):
        for ranking in rankings:
            if rank < len(ranking):
                key = ranking[rank]
                scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank + 1)
    first_reached = {key: i for i, key in enumerate(scores)}  # dicts keep insertion order
    fused = sorted(scores.items(), key=lambda item: (-item[1], first_reached[item[0]]))
    return fused if depth is None else fused[:depth]


class HybridFirstStage:
    """BM25 and a dense first stage over one corpus, each searched to depth ``k`` and fused by RRF."""

    def __init__(self, lexical: _Stage, dense: _Stage, meta: registry.HybridMeta = registry.HYBRID):
        if lexical.corpus is not dense.corpus:
            raise ValueError("the two first stages of a hybrid must search the same corpus")
        self.lexical, self.dense, self.meta = lexical, dense, meta
        self.corpus = dense.corpus
        self.name = hybrid_id(dense.name, meta)

    def _fuse(self, lexical: np.ndarray, dense: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        fused = rrf_fuse([lexical.tolist(), dense.tolist()], self.meta.rrf_k, depth=k)
        idx = np.array([i for i, _ in fused], dtype=np.int64)
        return idx, np.array([s for _, s in fused], dtype=np.float32)

    def search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
        lex_idx, _, lex_t = self.lexical.search(query, k)
        dense_idx, _, dense_t = self.dense.search(query, k)
        t0 = time.perf_counter()
        idx, scores = self._fuse(lex_idx, dense_idx, k)
        timings: dict[str, Any] = {
            "embed_query_s": dense_t.get("embed_query_s", 0.0),
            "search_s": lex_t.get("search_s", 0.0) + dense_t.get("search_s", 0.0) + time.perf_counter() - t0,
        }
        return idx, scores, timings

    def search_many(self, queries: Sequence[str], k: int, batch_size: int = 64) -> list[tuple[np.ndarray, np.ndarray]]:
        lexical = self.lexical.search_many(queries, k)
        dense = self.dense.search_many(queries, k)
        return [self._fuse(lex[0], den[0], k) for lex, den in zip(lexical, dense)]
