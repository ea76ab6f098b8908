"""Data assembly: first-stage candidates from a BEIR dataset, the recipe's selection, and mixing of sources.

The published training set (``cross-encoder/ettin-reranker-v1-data``) is already (query, document, score) rows; it is
loaded by name (online) or from local Parquet/JSONL and mixed with :func:`mix_sources`. The rescored retrieval part is
rebuilt from raw candidates with :func:`build_candidates` -> ``python -m train score`` -> :func:`select_rows`.
The ``python -m train data candidates|select|mix`` verbs are at the end of this module.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ettin.cli import add_dataclass_arguments, dataclass_from_args, reraise_as, verb, verb_group
from train.cli import quiet_argument
from train.selection import SelectionConfig, draw_holdout, query_rng, select_pool, select_training
from train.tables import (
    DOCUMENT_COLUMNS,
    QUERY_COLUMNS,
    SCORE_COLUMNS,
    TrainDataError,
    find_column,
    fingerprint,
    read_dataset,
    read_query_ids,
    read_table,
    require_columns,
    write_manifest,
    write_parquet_atomic,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from ettin.corpus import BeirDataset

__all__ = [
    "holdout_rows",
    "holdout_mask",
    "load_beir_spec",
    "interleave_rankings",
    "build_candidates",
    "select_rows",
    "SourceSpec",
    "load_source",
    "mix_sources",
]


# --------------------------------------------------------------------------------------------------------------------
# Candidates


def load_beir_spec(spec: str, split: str) -> BeirDataset:
    """``scifact`` (the bundled copy) or a BEIR folder."""
    from ettin.corpus import DataFormatError, load_beir, scifact

    try:
        if spec.strip().lower() == "scifact":
            return scifact(split)
        if not Path(spec).is_dir():
            raise TrainDataError(f"{spec!r} is neither 'scifact' nor a BEIR folder")
        return load_beir(spec, split)
    except DataFormatError as exc:
        raise TrainDataError(str(exc)) from None


def interleave_rankings(rankings: Sequence[Sequence[int]], depth: int) -> list[int]:
    """Merge several best-first rankings round-robin by rank, without duplicates, up to ``depth`` items."""
    out: list[int] = []
    seen: set[int] = set()
    longest = max((len(r) for r in rankings), default=0)
    for rank in range(longest):
        for ranking in rankings:
            if rank < len(ranking) and ranking[rank] not in seen:
                seen.add(ranking[rank])
                out.append(ranking[rank])
                if len(out) >= depth:
                    return out
    return out


def build_candidates(
    dataset: BeirDataset,
    first_stages: Sequence[str],
    depth: int = 2048,
    query_ids: Sequence[str] | None = None,
    show_progress: bool = True,
) -> pa.Table:
    """Up to ``depth`` candidates per query: the first stages' rankings interleaved by rank; positives are flagged.

    Args:
        dataset: Queries, corpus and judgements.
        first_stages: ``"bm25"`` and/or dense embedder ids/folders (see :func:`ettin.pipeline.make_first_stage`).
        depth: Candidates kept per query (each first stage retrieves ``depth``).
        query_ids: Restrict to these queries (default: all of the split, sorted).
        show_progress: Show the corpus-embedding progress.

    Returns:
        An Arrow table with columns ``query_id, query, doc_id, document, first_stage_rank, is_positive``.
    """
    import pyarrow as pa

    from ettin.pipeline import make_first_stage
    from ettin.progress import progress_bar, progress_callback

    if depth < 1:
        raise TrainDataError("--depth must be at least 1")
    if not first_stages:
        raise TrainDataError("give at least one first stage")
    qids = sorted(query_ids if query_ids is not None else dataset.queries)
    unknown = [q for q in qids if q not in dataset.queries]
    if unknown:
        raise TrainDataError(f"unknown query id(s): {', '.join(unknown[:5])}")
    texts = [dataset.queries[q] for q in qids]
    per_stage: list[list[list[int]]] = []
    for spec in first_stages:
        with progress_callback(len(dataset.corpus), f"corpus embeddings ({spec})", show=show_progress, leave=False) as progress:
            stage = make_first_stage(spec, dataset.corpus, progress=progress)
        hits = stage.search_many(texts, depth)
        per_stage.append([idx.tolist() for idx, _ in hits])
    cols: dict[str, list[Any]] = {c: [] for c in ("q", "doc", "first_stage_rank", "is_positive")}
    corpus = dataset.corpus
    for qi, qid in enumerate(progress_bar(show=show_progress, iterable=qids, desc="candidates")):
        relevant = {d for d, g in dataset.qrels.get(qid, {}).items() if g > 0}
        merged = interleave_rankings([stage[qi] for stage in per_stage], depth)
        cols["q"].extend([qi] * len(merged))
        cols["doc"].extend(merged)
        cols["first_stage_rank"].extend(range(len(merged)))
        cols["is_positive"].extend(corpus.ids[d] in relevant for d in merged)
    q_idx = pa.array(cols["q"], type=pa.int32())
    d_idx = pa.array(cols["doc"], type=pa.int32())
    # Dictionary-encoded text columns: each query and document is stored once, however many rows refer to it.
    return pa.table(
        {
            "query_id": pa.DictionaryArray.from_arrays(q_idx, pa.array(qids, type=pa.string())),
            "query": pa.DictionaryArray.from_arrays(q_idx, pa.array(texts, type=pa.string())),
            "doc_id": pa.DictionaryArray.from_arrays(d_idx, pa.array(corpus.ids, type=pa.string())),
            "document": pa.DictionaryArray.from_arrays(d_idx, pa.array(corpus.document_texts, type=pa.string())),
            "first_stage_rank": pa.array(cols["first_stage_rank"], type=pa.int32()),
            "is_positive": pa.array(cols["is_positive"], type=pa.bool_()),
        }
    )


# --------------------------------------------------------------------------------------------------------------------
# Selection


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


# --------------------------------------------------------------------------------------------------------------------
# Sources and mixing


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


def holdout_rows(table: pa.Table, n: int, seed: int = 12) -> tuple[pa.Table, pa.Table | None]:
    """``(training rows, n held-out rows)``: a seeded random draw of ``n`` rows for the trainer's ``eval_dataset`` (as the
    post passes one); ``(table, None)`` when ``n`` is 0.

    Raises:
        TrainDataError: ``n`` negative, or not fewer than the rows.
    """
    import pyarrow as pa

    if n == 0:
        return table, None
    held = holdout_mask(table.num_rows, n, seed)
    return table.filter(pa.array(~held)), table.filter(pa.array(held))


def holdout_mask(num_rows: int, n: int, seed: int = 12) -> np.ndarray:
    """The seeded draw of :func:`holdout_rows`: a boolean mask with ``n`` of ``num_rows`` rows set.

    Raises:
        TrainDataError: ``n`` negative, or not fewer than the rows.
    """
    if n < 0 or n >= num_rows:
        raise TrainDataError(f"--eval-rows {n}: need 0 <= N < the {num_rows:,} training rows")
    held = np.zeros(num_rows, dtype=bool)
    held[np.random.default_rng(seed).choice(num_rows, size=n, replace=False)] = True
    return held


# --------------------------------------------------------------------------------------------------------------------
# python -m train data candidates | select | mix


def _candidates_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--beir", default="scifact", help="'scifact' (bundled) or a BEIR folder (default: scifact)")
    p.add_argument("--split", default="train", help="qrels split whose queries are used (default: train)")
    p.add_argument(
        "--first-stage", action="append", required=True,
        help="'bm25' or a dense embedder id/folder; repeat to merge several (interleaved by rank)",
    )
    p.add_argument("--depth", type=int, default=2048, help="candidates kept per query (default: 2048)")
    p.add_argument("--holdout", type=int, default=0, help="hold out this many queries (seeded) as a dev set (default: 0)")
    p.add_argument("--holdout-out", help="where to write the held-out query ids (default: <out>.holdout.json)")
    p.add_argument("--exclude-query-ids", help="file of query ids (JSON list or one per line) to leave out")
    p.add_argument("--seed", type=int, default=12, help="seed of the hold-out draw (default: 12)")
    p.add_argument("--out", required=True, help="output Parquet file")
    quiet_argument(p)


def _training_query_ids(args: argparse.Namespace, dataset: BeirDataset) -> list[str]:
    """The split's queries less ``--exclude-query-ids`` and the ``--holdout`` draw (written to ``--holdout-out``)."""
    qids = sorted(dataset.queries)
    if args.exclude_query_ids:

        drop = set(read_query_ids(args.exclude_query_ids))
        qids = [q for q in qids if q not in drop]
    if args.holdout:
        from ettin.io import write_json_atomic

        held = draw_holdout(qids, args.holdout, args.seed)
        write_json_atomic(args.holdout_out or Path(args.out).with_suffix(".holdout.json"), held)
        held_set = set(held)
        qids = [q for q in qids if q not in held_set]
    return qids


