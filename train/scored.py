"""A scoring folder: its layout (``manifest.json``, ``part-NNNNNN.parquet``) and reading a finished one back with its input.

``python -m train score`` (:mod:`train.score`) writes such folders; ``data select`` and the offline run read them here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from train.tables import TrainDataError, fingerprint, read_table

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["MANIFEST", "part_path", "part_ok", "rows_of", "missing_parts", "read_scored"]

MANIFEST = "manifest.json"


def part_path(out: Path, chunk: int) -> Path:
    """The Parquet part of chunk ``chunk`` in the scoring folder ``out``."""
    return out / f"part-{chunk:06d}.parquet"


def part_ok(path: Path, rows: int) -> bool:
    """Whether the part at ``path`` is on disk, readable and holds ``rows`` rows (anything else is scored again)."""
    import pyarrow.parquet as pq

    try:
        return path.is_file() and pq.ParquetFile(path).metadata.num_rows == rows
    except Exception:  # noqa: BLE001 - an unreadable part is redone
        return False


def rows_of(chunk: int, chunk_size: int, rows: int) -> int:
    """The rows of chunk ``chunk`` (the last chunk may be shorter)."""
    return min(chunk_size, rows - chunk * chunk_size)


def missing_parts(out: Path, chunks: Iterable[int], chunk_size: int, rows: int) -> list[int]:
    """The chunks of ``chunks`` whose part in ``out`` is missing or incomplete."""
    return [c for c in chunks if not part_ok(part_path(out, c), rows_of(c, chunk_size, rows))]


def read_scored(out: str | Path, input_path: str | Path | None = None) -> pa.Table:
    """The scored input: the input table (as recorded in the manifest, or ``input_path``) plus a ``score`` column.

    Raises:
        TrainDataError: no manifest, an input that changed since scoring, or parts missing (names what to rerun).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    manifest_path = out / MANIFEST
    if not manifest_path.is_file():
        raise TrainDataError(f"{out}: not a scoring folder (no {MANIFEST}); run `python -m train score` first")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    n_parts, chunk, rows = manifest["parts"], manifest["chunk_size"], manifest["rows"]
    missing = missing_parts(out, range(n_parts), chunk, rows)
    if missing:
        raise TrainDataError(
            f"{out}: {len(missing)} of {n_parts} parts are missing (e.g. part {missing[0]}); "
            "finish scoring (rerun the same `python -m train score` command for every shard)"
        )
    source = Path(input_path or manifest["input"])
    if fingerprint(source) != manifest["input_sha256"]:
        raise TrainDataError(f"{source} changed since it was scored into {out}; score it again into a new folder")
    table = read_table(source)
    if "score" in table.column_names:
        table = table.drop_columns(["score"])
    parts = pa.concat_tables([pq.read_table(part_path(out, c)) for c in range(n_parts)])
    rows_col = parts.column("row").to_numpy()
    if not np.array_equal(rows_col, np.arange(rows)):
        raise TrainDataError(f"{out}: the parts do not cover rows 0..{rows - 1} exactly once")
    return table.append_column("score", parts.column("score"))
