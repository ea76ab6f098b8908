"""What a loaded model is and what decides its scores: the one provenance of a loaded model, and a score's identity.

A score depends on the weights (id, revision *and* a hash of the files actually loaded: a replica written at the commit
a registry pins shares the id and revision of the real model, never its weights or its ``random_init`` label), on how
they run (device type, backend and the export it runs, precision, torch dtype, attention, compile state, max length) and on the scoring code
itself (:data:`SCORING_VERSION`). :func:`score_identity` picks exactly those fields from a reranker's provenance, so
any cache of scores keyed by it never serves a score computed another way.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from pathlib import Path
from typing import Any

__all__ = [
    "SCORE_IDENTITY_FIELDS",
    "SCORING_VERSION",
    "loaded_provenance",
    "model_revision",
    "model_weights_hash",
    "score_identity",
]

SCORING_VERSION = 2
"""Bumped whenever a change to the scoring code (tokenisation, batching, head precision, an export or its gate) can change
a score; a score cached under another version is never served."""

SCORE_IDENTITY_FIELDS = (
    "id",
    "revision",
    "weights_sha256",
    "random_init",
    "device_type",
    "backend",
    "export",
    "precision",
    "dtype",
    "attn_implementation",
    "compiled",
    "max_length",
    "scoring_version",
)
"""The provenance fields that change a reranker's score (:func:`score_identity`)."""

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_WEIGHT_SUFFIXES = {".safetensors", ".bin"}
_HASHES: dict[tuple[str, tuple[tuple[str, int, int], ...]], str | None] = {}
_HASHES_LOCK = threading.Lock()


def _weight_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix in _WEIGHT_SUFFIXES and p.is_file())


def _file_digest(path: Path) -> str:
    """SHA-256 of a file's content; a Hugging Face cache link to ``blobs/<sha256>`` is named by it, so it is not re-read."""
    from ettin.io import sha256_file

    if path.is_symlink():
        target = path.resolve()
        if target.parent.name == "blobs" and _HEX64.match(target.name):
            return target.name
    return sha256_file(path)


def model_weights_hash(folder: str | os.PathLike | None) -> str | None:
    """Hash of a model folder's weight files (``*.safetensors`` / ``*.bin``): a local folder or a Hub cache snapshot.

    Equal to :func:`ettin.io.weights_hash` of the same files (relative path and SHA-256 of each); in a Hub snapshot the
    SHA-256 is read from the blob each file links to instead of hashing gigabytes again. Remembered per folder while
    its files' sizes and modification times stay the same. ``None`` for a missing folder or one without weights.
    """
    if folder is None:
        return None
    root = Path(folder)
    if not root.is_dir():
        return None
    files = _weight_files(root)
    if not files:
        return None
    stamp = tuple((str(p.relative_to(root)), *_size_and_time(p)) for p in files)
    key = (str(root.resolve()), stamp)
    with _HASHES_LOCK:
        if key in _HASHES:
            return _HASHES[key]
    h = hashlib.sha256()
    for p in files:
        h.update(str(p.relative_to(root)).encode())
        h.update(_file_digest(p).encode())
    digest = h.hexdigest()
    with _HASHES_LOCK:
        _HASHES[key] = digest
    return digest


def _size_and_time(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def model_revision(source: Any, model: Any = None) -> str | None:
    """The Hub commit a model was loaded from (``None`` for a local folder)."""
    if source.is_local:
        return None
    if source.revision:
        return source.revision
    try:
        cfg = getattr(model, "config", None)
        return getattr(cfg, "_commit_hash", None)
    except Exception:  # noqa: BLE001 - provenance is best effort
        return None


def _weights_folder(source: Any, revision: str | None) -> Path | None:
    if source.is_local:
        return Path(source.name_or_path)
    from ettin.runtime.sources import hub_snapshot

    return hub_snapshot(source.name_or_path, revision)


def loaded_provenance(source: Any, settings: Any, parameters: int, model: Any = None) -> dict[str, Any]:
    """The provenance of any loaded model (reranker or embedder): what it is and how it was loaded.

    ``weights_sha256`` is the hash of the files loaded, for a Hub model too (its cache snapshot), so a random replica
    cached under a real model's id and revision never passes for it.
    """
    revision = model_revision(source, model)
    return {
        "id": source.name or source.hub_id or Path(source.name_or_path).name,
        "revision": revision,
        "weights_sha256": model_weights_hash(_weights_folder(source, revision)),
        "random_init": bool(source.random_init),
        "replica_of": source.replica_of,
        "parameters": parameters,
        **settings.as_dict(),
    }


def score_identity(provenance: dict[str, Any]) -> dict[str, Any]:
    """The fields of a reranker's provenance that decide its scores (:data:`SCORE_IDENTITY_FIELDS`); missing ones are
    ``None``. ``device_type`` is the device without its index (``cuda:1`` -> ``cuda``)."""
    out = {name: provenance.get(name) for name in SCORE_IDENTITY_FIELDS}
    device = provenance.get("device")
    out["device_type"] = str(device).split(":")[0] if device else None
    return out
