"""Running models well on the device at hand, split by job:

- :mod:`~ettin.runtime.device` — CPU/GPU probing and the choice of dtype and attention (:func:`best_settings`);
- :mod:`~ettin.runtime.sources` — validating a model id or folder (:func:`resolve_model`) and the one loading error;
- :mod:`~ettin.runtime.models` — :class:`Reranker` / :class:`Embedder` and loading them;
- :mod:`~ettin.runtime.fast` — the fast, lossless scoring path;
- :mod:`~ettin.runtime.cache` — the bounded model cache the app and the CLIs share.
"""

from __future__ import annotations

from ettin.runtime.cache import ModelCache, cached_embedder, cached_reranker, estimate_bytes
from ettin.runtime.device import (
    DEFAULT_MAX_LENGTH,
    Precision,
    RuntimeSettings,
    best_settings,
    cpu_flags,
    cpu_has_native_bf16,
    cpu_model,
    flash_attention_available,
)
from ettin.runtime.fast import encode_pairs, fast_path_supported, plan_batches, score_pairs_fast, tokenize_pairs
from ettin.runtime.models import Embedder, Reranker, keep_head_fp32, load_embedder, load_reranker, model_max_length
from ettin.runtime.sources import ModelLoadError, ModelSource, hub_offline, packaged_path, resolve_model

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "Embedder",
    "ModelCache",
    "ModelLoadError",
    "ModelSource",
    "Precision",
    "Reranker",
    "RuntimeSettings",
    "best_settings",
    "cached_embedder",
    "cached_reranker",
    "cpu_flags",
    "cpu_has_native_bf16",
    "cpu_model",
    "encode_pairs",
    "estimate_bytes",
    "fast_path_supported",
    "flash_attention_available",
    "hub_offline",
    "keep_head_fp32",
    "load_embedder",
    "load_reranker",
    "model_max_length",
    "packaged_path",
    "plan_batches",
    "resolve_model",
    "score_pairs_fast",
    "tokenize_pairs",
]
