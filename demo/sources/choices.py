"""What the app offers: rerankers (local folders and the registry's Hub ids: all of them online, those in the local Hugging
Face cache offline) and first stages, with their labels.

Replicas (random weights) carry :data:`RANDOM_BADGE` wherever they are shown.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ettin import registry
from ettin.io import safetensors_parameters
from ettin.runtime import hub_offline, hub_snapshot

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
        fuse_weight: For a *fused system* (a reranker trained here whose score is combined with the first stage's,
            :func:`ettin.fusion.zscore_fuse`): the reranker's weight, chosen on a dev hold-out; ``None`` for a reranker
            alone. A fused system needs first-stage scores, so ``POST /rerank`` does not offer it.
        max_length: Tokens per pair it was trained and evaluated with (a model trained here: from its card), when the
            app should not run it longer; ``None``: the app's own cap.
    """

    key: str
    label: str
    spec: str
    size: str | None
    random_init: bool
    parameters: int | None
    fuse_weight: float | None = None
    max_length: int | None = None

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
    params = params or safetensors_parameters(folder)  # a model trained here: counted from its weights' headers
    what = f"Ettin {size} replica" if random_init and size else ("local model" if not size else f"Ettin {size}")
    trained_here = meta.get("trained_here")
    if isinstance(trained_here, dict) and trained_here.get("dataset") and not random_init:
        what = _trained_here_label(trained_here)
    label = f"{folder.name} — {what}" + (f" ({RANDOM_BADGE})" if random_init else "")
    return RerankerChoice(folder.name, label, str(folder), size, random_init, params)


_DATASET_NAMES = {"scifact": "SciFact", "nfcorpus": "NFCorpus", "fiqa": "FiQA", "scidocs": "SCIDOCS", "arguana": "ArguAna"}


def _trained_here_label(trained_here: dict) -> str:
    """``trained here on SciFact train`` (+ its test NDCG@10 when the run measured it), from the ``trained_here`` record
    that ``python -m train fit --labels`` writes into the model folder's ``ettin_metadata.json``."""
    dataset = str(trained_here["dataset"])
    what = f"trained here on {_DATASET_NAMES.get(dataset.lower(), dataset)} {trained_here.get('split') or ''}".rstrip()
    score = trained_here.get("test_ndcg@10")
    if isinstance(score, (int, float)) and trained_here.get("test_split"):
        what += f" ({trained_here['test_split']} NDCG@10 {score:.3f})"
    return what


def _hub_choice(meta: registry.RerankerMeta, snapshot: Path | None) -> RerankerChoice:
    """The choice for a registry Hub id; one in the local cache is labelled from the ``ettin_metadata.json`` of its
    snapshot (read locally: listing never touches the network)."""
    from ettin.replica import read_metadata

    cached = snapshot is not None
    label_meta = (read_metadata(snapshot) or {}) if cached else {}
    random_init = bool(label_meta.get("random_init"))
    where = "local Hub cache" if cached else "Hub"
    label = f"{meta.hub_id} ({where})" + (f" ({RANDOM_BADGE})" if random_init else "")
    return RerankerChoice(meta.hub_id, label, meta.hub_id, meta.size, random_init, meta.total_parameters)


def _trained_choices() -> list[RerankerChoice]:
    """The rerankers trained here and shipped with the project (:data:`ettin.registry.TRAINED_RERANKERS`), each as its
    fused system (when its card has a fuse weight) and alone, the better of the two on the card's dev scores first, each
    labelled with its own SciFact test score; one whose adapter is missing or differs from its card is left out, with a
    warning (the app still starts)."""
    import warnings

    from ettin.adapter import AdapterError, read_adapter_metadata
    from ettin.fusion import fused_name
    from ettin.paths import RESOURCES

    out = []
    for meta in registry.TRAINED_RERANKERS.values():
        try:
            card = read_adapter_metadata(RESOURCES / meta.folder)
        except AdapterError as exc:
            warnings.warn(f"{meta.id} is not offered: {exc}", stacklevel=2)
            continue
        trained = card.get("trained_here") or {}
        weight = trained.get("fuse_weight")
        length = card.get("max_length") if isinstance(card.get("max_length"), int) else None
        alone = RerankerChoice(meta.id, f"{meta.id} — {meta.label}{_test_score(trained, meta.id)}", meta.id, None,
                               False, None, max_length=length)  # fmt: skip
        if not (isinstance(weight, (int, float)) and 0 <= weight <= 1):
            out.append(alone)
            continue
        name = fused_name(meta.id, float(weight))
        what = f"{meta.id}'s score fused with the first stage's (z-scores, w = {weight:g} chosen on dev); {meta.label}"
        fused = RerankerChoice(name, f"{name} — {what}{_test_score(trained, name)}", meta.id, None, False, None,
                               fuse_weight=float(weight), max_length=length)  # fmt: skip
        out += [fused, alone] if _dev_mean(trained, f"fused_w{weight:g}") >= _dev_mean(trained, "reranker") else [alone, fused]
    return out


