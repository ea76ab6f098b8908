"""Reading and writing the recipe's tables (Parquet / JSON Lines) with clear errors, atomic writes and fingerprints."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ettin.errors import UserError
from ettin.io import atomic_open, sha256_file, write_json_atomic

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "QUERY_COLUMNS",
    "DOCUMENT_COLUMNS",
    "SCORE_COLUMNS",
    "TrainDataError",
    "data_files",
    "read_table",
    "read_dataset",
    "find_column",
    "require_columns",
    "write_parquet_atomic",
    "fingerprint",
    "write_manifest",
    "read_query_ids",
]

WRITER_BATCH_ROWS = 50_000  # rows per record batch of the memory-mapped copy

# Accepted spellings of the three training columns (first match wins).
QUERY_COLUMNS = ("query", "question", "anchor", "sentence1", "text_a")
DOCUMENT_COLUMNS = ("document", "passage", "positive", "doc", "text", "sentence2", "text_b")
SCORE_COLUMNS = ("score", "scores", "label", "labels", "teacher_score")


class TrainDataError(UserError, ValueError):
    """Training input that cannot be used (missing file, malformed Parquet/JSONL, missing columns); meant for the user."""


def data_files(path: str | Path) -> list[Path]:
    """The Parquet / JSONL files of ``path`` (a file, or a folder read in sorted order)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(
            p for p in path.iterdir() if p.is_file() and not p.name.startswith(".") and _kind(p) is not None
        )
        if not files:
            raise TrainDataError(f"{path}: the folder holds no .parquet or .jsonl files")
        return files
    raise TrainDataError(f"{path}: no such file or folder")


def _kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
        return "jsonl"
    return None


def read_table(path: str | Path) -> pa.Table:
    """Read a Parquet or JSON Lines file (or a folder of them) into one Arrow table.

    Raises:
        TrainDataError: missing path, unknown extension, unreadable or malformed file, files whose columns differ.
    """
    import pyarrow as pa
    import pyarrow.json as pajson
    import pyarrow.parquet as pq

    tables = []
    for file in data_files(path):
        kind = _kind(file)
        if kind is None:
            raise TrainDataError(f"{file.name}: unknown format (expected .parquet or .jsonl)")
        try:
            if kind == "parquet":
                table = pq.read_table(file)
            else:
                table = pajson.read_json(file)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, KeyError) as exc:
            raise TrainDataError(f"{file.name}: cannot read as {kind}: {str(exc).splitlines()[0][:300]}") from None
        tables.append(table)
    if len(tables) == 1:
        return tables[0]
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise TrainDataError(f"{path}: the files do not share one schema: {str(exc)[:300]}") from None


def read_dataset(path: str | Path, columns: Sequence[str] | None = None, cache_dir: str | Path | None = None):
    """Read Parquet or JSON Lines files (or a folder of them) as one memory-mapped ``datasets.Dataset``.

    ``datasets`` converts the files batch by batch (a Parquet row group at a time) into its Arrow cache and memory-maps
    the result, so memory stays flat however many rows there are; only ``columns`` are read when given. The cache is
    ``$ETTIN_CACHE/datasets`` unless ``cache_dir`` says otherwise; an unchanged file is converted once.

    Raises:
        TrainDataError: missing path, unknown extension or a mix of kinds, unreadable or malformed file, missing columns.
    """
    import datasets

    files = data_files(path)
    kinds = {_kind(f) for f in files}
    if None in kinds:
        raise TrainDataError(f"{path}: unknown format (expected .parquet or .jsonl files)")
    if len(kinds) > 1:
        raise TrainDataError(f"{path}: mixes Parquet and JSONL files; keep one kind per folder")
    kind = kinds.pop()
    for file in files:
        _check_file(file, kind, columns, str(path))
    if cache_dir is None:
        from ettin.paths import cache_dir as ettin_cache

        cache_dir = ettin_cache() / "datasets"
    try:
        dataset = datasets.load_dataset(
            kind if kind == "parquet" else "json",
            data_files=[str(f) for f in files],
            split="train",
            cache_dir=str(cache_dir),
            # Few large record batches: opening the memory map reads every batch's header, which faults in pages
            # around each one; with datasets' default of 1,000 rows that grows with the table.
            writer_batch_size=WRITER_BATCH_ROWS,
            **(_parquet_options(columns) if kind == "parquet" else {}),
        )
    except (datasets.exceptions.DatasetGenerationError, ValueError, OSError, TypeError) as exc:
        cause = exc.__cause__ or exc
        raise TrainDataError(
            f"{Path(path).name}: cannot read as {kind}: {type(cause).__name__}: {str(cause).splitlines()[0][:300] if str(cause) else ''}"
        ) from None
    return dataset.select_columns(list(columns)) if columns else dataset


