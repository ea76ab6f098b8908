"""The shared model cache: loaded models held in one :class:`~ettin.cache.BoundedCache`, bounded by count and memory."""

from __future__ import annotations

import os
from typing import Any

from ettin.cache import BoundedCache
from ettin.runtime.device import INTERACTIVE_MAX_LENGTH, RuntimeSettings, best_settings
from ettin.runtime.models import Embedder, Reranker, load_embedder, load_reranker
from ettin.runtime.sources import resolve_model

__all__ = ["ModelCache", "cached_embedder", "cached_reranker", "estimate_bytes"]


def estimate_bytes(parameters: int, dtype: str) -> int:
    """Rough resident size of a model: parameters × bytes per element × 1.2 for buffers and activations."""
    per = 2 if dtype in ("bfloat16", "float16") else 4
    return int(parameters * per * 1.2)


def _model_bytes(model: Reranker | Embedder) -> int:
    return estimate_bytes(model.parameters, model.settings.dtype)


class ModelCache(BoundedCache[Any]):
    """Loaded models, least recently used dropped first, bounded by count and by estimated memory.

    Args:
        max_models: Most models held at once.
        max_bytes: Most estimated bytes held at once.
    """

    def __init__(self, max_models: int = 3, max_bytes: int = 6 * 1024**3):
        super().__init__(max_items=max_models, max_bytes=max_bytes, size_of=_model_bytes)


_DEFAULT_CACHE = ModelCache(
    max_models=int(os.environ.get("ETTIN_CACHE_MODELS", "3")),
    max_bytes=int(float(os.environ.get("ETTIN_CACHE_GB", "6")) * 1024**3),
)


def cached_reranker(spec: str, settings: RuntimeSettings | None = None, cache: ModelCache | None = None, **kw: Any) -> Reranker:
    """A reranker from ``cache`` (default: the process-wide one), loaded on first use; ``kw`` as for ``resolve_model``.

    Without ``settings`` it runs capped at :data:`~ettin.runtime.device.INTERACTIVE_MAX_LENGTH` tokens per pair (the
    app's latency cap); pass settings for anything else.
    """
    settings = settings or best_settings(max_length=INTERACTIVE_MAX_LENGTH)
    source = resolve_model(spec, kind="reranker", **kw)
    return (cache or _DEFAULT_CACHE).get(("reranker", source.name_or_path, settings), lambda: load_reranker(source, settings))


def cached_embedder(spec: str, settings: RuntimeSettings | None = None, cache: ModelCache | None = None, **kw: Any) -> Embedder:
    """An embedder from ``cache`` (default: the process-wide one), loaded on first use; ``kw`` as for ``resolve_model``.

    Without ``settings`` it runs in fp32 on the best device: corpus embeddings are stored and reused, and a query must be
    embedded exactly as they were.
    """
    settings = settings or best_settings(precision="fp32")
    source = resolve_model(spec, kind="embedder", **kw)
    return (cache or _DEFAULT_CACHE).get(("embedder", source.name_or_path, settings), lambda: load_embedder(source, settings))