verb_group("data", help="assemble training data: candidates, selection, mixing")


@verb("data candidates", help="first-stage candidates of a BEIR split (input of `score`)", arguments=_candidates_arguments)
def candidates_command(args: argparse.Namespace) -> int:
    """``python -m train data candidates``: write the candidates table and its manifest."""

    dataset = load_beir_spec(args.beir, args.split)
    qids = _training_query_ids(args, dataset)
    table = build_candidates(dataset, args.first_stage, depth=args.depth, query_ids=qids, show_progress=not args.quiet)
    write_parquet_atomic(table, args.out)
    write_manifest(
        args.out,
        {
            "kind": "candidates",
            "dataset": dataset.name,
            "split": args.split,
            "dataset_fingerprint": dataset.fingerprint,
            "first_stages": args.first_stage,
            "depth": args.depth,
            "queries": len(qids),
            "holdout": args.holdout,
            "seed": args.seed,
            "rows": table.num_rows,
        },
    )
    print(f"wrote {table.num_rows:,} candidates for {len(qids)} queries to {args.out}")
    return 0


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
    from train.score import MANIFEST, read_scored

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


# --------------------------------------------------------------------------------------------------------------------
# python -m train data load-benchmark

# The two loaders compared: the memory-mapped one `fit` uses, and the whole-table read it replaced (the baseline).
_LOADERS = {
    "fit (datasets, memory-mapped)": "from train.fit import load_training_table; d = load_training_table({path!r}); print(d.num_rows)",
    "whole table (baseline)": (
        "import datasets; from train.tables import read_table; "
        "t = read_table({path!r}).select(['query', 'document', 'score']); d = datasets.Dataset(t); print(d.num_rows)"
    ),
}


