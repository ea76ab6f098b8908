"""Ettin rerankers: the library. It knows nothing of Gradio, evaluation or training.

Layout (one job per module):

- ``registry`` / ``published`` (``published.published()``) — every model the project knows (keyword-only records) and the post's figures, typed;
- ``architecture`` / ``replica`` — the five-module reranker and faithful random-weight replicas of the six sizes;
- ``runtime/`` — device and precision choice, model-id validation, loading, the fast scoring path, the model cache;
- ``corpus`` / ``pipeline`` — BEIR data and retrieve-then-rerank (dense or BM25 first stage, cross-encoder second);
- ``metrics`` — retrieval metrics (pytrec_eval, as MTEB computes them), the project's only implementation;
- ``distributed`` — torchrun ranks and ``--shard i/n`` shares, one GPU per local rank, the gloo barrier;
- shared plumbing: ``cli`` (the verb convention of every ``python -m`` package), ``errors`` (``UserError``), ``cache``
  (the bounded LRU), ``progress`` (tqdm), ``io`` (atomic writes, hashes), ``lazy`` (lazy re-exports), ``paths``,
  ``provenance``.

Heavy dependencies (torch, sentence-transformers, bm25s) are imported lazily; so are the names below.
"""

from __future__ import annotations

from ettin.lazy import lazy_exports

__version__ = "0.1.0"

_PUBLIC = {
    "UserError": "ettin.errors",
    "registry": "ettin.registry",
    "Corpus": "ettin.corpus",
    "BeirDataset": "ettin.corpus",
    "load_beir": "ettin.corpus",
    "scifact": "ettin.corpus",
    "ModelLoadError": "ettin.runtime",
    "RuntimeSettings": "ettin.runtime",
    "best_settings": "ettin.runtime",
    "resolve_model": "ettin.runtime",
    "load_reranker": "ettin.runtime",
    "load_embedder": "ettin.runtime",
    "cached_reranker": "ettin.runtime",
    "cached_embedder": "ettin.runtime",
    "Reranker": "ettin.runtime",
    "Embedder": "ettin.runtime",
    "make_first_stage": "ettin.pipeline",
    "retrieve_and_rerank": "ettin.pipeline",
    "SearchResult": "ettin.pipeline",
    "build_replica": "ettin.replica",
    "build_reranker": "ettin.architecture",
    "evaluate_run": "ettin.metrics",
}

__all__ = ["__version__", *_PUBLIC]

__getattr__ = lazy_exports(__name__, _PUBLIC)
