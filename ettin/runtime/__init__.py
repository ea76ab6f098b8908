"""Running models well on the device at hand, split by job:

- :mod:`~ettin.runtime.device` — CPU/GPU probing and the choice of dtype and attention (:func:`best_settings`);
- :mod:`~ettin.runtime.sources` — validating a model id or folder (:func:`resolve_model`) and the one loading error;
- :mod:`~ettin.runtime.models` — :class:`Reranker` / :class:`Embedder` and loading them;
- :mod:`~ettin.runtime.fast` — the fast, lossless scoring path;
- :mod:`~ettin.runtime.compiled` — the opt-in compiled encoder;
- :mod:`~ettin.runtime.cache` — the bounded model cache the app and the CLIs share;
- :mod:`~ettin.runtime.identity` — the one provenance of a loaded model and what decides a score (score-cache keys);
- :mod:`~ettin.runtime.exports` — ONNX / OpenVINO exports built once per (weights, backend, precision, max length);
- :mod:`~ettin.runtime.backends` — ONNX Runtime and OpenVINO running those exports;
- :mod:`~ettin.runtime.gate` — the correctness gate every export passes against torch fp32;
- :mod:`~ettin.runtime.accelerate` — picking, gating and attaching a backend, at load or in the background
  (:func:`start_backend_build`, which swaps it in while the reranker serves); :mod:`~ettin.runtime.worker` is the
  child process of that build.

The names below are imported from their module on first use, so ``ettin.runtime.device`` stays light.
"""

from __future__ import annotations

from ettin.lazy import lazy_exports

_EXPORTS = {
    "BACKENDS": "ettin.runtime.device",
    "PRECISIONS": "ettin.runtime.device",
    "SCORING_VERSION": "ettin.runtime.identity",
    "Backend": "ettin.runtime.backends",
    "BackendBuild": "ettin.runtime.accelerate",
    "BackendChoice": "ettin.runtime.accelerate",
    "attach_backend": "ettin.runtime.accelerate",
    "backend_missing_reason": "ettin.runtime.backends",
    "loaded_provenance": "ettin.runtime.identity",
    "physical_cores": "ettin.runtime.device",
    "prepare_backend": "ettin.runtime.accelerate",
    "score_identity": "ettin.runtime.identity",
    "start_backend_build": "ettin.runtime.accelerate",
    "DEFAULT_MAX_LENGTH": "ettin.runtime.device",
    "Embedder": "ettin.runtime.models",
    "INTERACTIVE_BATCH": "ettin.runtime.device",
    "INTERACTIVE_MAX_LENGTH": "ettin.runtime.device",
    "ModelCache": "ettin.runtime.cache",
    "ModelLoadError": "ettin.runtime.sources",
    "ModelSource": "ettin.runtime.sources",
    "Precision": "ettin.runtime.device",
    "Reranker": "ettin.runtime.models",
    "RuntimeSettings": "ettin.runtime.device",
    "best_settings": "ettin.runtime.device",
    "cached_embedder": "ettin.runtime.cache",
    "cached_reranker": "ettin.runtime.cache",
    "COMPILE_MODES": "ettin.runtime.compiled",
    "CompiledForward": "ettin.runtime.compiled",
    "compile_encoder": "ettin.runtime.compiled",
    "compiled_forward": "ettin.runtime.compiled",
    "compiler_missing_reason": "ettin.runtime.compiled",
    "no_more_compiling": "ettin.runtime.compiled",
    "cpu_flags": "ettin.runtime.device",
    "cpu_has_native_bf16": "ettin.runtime.device",
    "cpu_model": "ettin.runtime.device",
    "encode_pairs": "ettin.runtime.fast",
    "estimate_bytes": "ettin.runtime.cache",
    "fast_path_supported": "ettin.runtime.fast",
    "flash_attention_available": "ettin.runtime.device",
    "hub_metadata": "ettin.runtime.sources",
    "hub_offline": "ettin.runtime.sources",
    "hub_snapshot": "ettin.runtime.sources",
    "keep_head_fp32": "ettin.runtime.models",
    "load_embedder": "ettin.runtime.models",
    "load_reranker": "ettin.runtime.models",
    "model_label": "ettin.runtime.sources",
    "model_max_length": "ettin.runtime.models",
    "packaged_path": "ettin.runtime.sources",
    "plan_batches": "ettin.runtime.fast",
    "resolve_model": "ettin.runtime.sources",
    "score_pairs_fast": "ettin.runtime.fast",
    "tokenize_pairs": "ettin.runtime.fast",
}

__all__ = [
    "BACKENDS",
    "PRECISIONS",
    "SCORING_VERSION",
    "Backend",
    "BackendBuild",
    "BackendChoice",
    "attach_backend",
    "backend_missing_reason",
    "loaded_provenance",
    "physical_cores",
    "prepare_backend",
    "score_identity",
    "start_backend_build",
    "DEFAULT_MAX_LENGTH",
    "Embedder",
    "INTERACTIVE_BATCH",
    "INTERACTIVE_MAX_LENGTH",
    "ModelCache",
    "ModelLoadError",
    "ModelSource",
    "Precision",
    "Reranker",
    "RuntimeSettings",
    "best_settings",
    "cached_embedder",
    "cached_reranker",
    "COMPILE_MODES",
    "CompiledForward",
    "compile_encoder",
    "compiled_forward",
    "compiler_missing_reason",
    "no_more_compiling",
    "cpu_flags",
    "cpu_has_native_bf16",
    "cpu_model",
    "encode_pairs",
    "estimate_bytes",
    "fast_path_supported",
    "flash_attention_available",
    "hub_metadata",
    "hub_offline",
    "hub_snapshot",
    "keep_head_fp32",
    "load_embedder",
    "load_reranker",
    "model_label",
    "model_max_length",
    "packaged_path",
    "plan_batches",
    "resolve_model",
    "score_pairs_fast",
    "tokenize_pairs",
]

__getattr__ = lazy_exports(__name__, _EXPORTS)