def write_synthetic_rows(path: Path, rows: int, seed: int = 12, batch: int = 100_000) -> Path:
    """Write ``rows`` synthetic ``query, document, score`` rows to Parquet, ``batch`` rows per row group.

    Queries (~60 characters) and documents (~400) are slices at random offsets of one text of random words, so they are
    cheap to make and compress about like prose.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    text = " ".join(f"w{i}" for i in rng.integers(50_000, size=400_000))
    schema = pa.schema([("query", pa.string()), ("document", pa.string()), ("score", pa.float32())])
    path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, batch):
            n = min(batch, rows - start)
            q_at, d_at = rng.integers(len(text) - 500, size=(2, n)).tolist()
            writer.write_table(pa.table({
                "query": [text[i : i + 60] for i in q_at],
                "document": [text[i : i + 400] for i in d_at],
                "score": rng.normal(size=n).astype(np.float32),
            }, schema=schema))  # fmt: skip
    return path


def peak_rss_of(code: str, env: dict[str, str]) -> tuple[int, float, str]:
    """Run ``python -c code`` from the repository root; returns (its peak RSS in bytes, seconds, its stdout)."""
    import os
    import subprocess
    import sys
    import time

    root = Path(__file__).resolve().parents[1]
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=root, env=env, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise TrainDataError(f"the loading child failed (exit {proc.returncode}): {code}")
    return usage.ru_maxrss * 1024, time.perf_counter() - t0, out.strip()


def _benchmark_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rows", type=int, action="append", help="table sizes (default: 500000 and 5000000)")
    p.add_argument("--work", required=True, help="folder for the synthetic tables and each run's datasets cache")
    p.add_argument("--out", help="JSON report (default: <work>/load_benchmark.json)")
    p.add_argument("--skip-baseline", action="store_true", help="measure only the memory-mapped loader")


@verb(
    "data load-benchmark",
    help="peak RSS of `fit`'s data loading on synthetic tables of growing size, with the whole-table read as baseline",
    arguments=_benchmark_arguments,
)
def load_benchmark_command(args: argparse.Namespace) -> int:
    """``python -m train data load-benchmark``: one fresh process per (loader, size); prints a table, writes JSON."""
    import os
    import shutil

    from ettin.io import write_json_atomic
    from ettin.provenance import base_provenance

    sizes = args.rows or [500_000, 5_000_000]
    work = Path(args.work)
    load_start = os.getloadavg()
    results = []
    for rows in sizes:
        table = work / f"synthetic_{rows}.parquet"
        if not table.is_file():
            write_synthetic_rows(table, rows)
        for loader, template in _LOADERS.items():
            if args.skip_baseline and "baseline" in loader:
                continue
            cache = work / "cache"
            shutil.rmtree(cache, ignore_errors=True)  # every run converts from scratch (the worst case)
            env = {**os.environ, "ETTIN_CACHE": str(cache), "HF_DATASETS_CACHE": str(cache / "hf")}
            rss, seconds, printed = peak_rss_of(template.format(path=str(table)), env)
            results.append({"loader": loader, "rows": rows, "rows_loaded": int(printed.splitlines()[-1]),
                            "peak_rss_bytes": rss, "seconds": round(seconds, 1),
                            "file_bytes": table.stat().st_size})  # fmt: skip
            print(f"{loader:32s} {rows:>10,} rows  peak RSS {rss / 2**20:8.0f} MiB  {seconds:6.1f} s", flush=True)
    ratios = {}
    for loader in _LOADERS:
        mine = sorted((r for r in results if r["loader"] == loader), key=lambda r: r["rows"])
        if len(mine) >= 2:
            ratios[loader] = round(mine[-1]["peak_rss_bytes"] / mine[0]["peak_rss_bytes"], 3)
    print("\npeak RSS, largest / smallest table: " + ", ".join(f"{k}: {v}x" for k, v in ratios.items()))
    report = {
        "kind": "train data loading benchmark", "command": "python -m train data load-benchmark " + " ".join(
            f"--rows {r}" for r in sizes) + " --work SCRATCH", "results": results,
        "tables": "synthetic query (~60 characters), document (~400), score; Parquet, 100,000-row row groups; each "
                  "loader in a fresh process with an empty datasets cache (conversion included)",
        "peak_rss_ratio_largest_over_smallest": ratios,
        "machine_load_1_5_15min": {"start": [round(x, 2) for x in load_start],
                                   "end": [round(x, 2) for x in os.getloadavg()]},
        "provenance": base_provenance(),
    }  # fmt: skip
    write_json_atomic(Path(args.out) if args.out else work / "load_benchmark.json", report)
    return 0
