"""A reranker kept as a LoRA adapter over an installed encoder: a few MB to store, merged into a plain CrossEncoder once.

An adapter folder holds ``adapter_config.json`` and ``adapter_model.safetensors`` (peft's LoRA format, the base named by
its registry id, never a path), ``head.safetensors`` (the scoring head), ``ettin_metadata.json`` (what it is, the base,
pooling and max length, and ``weights_sha256`` of the two weight files) and a model card. :func:`merged_folder` checks
the hash, merges the adapter into the base weights (``peft``'s ``merge_and_unload``) and saves the result as an ordinary
sentence-transformers CrossEncoder folder in the cache, so every runtime loads it like any other model.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from ettin.errors import UserError
from ettin.replica import METADATA_FILE

__all__ = [
    "ADAPTER_CONFIG",
    "ADAPTER_WEIGHTS",
    "HEAD_WEIGHTS",
    "AdapterError",
    "adapter_sha256",
    "attach_lora",
    "build_from_adapter",
    "is_adapter_folder",
    "load_adapter_state",
    "merged_folder",
    "publish_adapter",
    "read_adapter_metadata",
    "save_adapter",
    "write_adapter_files",
]

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
HEAD_WEIGHTS = "head.safetensors"
_MERGED_VERSION = 1
_FIX = "regenerate it with `python -m train scifact-reranker`, or restore it with `git checkout -- <folder>`"


class AdapterError(UserError, RuntimeError):
    """An adapter folder that is incomplete, unreadable, or whose weights differ from its card."""


def is_adapter_folder(folder: str | Path) -> bool:
    """True when ``folder`` holds an adapter reranker (an adapter config and a head), complete or not."""
    root = Path(folder)
    return (root / ADAPTER_CONFIG).is_file() and (root / METADATA_FILE).is_file()


def adapter_sha256(folder: str | Path) -> str:
    """SHA-256 over the adapter's and the head's weight files (names and bytes), the hash its card records."""
    from ettin.io import sha256_file

    h = hashlib.sha256()
    for name in (ADAPTER_WEIGHTS, HEAD_WEIGHTS):
        h.update(name.encode())
        h.update(sha256_file(Path(folder) / name).encode())
    return h.hexdigest()


def read_adapter_metadata(folder: str | Path) -> dict[str, Any]:
    """The adapter's ``ettin_metadata.json``, checked: every file present and the weights' hash equal to the recorded one.

    Raises:
        AdapterError: a missing or unreadable file, or weights whose hash differs from the card's.
    """
    root = Path(folder)
    missing = [n for n in (ADAPTER_CONFIG, ADAPTER_WEIGHTS, HEAD_WEIGHTS, METADATA_FILE) if not (root / n).is_file()]
    if missing:
        raise AdapterError(f"the adapter reranker in {root.name!r} is incomplete (missing {', '.join(missing)}): {_FIX}")
    stats = {n: (root / n).stat() for n in (ADAPTER_WEIGHTS, HEAD_WEIGHTS, METADATA_FILE)}
    files = tuple((n, st.st_size, st.st_mtime_ns) for n, st in stats.items())
    return dict(_verified_metadata(str(root.resolve()), files))


@lru_cache(maxsize=16)
def _verified_metadata(folder: str, files: tuple) -> dict[str, Any]:
    """The hash check of :func:`read_adapter_metadata`, done once per folder and file state (``files``: name, size,
    modification time), so a request that resolves the shipped reranker does not hash its weights again."""
    root = Path(folder)
    try:
        meta = json.loads((root / METADATA_FILE).read_text(encoding="utf-8"))
        recorded = meta["weights_sha256"]
        base = meta["base_encoder"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AdapterError(f"the adapter reranker in {root.name!r} has an unreadable {METADATA_FILE} ({exc}): {_FIX}") from None
    actual = adapter_sha256(root)
    if actual != recorded:
        raise AdapterError(
            f"the adapter reranker in {root.name!r} has weights whose hash ({actual[:12]}…) differs from its card "
            f"({str(recorded)[:12]}…), so it is not the model the card describes: {_FIX}"
        )
    if not isinstance(base, str) or not base:
        raise AdapterError(f"the adapter reranker in {root.name!r} names no base encoder: {_FIX}")
    return meta


def attach_lora(model: Any, *, rank: int, alpha: int, dropout: float = 0.05, target_modules: tuple[str, ...] = ()) -> Any:
    """Wrap the CrossEncoder's encoder in a peft LoRA model (only the adapter and the head then train); returns the model."""
    from peft import LoraConfig, get_peft_model

    transformer = model[0]
    targets = list(target_modules) or ["query", "key", "value", "dense"]
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets)
    transformer.model = get_peft_model(transformer.model, config)
    return model


