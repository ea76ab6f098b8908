"""Model references: validating a user's id or folder, where it loads from, and the one clear loading error."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from ettin import registry
from ettin.adapter import is_adapter_folder
from ettin.packaged import packaged_path
from ettin.errors import UserError
from ettin.replica import METADATA_FILE, read_metadata

__all__ = [
    "ModelLoadError",
    "ModelSource",
    "hub_metadata",
    "hub_offline",
    "hub_snapshot",
    "loading_error",
    "model_label",
    "packaged_path",
    "resolve_model",
    "trained_source",
    "with_hub_identity",
]

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


class ModelLoadError(UserError, RuntimeError):
    """A model id that is unknown, invalid, or cannot be loaded here; the message says why and what to do."""


def hub_offline() -> bool:
    """True when the Hugging Face Hub is switched off for this process, read as ``huggingface_hub`` reads it:
    ``HF_HUB_OFFLINE`` (or, when that is unset or empty, ``TRANSFORMERS_OFFLINE``) is 1, ON, YES or TRUE, any case."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().upper() in ("1", "ON", "YES", "TRUE")


@dataclass(frozen=True)
class ModelSource:
    """A validated model reference: where to load it from and what it is."""

    spec: str
    name_or_path: str
    is_local: bool
    hub_id: str | None = None
    trust_remote_code: bool = False
    random_init: bool = False
    replica_of: str | None = None
    revision: str | None = None
    """The Hub commit the model was loaded from (set by :func:`with_hub_identity` after loading)."""
    name: str | None = None
    """The name results record when it is neither the Hub id nor the folder's name (a reranker trained here)."""


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def resolve_model(
    spec: str,
    *,
    kind: Literal["reranker", "embedder"],
    allow_local: bool = True,
    local_roots: Sequence[str | Path] | None = None,
) -> ModelSource:
    """Validate a model reference typed by a user or given on a command line.

    Accepts an Ettin size label (``17m``), a reranker trained here (``minilm-scifact``), a registry Hub id, any Hub-shaped
    id (``org/name``), or, when ``allow_local``, an existing local folder (restricted to ``local_roots`` when given; an
    adapter folder is merged into the cache first, :mod:`ettin.adapter`). Registry models may need remote code; anything
    else never runs remote code.

    Raises:
        ModelLoadError: empty, malformed, path-like or unknown ids, and local folders outside ``local_roots``.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ModelLoadError(f"no {kind} given")
    spec = spec.strip()
    if len(spec) > 300 or any(ord(c) < 32 for c in spec):
        raise ModelLoadError(f"invalid {kind} id")
    if kind == "reranker" and spec.lower() in registry.TRAINED_RERANKERS:
        return trained_source(spec.lower())
    if kind == "reranker" and spec.lower() in registry.RERANKERS:
        return ModelSource(spec, registry.RERANKERS[spec.lower()].hub_id, False, registry.RERANKERS[spec.lower()].hub_id)
    if kind == "embedder" and spec in registry.EMBEDDERS:
        local = packaged_path(spec)
        meta = registry.EMBEDDERS[spec]
        if local is not None:
            return ModelSource(spec, str(local), True, spec)
        return ModelSource(spec, spec, False, spec, trust_remote_code=meta.trust_remote_code)

    candidate = Path(spec).expanduser()
    looks_like_path = spec.startswith((".", "/", "~")) or os.sep in spec.replace("/", "", 1) or candidate.is_dir()
    if looks_like_path and candidate.is_dir():
        if not allow_local:
            raise ModelLoadError(f"local model folders are not accepted here: {spec!r}")
        resolved = candidate.resolve()
        if local_roots is not None and not _inside(resolved, [Path(r).resolve() for r in local_roots]):
            raise ModelLoadError(f"{spec!r} is outside the allowed models folder")
        if kind == "reranker" and is_adapter_folder(resolved):
            return _adapter_source(spec, resolved)
        meta = read_metadata(resolved)
        return ModelSource(
            spec,
            str(resolved),
            True,
            random_init=bool(meta and meta.get("random_init")),
            replica_of=meta.get("replica_of") if meta else None,
        )
    if ".." in spec or not _HUB_ID.match(spec):
        known = ", ".join(registry.SIZES) if kind == "reranker" else ", ".join(registry.FIRST_STAGE_IDS)
        raise ModelLoadError(f"unknown {kind} {spec!r}: use a Hub id like 'org/name', a local model folder, or one of: {known}")
    return ModelSource(spec, spec, False, spec)


def trained_source(trained_id: str) -> ModelSource:
    """The shipped reranker ``trained_id`` (:data:`ettin.registry.TRAINED_RERANKERS`), merged once into the cache.

    Raises:
        ModelLoadError: its adapter is missing, corrupt, differs from its card, or cannot be merged.
    """
    from ettin.paths import RESOURCES

    meta = registry.TRAINED_RERANKERS[trained_id]
    return _adapter_source(trained_id, RESOURCES / meta.folder, name=trained_id)


def _adapter_source(spec: str, folder: Path, name: str | None = None) -> ModelSource:
    from ettin.adapter import AdapterError, merged_folder

    try:
        merged = merged_folder(folder)
    except AdapterError as exc:
        raise ModelLoadError(str(exc)) from None
    return ModelSource(spec, str(merged), True, name=name or folder.name)


def hub_snapshot(repo_id: str, revision: str | None = None) -> Path | None:
    """The snapshot folder of ``repo_id`` at ``revision`` (default: ``main``) in the local Hugging Face cache, if it holds
    one (its name is the commit); never touches the network."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    except Exception:  # noqa: BLE001 - an id huggingface_hub refuses is simply not cached
        return None
    return Path(found).parent if isinstance(found, str) else None