def _dev_mean(trained: dict, system: str) -> float:
    """The card's dev NDCG@10 of ``system`` (``reranker`` or ``fused_w<w>``) averaged over the first stages (0 if absent):
    what orders a trained reranker's two systems, the better on dev first."""
    rows = [row.get(system) for row in (trained.get("dev_ndcg@10") or {}).values() if isinstance(row, dict)]
    scores = [s for s in rows if isinstance(s, (int, float))]
    return sum(scores) / len(scores) if scores else 0.0


def _test_score(trained: dict, system: str) -> str:
    """``, SciFact test NDCG@10 0.716 [0.674, 0.757] reranking BM25 top 100 (BM25 alone 0.686)`` from the card."""
    from eval.leaderboard.columns import system_name  # how the card's test rows are named

    test = trained.get("test") or {}
    score = test.get(system_name(registry.BM25.id, system)) or {}
    if score.get("low") is None:
        return ""
    text = f", SciFact test NDCG@10 {score['ndcg_at_10']:.3f} [{score['low']:.3f}, {score['high']:.3f}] reranking BM25"
    alone = (test.get(registry.BM25.id) or {}).get("ndcg_at_10")
    return text + (f" (BM25 alone {alone:.3f})" if isinstance(alone, (int, float)) else "")


def discover_rerankers(
    models_dir: str | Path | None, include_hub: bool | None = None, include_trained: bool | None = None
) -> list[RerankerChoice]:
    """Rerankers in ``models_dir`` plus the six registry Hub ids: all of them online, those in the local Hugging Face
    cache offline (e.g. filled by ``python -m ettin hub-cache``).

    Args:
        models_dir: Folder whose sub-folders with a ``config.json`` are models (e.g. ``python -m ettin replica`` output),
            or one model folder itself; ``None`` for none.
        include_hub: ``True``: offer all six Hub ids; ``False``: none; default: all online, the cached ones offline.
        include_trained: Offer the rerankers trained here (:func:`_trained_choices`); default: unless the environment
            sets ``ETTIN_TRAINED_RERANKERS=0`` (a deployment that offers only Ettin models; the test suite's default).

    Returns:
        The choices sorted by parameter count; replicas (folders or cached Hub ids) are labelled with :data:`RANDOM_BADGE`.
        When no real (non-replica) Ettin reranker is among them, the rerankers trained here come first (the offline
        default); otherwise they come last.
    """
    choices: list[RerankerChoice] = []
    if models_dir is not None:
        root = Path(models_dir).expanduser().resolve()
        if root.is_dir():
            folders = [root] if (root / "config.json").is_file() else sorted(p for p in root.iterdir() if p.is_dir())
            choices += [_local_choice(folder) for folder in folders if (folder / "config.json").is_file()]
    if include_hub is not False:
        offline = hub_offline()
        for meta in registry.RERANKERS.values():
            snapshot = hub_snapshot(meta.hub_id)
            if snapshot is not None or include_hub or not offline:
                choices.append(_hub_choice(meta, snapshot))
    choices = sorted(choices, key=lambda c: (c.parameters or 0, c.key))
    if include_trained is None:
        include_trained = os.environ.get("ETTIN_TRAINED_RERANKERS", "1").strip() != "0"
    trained = _trained_choices() if include_trained else []
    real_ettin = any(c.size and not c.random_init for c in choices)
    return [*choices, *trained] if real_ettin else [*trained, *choices]


def first_stage_choices(include_hub: bool | None = None) -> list[FirstStageChoice]:
    """BM25 always; the packaged all-MiniLM-L6-v2 when installed (and then the hybrid of the two); the other registry
    embedders only when online."""
    from ettin.runtime import packaged_path

    online = include_hub if include_hub is not None else not hub_offline()
    out = []
    for meta in registry.EMBEDDERS.values():
        local = packaged_path(meta.hub_id) is not None
        if local or online:
            out.append(FirstStageChoice(meta.hub_id, meta.label + ("" if local else " (Hub download)"), local))
    out.append(FirstStageChoice(registry.BM25.id, registry.BM25.label, True))
    if any(c.key == registry.HYBRID.default_embedder and c.available_offline for c in out):
        label = f"Hybrid: BM25 + {registry.embedder(registry.HYBRID.default_embedder).label} (RRF k={registry.HYBRID.rrf_k})"
        out.append(FirstStageChoice(registry.HYBRID.id, label, True))
    return out


def default_first_stage(choices: list[FirstStageChoice], wanted: str | None = None) -> str:
    """The first stage selected at start: ``wanted`` (default: the packaged MiniLM) when offered, else BM25."""
    wanted = wanted or registry.MINILM_ID
    return next((c.key for c in choices if c.key == wanted), registry.BM25.id)
