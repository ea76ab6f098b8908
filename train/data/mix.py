"""``python -m train data mix``: sources (the published set by name, local Parquet/JSONL) mixed with per-source caps."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ettin.cli import verb
from train.tables import (
    DOCUMENT_COLUMNS,
    QUERY_COLUMNS,
    SCORE_COLUMNS,
    TrainDataError,
    find_column,
    fingerprint,
    read_dataset,
    write_manifest,
    write_parquet_atomic,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["SourceSpec", "load_source", "mix_sources"]


@dataclass(frozen=True)
class SourceSpec:
    """One input of a mix: ``NAME=LOCATION[@CAP]``.

    ``LOCATION`` is a local Parquet/JSONL file or folder, or ``hf:DATASET[:CONFIG[:SPLIT]]`` (online; e.g.
    ``hf:cross-encoder/ettin-reranker-v1-data`` for every config, as the post, or ``…:msmarco`` for one). ``CAP`` limits
    the rows taken from this source: a seeded random sample (see :func:`mix_sources`).
    """

    name: str
    location: str
    cap: int | None = None

    @classmethod
    def parse(cls, text: str) -> SourceSpec:
        """Parse ``NAME=LOCATION[@CAP]``.

        Raises:
            TrainDataError: no ``=``, an empty name or location, or a cap that is not a whole number >= 1.
        """
        if "=" not in text:
            raise TrainDataError(f"source {text!r}: expected NAME=LOCATION[@CAP]")
        name, _, rest = text.partition("=")
        cap = None
        if "@" in rest:
            rest, _, cap_text = rest.rpartition("@")
            try:
                cap = int(cap_text)
            except ValueError:
                raise TrainDataError(f"source {text!r}: cap {cap_text!r} is not a whole number") from None
            if cap < 1:
                raise TrainDataError(f"source {text!r}: the cap must be at least 1")
        if not name.strip() or not rest.strip():
            raise TrainDataError(f"source {text!r}: expected NAME=LOCATION[@CAP]")
        return cls(name.strip(), rest.strip(), cap)


def load_source(spec: SourceSpec) -> pa.Table:
    """Load one source as a ``query, document, score`` table (column spellings normalised; Arrow memory-mapped through
    ``datasets`` for local files and Hub datasets alike, so only the rows a cap samples are ever copied)."""
    import pyarrow as pa

    where = f"source {spec.name!r}"
    tables = _load_hub(spec.location[3:]) if spec.location.startswith("hf:") else [read_dataset(spec.location).data.table]
    out = pa.concat_tables([_normalised(table, where) for table in tables])
    if out.column("query").null_count or out.column("document").null_count or out.column("score").null_count:
        raise TrainDataError(f"{where}: some rows have an empty query, document or score")
    return out


def _normalised(table: pa.Table, where: str) -> pa.Table:
    import pyarrow as pa

    q = find_column(table, QUERY_COLUMNS, "query", where)
    d = find_column(table, DOCUMENT_COLUMNS, "document", where)
    s = find_column(table, SCORE_COLUMNS, "score", where)
    return pa.table(
        {
            "query": table.column(q).cast(pa.string()),
            "document": table.column(d).cast(pa.string()),
            "score": table.column(s).cast(pa.float32()),
        }
    )


def _load_hub(name: str) -> list[pa.Table]:
    """``DATASET[:CONFIG[:SPLIT]]`` from the Hugging Face Hub (split default ``train``); without a config, every config
    of the dataset (``datasets.get_dataset_config_names``), as the post loads the published training set.

    The whole split is loaded (Arrow, memory-mapped from the datasets cache): a cap is a seeded random sample taken by
    :func:`mix_sources`, never the first rows.
    """
    parts = name.split(":")
    dataset = parts[0]
    config = parts[1] if len(parts) > 1 and parts[1] else None
    split = parts[2] if len(parts) > 2 and parts[2] else "train"
    try:
        import datasets

        configs = [config] if config else datasets.get_dataset_config_names(dataset)
        return [datasets.load_dataset(dataset, c, split=split).data.table for c in configs]
    except Exception as exc:  # noqa: BLE001 - every loading failure becomes one clear message
        raise TrainDataError(
            f"cannot load {dataset!r} ({config or 'every config'}/{split}) from the Hub: {type(exc).__name__}: "
            f"{str(exc)[:300]} — offline, download it once or give local Parquet/JSONL files"
        ) from None


def mix_sources(specs: Sequence[SourceSpec], seed: int = 12, shuffle: bool = True) -> tuple[pa.Table, dict[str, int]]:
    """Concatenate sources, each capped (a seeded random sample when larger), with a ``source`` column.

    Returns:
        ``(table, rows per source)``; the table is shuffled with ``seed`` unless ``shuffle`` is false.
    """
    import pyarrow as pa

    if not specs:
        raise TrainDataError("give at least one --source NAME=LOCATION[@CAP]")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise TrainDataError("source names must be unique")
    rng = np.random.default_rng(seed)
    parts, counts = [], {}
    for spec in specs:
        table = load_source(spec)
        if spec.cap is not None and table.num_rows > spec.cap:
            idx = np.sort(rng.choice(table.num_rows, size=spec.cap, replace=False))
            table = table.take(pa.array(idx))
        table = table.append_column("source", pa.array([spec.name] * table.num_rows, type=pa.string()))
        parts.append(table)
        counts[spec.name] = table.num_rows
    mixed = pa.concat_tables(parts)
    if shuffle:
        mixed = mixed.take(pa.array(rng.permutation(mixed.num_rows)))
    return mixed, counts


def _mix_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--source", action="append", required=True,
        help="NAME=LOCATION[@CAP]; LOCATION = local file/folder or hf:DATASET[:CONFIG[:SPLIT]] (no CONFIG: every "
        "config, as the post; e.g. all=hf:cross-encoder/ettin-reranker-v1-data or "
        "msmarco=hf:cross-encoder/ettin-reranker-v1-data:msmarco@100000); CAP = seeded random sample; repeat",
    )
    p.add_argument("--out", required=True, help="output Parquet file (columns query, document, score, source)")
    p.add_argument("--seed", type=int, default=12, help="seed of capping and shuffling (default: 12)")
    p.add_argument("--no-shuffle", action="store_true", help="keep the sources in order")


@verb(
    "data mix",
    help="mix sources (published set by name, local Parquet/JSONL) with per-source caps",
    arguments=_mix_arguments,
)
def mix_command(args: argparse.Namespace) -> int:
    """``python -m train data mix``: write the mixed rows and a manifest with each local source's SHA-256."""

    specs = [SourceSpec.parse(s) for s in args.source]
    table, counts = mix_sources(specs, seed=args.seed, shuffle=not args.no_shuffle)
    write_parquet_atomic(table, args.out)
    fps = {spec.name: fingerprint(spec.location) for spec in specs if not spec.location.startswith("hf:")}
    write_manifest(
        args.out,
        {"kind": "mix", "sources": [s.__dict__ for s in specs], "rows_per_source": counts, "source_sha256": fps, "seed": args.seed},
    )
    print(f"mixed {table.num_rows:,} rows -> {args.out}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    return 0
