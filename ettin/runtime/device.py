"""Device probing and the choice of dtype and attention for a device (the one reader of ``/proc/cpuinfo``)."""

from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass, replace
from typing import Any, Literal

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "INTERACTIVE_BATCH",
    "BACKENDS",
    "INTERACTIVE_MAX_LENGTH",
    "PRECISIONS",
    "Precision",
    "RuntimeSettings",
    "best_settings",
    "cpu_flags",
    "cpu_has_native_bf16",
    "cpu_model",
    "flash_attention_available",
    "physical_cores",
]

Precision = Literal["auto", "fp32", "bf16", "int8"]
PRECISIONS = ("auto", "fp32", "bf16", "int8")
"""What a reranker may be asked to run in; ``int8`` exists only for the exported backends."""
BACKENDS = ("torch", "onnxruntime", "openvino", "auto")
"""Where a reranker's forward pass runs: torch itself, an ONNX Runtime or OpenVINO export (:mod:`ettin.runtime.backends`),
or ``auto``, the fastest setting that passes the correctness gate on this machine."""

DEFAULT_MAX_LENGTH = 512
"""The speed benchmark's truncation (the post's Table 2 protocol); evaluation and training use the model's own limit."""

INTERACTIVE_MAX_LENGTH = 512
"""The cap the app (and ``ettin latency``) put on a reranked pair, chosen for latency; the app says so where it shows it."""

INTERACTIVE_BATCH = 16
"""Pairs per forward pass of an interactive rerank (a search, a comparison, a ``/rerank`` call): for its 30-100 pairs on
a CPU, 32 pads each batch to a much longer pair (0.62 s vs 0.38 s for 30 SciFact pairs, 17m replica, bf16, 2 cores)."""


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> dict[str, str]:
    """The first processor's fields from ``/proc/cpuinfo`` (empty where that file does not exist)."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def cpu_flags() -> frozenset[str]:
    """CPU feature flags (empty where ``/proc/cpuinfo`` does not exist)."""
    return frozenset(_cpuinfo().get("flags", "").split())


def cpu_model() -> str:
    """The CPU's model name, or the platform's best guess."""
    return _cpuinfo().get("model name") or platform.processor() or platform.machine()


def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bfloat16 in hardware (AVX512-BF16 or AMX-BF16); bf16 is slower without it."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def physical_cores() -> int:
    """Physical CPU cores (what the exported backends pin one thread each to); the logical count where unknown."""
    import psutil

    return int(psutil.cpu_count(logical=False) or os.cpu_count() or 1)


def flash_attention_available() -> bool:
    """True where transformers itself can run ``attn_implementation="flash_attention_2"``: the ``flash_attn`` package
    (2.3.3+, on a CUDA-like device) or, without it, the ``kernels`` package (transformers then loads FlashAttention-2 from
    the Hub's ``kernels-community`` repositories). Asks transformers' own check, ``is_flash_attn_2_available``."""
    from transformers.utils import is_flash_attn_2_available

    return bool(is_flash_attn_2_available(kernels_fallback_ok=True))


@dataclass(frozen=True)
class RuntimeSettings:
    """How a model is loaded and run."""

    device: str
    dtype: str  # "float32" | "bfloat16"
    attn_implementation: str  # "sdpa" | "flash_attention_2" | "eager"
    max_length: int | None = None
    """Tokens per pair; ``None``: the model's own limit (``load_reranker`` replaces it with the number it resolved)."""
    reason: str = ""
    backend: str = "torch"
    """One of :data:`BACKENDS`; anything but ``torch`` is attached by ``load_reranker`` (falling back to torch, with the
    reason logged and recorded, when no export passes the gate)."""
    precision: str = "auto"
    """The precision asked of an exported backend (:data:`PRECISIONS`); torch itself runs in ``dtype``."""

    @property
    def torch_dtype(self):
        import torch

        return getattr(torch, self.dtype)

    def model_kwargs(self) -> dict[str, Any]:
        return {"dtype": self.torch_dtype, "attn_implementation": self.attn_implementation}

    def as_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "dtype": self.dtype,
            "attn_implementation": self.attn_implementation,
            "max_length": self.max_length,
        }


def best_settings(
    device: str | None = None, precision: Precision = "auto", max_length: int | None = None, backend: str = "torch"
) -> RuntimeSettings:
    """Pick dtype and attention for a device; ``max_length=None`` runs a reranker at its own limit (as the post does).

    ``precision="auto"`` (the default): bf16 weights on CUDA and on CPUs that compute bf16 in hardware (AVX512-BF16 or
    AMX); fp32 elsewhere, where bf16 is emulated and slower (``python -m eval speed`` measures both, and its
    ``--accuracy-model`` check judges bf16 on a trained model). ``"bf16"`` asks for bf16 but still falls back to fp32
    (saying so in ``reason``) on a CPU without native bf16; ``"fp32"`` is lossless everywhere. CUDA uses
    ``flash_attention_2`` when importable.

    ``backend`` other than ``torch`` (:data:`BACKENDS`) asks ``load_reranker`` to attach an exported backend in
    ``precision`` (``int8`` only there); the torch model it keeps as the fallback is loaded as above (``int8``: as
    ``auto``).

    Raises:
        ValueError: an unknown precision or backend, ``int8`` on torch, or a non-positive ``max_length``.
    """
    import torch

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if precision == "int8" and backend == "torch":
        raise ValueError("int8 runs only on an exported backend: use backend onnxruntime, openvino or auto")
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if max_length is not None and max_length < 1:
        raise ValueError("max_length must be positive")
    chosen = _torch_settings(device, "auto" if precision == "int8" else precision, max_length)
    if backend == "torch":
        return chosen
    return replace(chosen, backend=backend, precision=precision, reason=f"{chosen.reason}; {backend} {precision} asked")


def _torch_settings(device: str, precision: str, max_length: int | None) -> RuntimeSettings:
    """dtype and attention of the torch model (see :func:`best_settings`)."""
    if precision == "fp32":
        return RuntimeSettings(device, "float32", "sdpa", max_length, "fp32 requested (lossless)")
    if device.startswith("cuda"):
        if flash_attention_available():
            return RuntimeSettings(device, "bfloat16", "flash_attention_2", max_length, "CUDA with flash-attn")
        return RuntimeSettings(device, "bfloat16", "sdpa", max_length, "CUDA, flash-attn not installed")
    if cpu_has_native_bf16():
        return RuntimeSettings(device, "bfloat16", "sdpa", max_length, f"{precision}: CPU with native bf16")
    if precision == "bf16":
        return RuntimeSettings(device, "float32", "sdpa", max_length, "bf16 requested but this CPU lacks native bf16")
    return RuntimeSettings(device, "float32", "sdpa", max_length, "auto: CPU without native bf16, fp32")