def _head_state(model: Any) -> dict[str, Any]:
    return {f"{i}.{key}": value.detach().float().contiguous() for i, module in enumerate(model) if i for key, value in module.state_dict().items()}


def save_adapter(model: Any, folder: str | Path, *, base_encoder: str, metadata: dict[str, Any], card: str = "") -> str:
    """Write ``model``'s LoRA adapter (fp16) and head (fp32), its metadata (with the weights' hash) and ``card`` to
    ``folder`` (replaced as a whole, atomically); returns the hash.

    Args:
        model: A CrossEncoder whose encoder :func:`attach_lora` wrapped.
        folder: The adapter folder.
        base_encoder: The registry id of the encoder the adapter applies to (resolved to installed weights when loaded).
        metadata: Recorded in ``ettin_metadata.json`` (``random_init``, ``trained_here``, …); pooling and max length are
            added from the model.
        card: The model card (``README.md``).
    """
    target = Path(folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        digest = write_adapter_files(model, tmp, base_encoder=base_encoder, metadata=metadata, card=card)
        _replace_folder(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return digest


def write_adapter_files(model: Any, folder: str | Path, *, base_encoder: str, metadata: dict[str, Any], card: str = "") -> str:
    """The files of :func:`save_adapter`, written into an existing ``folder`` (a training checkpoint); returns the hash."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    root = Path(folder)
    peft_model = model[0].model
    lora = {k: v.detach().half().contiguous() for k, v in get_peft_model_state_dict(peft_model).items()}
    save_file(lora, str(root / ADAPTER_WEIGHTS))
    save_file(_head_state(model), str(root / HEAD_WEIGHTS))
    config = peft_model.peft_config["default"].to_dict()
    config["base_model_name_or_path"] = base_encoder
    (root / ADAPTER_CONFIG).write_text(json.dumps(_jsonable(config), indent=2, sort_keys=True), encoding="utf-8")
    digest = adapter_sha256(root)
    record = {**metadata, "base_encoder": base_encoder, "pooling": model[1].pooling_mode, "max_length": model.max_length,
              "weights_sha256": digest}
    (root / METADATA_FILE).write_text(json.dumps(record, indent=2, sort_keys=True), encoding="utf-8")
    (root / "README.md").write_text(card, encoding="utf-8")
    return digest


def publish_adapter(source: str | Path, folder: str | Path, *, metadata: dict[str, Any], card: str = "") -> str:
    """Copy a written adapter (a finished run's ``trained`` folder) to ``folder`` with new ``metadata`` and ``card``,
    replacing ``folder`` as a whole, atomically; returns the weights' hash (unchanged by the copy).

    Raises:
        AdapterError: ``source`` is incomplete or its weights differ from its metadata.
    """
    src, target = Path(source), Path(folder)
    base = read_adapter_metadata(src)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for name in (ADAPTER_CONFIG, ADAPTER_WEIGHTS, HEAD_WEIGHTS):
            shutil.copyfile(src / name, tmp / name)
        digest = adapter_sha256(tmp)
        kept = {k: base[k] for k in ("base_encoder", "pooling", "max_length") if k in base}
        record = {**metadata, **kept, "weights_sha256": digest}
        (tmp / METADATA_FILE).write_text(json.dumps(record, indent=2, sort_keys=True), encoding="utf-8")
        (tmp / "README.md").write_text(card, encoding="utf-8")
        _replace_folder(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return digest


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in sorted(value, key=str)] if isinstance(value, set) else [_jsonable(v) for v in value]
    return value if isinstance(value, (str, int, float, bool)) or value is None else str(value)


def _replace_folder(new: Path, target: Path) -> None:
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def load_adapter_state(model: Any, folder: str | Path) -> None:
    """Load an adapter folder's LoRA and head weights into ``model`` (built by :func:`attach_lora` with its settings)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model[0].model, load_file(str(Path(folder) / ADAPTER_WEIGHTS)))
    _load_head(model, folder)


def _load_head(model: Any, folder: str | Path) -> None:
    from safetensors.torch import load_file

    head = load_file(str(Path(folder) / HEAD_WEIGHTS))
    for i, module in enumerate(model):
        if i:
            module.load_state_dict({k[len(f"{i}.") :]: v for k, v in head.items() if k.startswith(f"{i}.")})


def _base_path(base_encoder: str) -> str:
    from ettin.packaged import packaged_path

    local = packaged_path(base_encoder)
    return str(local) if local is not None else base_encoder


def build_from_adapter(folder: str | Path, *, max_length: int | None = None) -> Any:
    """The adapter's CrossEncoder with the adapter merged into the base weights (checked with
    :func:`read_adapter_metadata` first)."""
    import torch
    from peft import PeftModel

    from ettin.architecture import build_reranker

    root = Path(folder)
    meta = read_adapter_metadata(root)
    model = build_reranker(_base_path(meta["base_encoder"]), max_length=max_length or meta.get("max_length"), pooling=meta.get("pooling", "cls"))
    transformer = model[0]
    with torch.no_grad():
        transformer.model = PeftModel.from_pretrained(transformer.model, str(root)).merge_and_unload()
    _load_head(model, root)
    model.eval()
    return model


def _refresh_metadata(target: Path, meta: dict[str, Any]) -> None:
    """Keep the merged copy's card in step with the adapter's (a later run adds test scores; the weights are the same)."""
    wanted = {**meta, "merged_from_adapter": meta["weights_sha256"]}
    path = target / METADATA_FILE
    try:
        if json.loads(path.read_text(encoding="utf-8")) == wanted:
            return
    except (OSError, ValueError):
        pass
    from ettin.io import write_json_atomic

    write_json_atomic(path, wanted)


def merged_folder(folder: str | Path, cache_root: str | Path | None = None) -> Path:
    """The merged CrossEncoder folder of an adapter (built once per weights hash under ``$ETTIN_CACHE/merged``).

    Raises:
        AdapterError: the adapter folder is incomplete, corrupt or differs from its card, or cannot be merged.
    """
    from ettin.paths import cache_dir

    meta = read_adapter_metadata(folder)
    root = Path(cache_root) if cache_root is not None else cache_dir() / "merged"
    target = root / f"{meta['weights_sha256'][:16]}-v{_MERGED_VERSION}"
    if (target / METADATA_FILE).is_file():
        _refresh_metadata(target, meta)
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=root))
    try:
        try:
            model = build_from_adapter(folder)
            model.save_pretrained(str(tmp))
        except AdapterError:
            raise
        except Exception as exc:  # noqa: BLE001 - one clear message for every merging failure
            raise AdapterError(f"cannot merge the adapter reranker in {Path(folder).name!r}: {type(exc).__name__}: {str(exc)[:300]}") from None
        (tmp / METADATA_FILE).write_text(json.dumps({**meta, "merged_from_adapter": meta["weights_sha256"]}, indent=2, sort_keys=True), encoding="utf-8")
        if not (target / METADATA_FILE).is_file():
            shutil.rmtree(target, ignore_errors=True)
            tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
