"""Where the project keeps its bundled data and its caches."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_DATA = PROJECT_ROOT / "data"
BUNDLED_SCIFACT = BUNDLED_DATA / "scifact"
RESOURCES = Path(__file__).resolve().parent / "resources"


def cache_dir() -> Path:
    """Root of the project's caches (corpus embeddings, the replica tokenizer): ``$ETTIN_CACHE`` or ``~/.cache/ettin``."""
    root = Path(os.environ.get("ETTIN_CACHE") or Path.home() / ".cache" / "ettin")
    root.mkdir(parents=True, exist_ok=True)
    return root


def models_dir() -> Path | None:
    """Folder of local models the app may offer (``$ETTIN_MODELS_DIR``), if set."""
    value = os.environ.get("ETTIN_MODELS_DIR")
    return Path(value).expanduser().resolve() if value else None