def hub_metadata(repo_id: str, revision: str | None = None) -> dict[str, Any] | None:
    """The ``ettin_metadata.json`` of a Hub model (a replica's random-init label), wherever it resolves: the local cache
    first, then, when the Hub is on, the repository itself; ``None`` when the model has none."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url, try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id, METADATA_FILE, revision=revision)
        if not isinstance(found, str) and not hub_offline():
            # One HEAD request without retries first: a real model has no such file, and an unreachable Hub must not
            # cost the download's retry backoff.
            get_hf_file_metadata(hf_hub_url(repo_id, METADATA_FILE, revision=revision), timeout=5)
            found = hf_hub_download(repo_id, METADATA_FILE, revision=revision)
    except Exception:  # noqa: BLE001 - no such file (a real model) or the Hub unreachable: nothing says it is random
        return None
    return read_metadata(Path(found).parent) if isinstance(found, str) else None


def model_label(spec: str) -> dict[str, Any] | None:
    """The ``ettin_metadata.json`` of a model given as a local folder or a Hub id, wherever it resolves; ``None`` when it
    has none (a real model)."""
    folder = Path(spec).expanduser()
    if folder.is_dir():
        return read_metadata(folder)
    return hub_metadata(spec) if _HUB_ID.match(spec.strip()) else None


def with_hub_identity(source: ModelSource, revision: str | None = None) -> ModelSource:
    """``source`` of a model loaded from the Hub, completed with the commit it resolved to and its replica label."""
    if source.is_local or not source.hub_id:
        return source
    snapshot = hub_snapshot(source.name_or_path, revision)
    commit = snapshot.name if snapshot is not None else revision
    meta = hub_metadata(source.name_or_path, commit)
    return replace(
        source,
        revision=commit,
        random_init=bool(meta and meta.get("random_init")),
        replica_of=meta.get("replica_of") if meta else None,
    )


def loading_error(source: ModelSource, exc: Exception) -> ModelLoadError:
    """The one message for a model that failed to load: what failed and what to do about it (Hub off, Hub on, folder)."""
    if source.is_local:
        hint = "check that the folder holds a complete model"
    elif hub_offline():
        hint = (
            f"the Hub is switched off (HF_HUB_OFFLINE=1) and {source.name_or_path} is not in the local cache: download it "
            "once online, or fill a local cache with `python -m ettin hub-cache --out DIR` and set HF_HOME=DIR"
        )
    else:
        hint = (
            f"check that {source.name_or_path} exists on the Hugging Face Hub (and that you may access it) and that the Hub "
            "is reachable from here"
        )
    return ModelLoadError(f"cannot load {source.spec!r}: {type(exc).__name__}: {str(exc)[:300]} — {hint}")

