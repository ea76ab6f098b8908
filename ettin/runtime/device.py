"""Device probing and the choice of dtype and attention for a device (the one reader of ``/proc/cpuinfo``)."""

from __future__ import annotations

import functools
import platform
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "INTERACTIVE_BATCH",
    "INTERACTIVE_MAX_LENGTH",
    "Precision",
    "RuntimeSettings",
    "best_settings",
    "cpu_flags",
    "cpu_has_native_bf16",
    "cpu_model",
    "flash_attention_available",
]

Precision = Literal["auto", "fp32", "bf16"]

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
    device: str | None = None, precision: Precision = "auto", max_length: int | None = None
) -> RuntimeSettings:
    """Pick dtype and attention for a device; ``max_length=None`` runs a reranker at its own limit (as the post does).

    ``precision="auto"`` (the default): bf16 weights on CUDA and on CPUs that compute bf16 in hardware (AVX512-BF16 or
    AMX), where the speed benchmark measures it at about 2.5x fp32 with Spearman 0.9998 on a trained model; fp32 elsewhere,
    where bf16 is emulated and slower. ``"bf16"`` asks for bf16 but still falls back to fp32 (saying so in ``reason``) on
    a CPU without native bf16; ``"fp32"`` is lossless everywhere. CUDA uses ``flash_attention_2`` when importable.
    """
    import torch

    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"precision must be auto, fp32 or bf16, not {precision!r}")
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if max_length is not None and max_length < 1:
        raise ValueError("max_length must be positive")
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


