"""``python -m train data select``: the recipe's two selection stages (:mod:`train.selection`) applied to scored candidates."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ettin.cli import add_dataclass_arguments, dataclass_from_args, reraise_as, verb
from train.cli import quiet_argument
from train.scored import MANIFEST, read_scored
from train.selection import SelectionConfig, query_rng, select_pool, select_training
from train.tables import TrainDataError, fingerprint, read_table, require_columns, write_manifest, write_parquet_atomic

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["select_rows"]


def select_rows(
    scored: pa.Table,
    config: SelectionConfig = SelectionConfig(),
    seed: int = 12,
    source: str = "rescored",
    show_progress: bool = True,
) -> tuple[pa.Table, pa.Table]:
    """Apply the two selection stages to teacher-scored candidates.

    Args:
        scored: Columns ``query_id, query, doc_id, document, score`` (+ ``is_positive``, + ``first_stage_rank`` which
            fixes the candidate order; otherwise the table order is kept).
        config: The selection numbers.
        seed: Seed of the per-query generators.
        source: Value of the ``source`` column.

    Returns:
        ``(pool, training)``: the stage-1 pools (``pool_size`` per query) and the stage-2 training rows, with columns
        ``query_id, query, doc_id, document, score, is_positive, part, source`` (``part`` = pool / head / medium).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from ettin.progress import progress_bar

    require_columns(scored, ("query_id", "query", "doc_id", "document", "score"), "scored candidates")
    n = scored.num_rows
    if n == 0:
        raise TrainDataError("scored candidates: the table is empty")
    qid = np.asarray(pc.cast(scored.column("query_id"), pa.string()).to_pylist(), dtype=object).astype(str)
    scores = scored.column("score").to_numpy(zero_copy_only=False).astype(np.float64)
    if np.isnan(scores).any():
        raise TrainDataError("scored candidates: some scores are missing (NaN); was scoring complete?")
    positive = (
        scored.column("is_positive").to_numpy(zero_copy_only=False).astype(bool)
        if "is_positive" in scored.column_names
        else np.zeros(n, dtype=bool)
    )
    rank = (
        scored.column("first_stage_rank").to_numpy(zero_copy_only=False).astype(np.int64)
        if "first_stage_rank" in scored.column_names
        else np.arange(n)
    )
    order = np.lexsort((rank, qid))  # group by query, candidates in first-stage order
    bounds = np.flatnonzero(np.r_[True, qid[order][1:] != qid[order][:-1], True])
    pool_rows: list[np.ndarray] = []
    head_rows: list[np.ndarray] = []
    medium_rows: list[np.ndarray] = []
    for a, b in progress_bar(show=show_progress, iterable=list(zip(bounds[:-1], bounds[1:])), desc="selecting"):
        rows = order[a:b]
        rng = query_rng(seed, str(qid[rows[0]]))
        pool = rows[select_pool(scores[rows], positive[rows], config, rng)]
        head, medium = select_training(scores[pool], positive[pool], config, rng)
        pool_rows.append(pool)
        head_rows.append(pool[head])
        medium_rows.append(pool[medium])
    keep_cols = ["query_id", "query", "doc_id", "document", "score"]

    def take(idx: np.ndarray, parts: np.ndarray) -> pa.Table:
        t = scored.select(keep_cols).take(pa.array(idx, type=pa.int64()))
        for name in ("query_id", "query", "doc_id", "document"):
            if pa.types.is_dictionary(t.schema.field(name).type):
                t = t.set_column(t.schema.get_field_index(name), name, pc.cast(t[name], pa.string()))
        t = t.append_column("is_positive", pa.array(positive[idx]))
        t = t.append_column("part", pa.array(parts))
        return t.append_column("source", pa.array([source] * len(idx)))

    pool_idx = np.concatenate(pool_rows)
    pool_t = take(pool_idx, np.full(pool_idx.size, "pool"))
    train_idx = np.concatenate([np.concatenate([h, m]) for h, m in zip(head_rows, medium_rows)])
    parts = np.concatenate([np.r_[np.full(h.size, "head"), np.full(m.size, "medium")] for h, m in zip(head_rows, medium_rows)])
    train_t = take(train_idx, parts)
    train_t = train_t.set_column(train_t.schema.get_field_index("score"), "score", pc.cast(train_t["score"], pa.float32()))
    return pool_t, train_t


def _select_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scored", required=True, help="a `score` output folder, or a Parquet/JSONL file with a score column")
    p.add_argument("--out", required=True, help="output Parquet file of training rows")
    p.add_argument("--pool-out", help="also write the stage-1 pools here")
    add_dataclass_arguments(p, SelectionConfig)
    p.add_argument("--seed", type=int, default=12, help="selection seed (default: 12)")
    p.add_argument("--source", default="rescored", help="value of the provenance column 'source' (default: rescored)")
    quiet_argument(p)


@verb("data select", help="the recipe's selection: pool of 256 per query, then 64 training rows", arguments=_select_arguments)
def select_command(args: argparse.Namespace) -> int:
    """``python -m train data select``: select training rows from scored candidates; write them and a manifest."""
    with reraise_as(TrainDataError, (ValueError,)):
        config = dataclass_from_args(SelectionConfig, args)
    is_scoring_folder = Path(args.scored).is_dir() and (Path(args.scored) / MANIFEST).is_file()
    scored = read_scored(args.scored) if is_scoring_folder else read_table(args.scored)
    pool, rows = select_rows(scored, config, seed=args.seed, source=args.source, show_progress=not args.quiet)
    write_parquet_atomic(rows, args.out)
    if args.pool_out:
        write_parquet_atomic(pool, args.pool_out)
    record = {
        "kind": "selection",
        "scored": args.scored,
        "scored_sha256": fingerprint(args.scored),
        "selection": config.as_dict(),
        "seed": args.seed,
        "source": args.source,
        "pool_rows": pool.num_rows,
        "rows": rows.num_rows,
        "queries": len(set(rows.column("query_id").to_pylist())),
    }
    write_manifest(args.out, record)
    print(f"selected {rows.num_rows:,} training rows ({pool.num_rows:,} in the pools) -> {args.out}")
    return 0