def _parquet_options(columns: Sequence[str] | None) -> dict[str, Any]:
    """The ``datasets`` Parquet reader's options: only ``columns``, and no pre-buffering (Arrow's default reads ahead
    every row group of a file at once, which holds the whole file in memory)."""
    import pyarrow.dataset as ds

    options: dict[str, Any] = {"fragment_scan_options": ds.ParquetFragmentScanOptions(pre_buffer=False)}
    if columns:
        options["columns"] = list(columns)
    return options


def _check_file(file: Path, kind: str, columns: Sequence[str] | None, where: str) -> None:
    """Fail early, naming the file, on an unreadable header or missing ``columns`` (Parquet schema / first JSON line)."""
    import gzip

    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if kind == "parquet":
            names = pq.read_schema(file).names
        else:
            opener = gzip.open if file.name.lower().endswith(".gz") else open
            with opener(file, "rt", encoding="utf-8") as f:
                first = f.readline()
            names = list(json.loads(first)) if first.strip() else []
    except (pa.ArrowInvalid, OSError, ValueError, UnicodeDecodeError) as exc:
        raise TrainDataError(f"{file.name}: cannot read as {kind}: {str(exc).splitlines()[0][:300]}") from None
    missing = [c for c in columns or () if c not in names]
    if missing:
        raise TrainDataError(f"{where}: missing column(s) {', '.join(missing)} (found {', '.join(names)})")


def find_column(table: pa.Table, candidates: Sequence[str], what: str, source: str) -> str:
    """The first of ``candidates`` that ``table`` has.

    Raises:
        TrainDataError: none of them (names what was looked for and what was found).
    """
    for name in candidates:
        if name in table.column_names:
            return name
    raise TrainDataError(
        f"{source}: no {what} column (looked for {', '.join(candidates)}; found {', '.join(table.column_names) or 'none'})"
    )


def require_columns(table: pa.Table, columns: Sequence[str], source: str) -> None:
    """Raise :class:`TrainDataError` naming the ``columns`` that ``table`` (read from ``source``) lacks."""
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise TrainDataError(f"{source}: missing column(s) {', '.join(missing)} (found {', '.join(table.column_names)})")


def write_parquet_atomic(table: pa.Table, path: str | Path) -> None:
    """Write ``table`` to ``path`` so that readers never see a partial file."""
    import pyarrow.parquet as pq

    with atomic_open(path, "wb") as f:
        pq.write_table(table, f)


def fingerprint(path: str | Path) -> str:
    """SHA-256 over the data files of ``path`` (names and contents)."""
    files = data_files(path)
    if len(files) == 1:
        return sha256_file(files[0])
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(sha256_file(f).encode())
    return h.hexdigest()


def write_manifest(out: str | Path, record: dict[str, Any]) -> Path:
    """Write ``<out>.json`` (or ``<out>/manifest.json`` for a folder) with provenance added."""
    from ettin.provenance import base_provenance

    out = Path(out)
    target = out / "manifest.json" if out.is_dir() else out.with_name(out.name + ".json")
    write_json_atomic(target, {**record, "provenance": base_provenance()})
    return target


def read_query_ids(path: str) -> list[str]:
    """Query ids from a JSON list or a file of one id per line.

    Raises:
        TrainDataError: the file does not exist.
    """
    p = Path(path)
    if not p.is_file():
        raise TrainDataError(f"{path}: query-id file not found")
    text = p.read_text(encoding="utf-8")
    try:
        ids = json.loads(text)
        if not isinstance(ids, list):
            raise ValueError
        return [str(i) for i in ids]
    except ValueError:
        return [line.strip() for line in text.splitlines() if line.strip()]
