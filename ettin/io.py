"""Small file helpers: atomic writes and content hashes."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Write to a temporary file next to ``path`` and rename it into place only if the block succeeds.

    A reader therefore sees the old file or the complete new one, never a half-written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    """Serialise ``data`` as indented JSON and write it atomically."""
    with atomic_open(path) as f:
        json.dump(data, f, indent=2, ensure_ascii=False, sort_keys=False)
        f.write("\n")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def weights_hash(model_dir: str | os.PathLike) -> str | None:
    """Hash of a local model folder's weight files (``*.safetensors``/``*.bin``), or ``None`` if it has none."""
    root = Path(model_dir)
    files = sorted(p for p in root.rglob("*") if p.suffix in {".safetensors", ".bin"} and p.is_file())
    if not files:
        return None
    h = hashlib.sha256()
    for p in files:
        h.update(str(p.relative_to(root)).encode())
        h.update(sha256_file(p).encode())
    return h.hexdigest()


SAFETENSORS_MAX_HEADER = 100_000_000  # the format's own limit on a header's bytes


def safetensors_parameters(model_dir: str | os.PathLike) -> int | None:
    """Parameters in a local sentence-transformers folder's ``*.safetensors`` files (the top folder and the module
    sub-folders ``modules.json`` names), read from the file headers alone; ``None`` when there are none or one is
    unreadable."""
    import math

    root, total = Path(model_dir), 0
    try:
        modules = [root / m["path"] for m in json.loads((root / "modules.json").read_text()) if m.get("path")]
    except (OSError, ValueError, TypeError, KeyError):
        modules = []
    for path in [p for folder in [root, *modules] for p in sorted(folder.glob("*.safetensors"))]:
        try:
            with path.open("rb") as f:
                size = int.from_bytes(f.read(8), "little")
                if size > SAFETENSORS_MAX_HEADER:
                    return None
                header = json.loads(f.read(size))
            total += sum(math.prod(t["shape"]) for name, t in header.items() if name != "__metadata__")
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return None
    return total or None
