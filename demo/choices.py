"""What the app offers: rerankers (local folders and, online, the registry's Hub ids) and first stages, with their labels.

Replicas (random weights) carry :data:`RANDOM_BADGE` wherever they are shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ettin import registry
from ettin.runtime import hub_offline

__all__ = [
    "NO_RERANKER",
    "RANDOM_BADGE",
    "FirstStageChoice",
    "RerankerChoice",
    "default_first_stage",
    "discover_rerankers",
    "first_stage_choices",
]

NO_RERANKER = "none"
RANDOM_BADGE = "random weights — scores meaningless"


@dataclass(frozen=True)
class RerankerChoice:
    """A reranker the app offers: a folder inside the models folder, or a registry Hub id when online.

    Attributes:
        key: What the UI and the API send: a local folder name or a Hub id.
        label: What the dropdown shows.
        spec: What the runtime loads (a resolved local path or a Hub id).
        size: Ettin size when known (``replica_of`` or the registry).
        random_init: A replica with random weights.
        parameters: Parameter count when known.
    """

    key: str
    label: str
    spec: str
    size: str | None
    random_init: bool
    parameters: int | None

    @property
    def local(self) -> bool:
        """Loaded from a folder rather than the Hub."""
        return self.spec != self.key or Path(self.spec).is_dir()


@dataclass(frozen=True)
class FirstStageChoice:
    """A first stage the app offers: an embedder's Hub id or ``bm25``."""

    key: str
    label: str
    available_offline: bool


def _size_of(hub_id: str | None) -> str | None:
    if not hub_id:
        return None
    try:
        return registry.reranker(hub_id).size
    except KeyError:
        return None


def _local_choice(folder: Path) -> RerankerChoice:
    """The choice for one model folder, labelled from its replica metadata."""
    from ettin.replica import read_metadata

    meta = read_metadata(folder) or {}
    random_init = bool(meta.get("random_init"))
    size = meta.get("size") or _size_of(meta.get("replica_of"))
    params = meta.get("parameters") or (registry.RERANKERS[size].total_parameters if size else None)
    what = f"Ettin {size} replica" if random_init and size else ("local model" if not size else f"Ettin {size}")
    label = f"{folder.name} — {what}" + (f" ({RANDOM_BADGE})" if random_init else "")
    return RerankerChoice(folder.name, label, str(folder), size, random_init, params)


def discover_rerankers(models_dir: str | Path | None, include_hub: bool | None = None) -> list[RerankerChoice]:
    """Rerankers in ``models_dir`` plus, when online, the six registry Hub ids.

    Args:
        models_dir: Folder whose sub-folders with a ``config.json`` are models (e.g. ``python -m ettin replica`` output),
            or one model folder itself; ``None`` for none.
        include_hub: Offer the registry Hub ids (default: unless ``HF_HUB_OFFLINE``).

    Returns:
        The choices sorted by parameter count; replicas are labelled with :data:`RANDOM_BADGE`.
    """
    choices: list[RerankerChoice] = []
    if models_dir is not None:
        root = Path(models_dir).expanduser().resolve()
        if root.is_dir():
            folders = [root] if (root / "config.json").is_file() else sorted(p for p in root.iterdir() if p.is_dir())
            choices += [_local_choice(folder) for folder in folders if (folder / "config.json").is_file()]
    if include_hub if include_hub is not None else not hub_offline():
        for meta in registry.RERANKERS.values():
            choices.append(
                RerankerChoice(meta.hub_id, f"{meta.hub_id} (Hub)", meta.hub_id, meta.size, False, meta.total_parameters)
            )
    return sorted(choices, key=lambda c: (c.parameters or 0, c.key))


def first_stage_choices(include_hub: bool | None = None) -> list[FirstStageChoice]:
    """BM25 always; the packaged all-MiniLM-L6-v2 when installed; the other registry embedders only when online."""
    from ettin.runtime import packaged_path

    online = include_hub if include_hub is not None else not hub_offline()
    out = []
    for meta in registry.EMBEDDERS.values():
        local = packaged_path(meta.hub_id) is not None
        if local or online:
            out.append(FirstStageChoice(meta.hub_id, meta.label + ("" if local else " (Hub download)"), local))
    out.append(FirstStageChoice(registry.BM25.id, registry.BM25.label, True))
    return out


def default_first_stage(choices: list[FirstStageChoice], wanted: str | None = None) -> str:
    """The first stage selected at start: ``wanted`` (default: the packaged MiniLM) when offered, else BM25."""
    wanted = wanted or registry.MINILM_ID
    return next((c.key for c in choices if c.key == wanted), registry.BM25.id)
