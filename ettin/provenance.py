"""Provenance shared by every result file: package versions, hardware, date."""

from __future__ import annotations

import importlib.metadata
import platform
from datetime import datetime, timezone
from typing import Any

__all__ = ["BACKEND_PACKAGES", "PACKAGES", "base_provenance", "hardware", "now_iso", "package_versions"]

PACKAGES = ("torch", "transformers", "sentence-transformers", "mteb", "bm25s", "datasets", "numpy", "gradio")
BACKEND_PACKAGES = ("onnx", "onnxscript", "onnxruntime", "openvino", "nncf")
"""What the exported CPU backends are built and run with (:mod:`ettin.runtime.exports`)."""


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def hardware() -> dict[str, Any]:
    """CPU model, core count, bf16 support and GPU name (if any)."""
    import os

    import torch

    from ettin.runtime.device import cpu_has_native_bf16, cpu_model

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "description": gpu or f"{cpu_model()} ({os.cpu_count()} cores)",
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_native_bf16": cpu_has_native_bf16(),
        "gpu": gpu,
        "platform": platform.platform(),
    }


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def base_provenance() -> dict[str, Any]:
    return {"packages": package_versions(), "hardware": hardware(), "date": now_iso(), "python": platform.python_version()}
