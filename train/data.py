"""Data assembly: first-stage candidates from a BEIR dataset, the recipe's selection, and mixing of sources.

The published training set (``cross-encoder/ettin-reranker-v1-data``) is already (query, document, score) rows; it is
loaded by name (online) or from local Parquet/JSONL and mixed with :func:`mix_sources`. The rescored retrieval part is
rebuilt from raw candidates with :func:`build_candidates` -> ``python -m train score`` -> :func:`select_rows`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from train.selection import SelectionConfig, query_rng, select_pool, select_training
from train.tables import (
    DOCUMENT_COLUMNS,
    QUERY_COLUMNS,
    SCORE_COLUMNS,
    TrainDataError,
    find_column,
    read_table,
    require_columns,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from ettin.corpus import BeirDataset

PUBLISHED_DATASET = "cross-encoder/ettin-reranker-v1-data"
CANDIDATE_COLUMNS = ("query_id", "query", "doc_id", "document", "first_stage_rank", "is_positive")


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
    from tqdm.auto import tqdm

    from ettin.pipeline import make_first_stage

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
        bar = tqdm(total=len(dataset.corpus), desc=f"corpus embeddings ({spec})", disable=not show_progress, leave=False)

        def progress(done: int, total: int, bar=bar) -> None:
            bar.n = done
            bar.refresh()

        stage = make_first_stage(spec, dataset.corpus, progress=progress)
        bar.close()
        hits = stage.search_many(texts, depth)
        per_stage.append([idx.tolist() for idx, _ in hits])
    cols: dict[str, list[Any]] = {c: [] for c in ("q", "doc", "first_stage_rank", "is_positive")}
    corpus = dataset.corpus
    for qi, qid in enumerate(tqdm(qids, desc="candidates", disable=not show_progress)):
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
    from tqdm.auto import tqdm

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
    for a, b in tqdm(list(zip(bounds[:-1], bounds[1:])), desc="selecting", disable=not show_progress):
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
    ``hf:cross-encoder/ettin-reranker-v1-data:msmarco``). ``CAP`` limits the rows taken from this source.
    """

    name: str
    location: str
    cap: int | None = None

    @classmethod
    def parse(cls, text: str) -> SourceSpec:
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
    """Load one source as a ``query, document, score`` table (column spellings normalised)."""
    import pyarrow as pa

    if spec.location.startswith("hf:"):
        table = _load_hub(spec.location[3:], spec.cap)
    else:
        table = read_table(spec.location)
    where = f"source {spec.name!r}"
    q = find_column(table, QUERY_COLUMNS, "query", where)
    d = find_column(table, DOCUMENT_COLUMNS, "document", where)
    s = find_column(table, SCORE_COLUMNS, "score", where)
    out = pa.table(
        {
            "query": table.column(q).cast(pa.string()),
            "document": table.column(d).cast(pa.string()),
            "score": table.column(s).cast(pa.float32()),
        }
    )
    if out.column("query").null_count or out.column("document").null_count or out.column("score").null_count:
        raise TrainDataError(f"{where}: some rows have an empty query, document or score")
    return out


def _load_hub(name: str, cap: int | None) -> pa.Table:
    """``DATASET[:CONFIG[:SPLIT]]`` from the Hugging Face Hub (split default ``train``)."""
    parts = name.split(":")
    dataset, config, split = parts[0], parts[1] if len(parts) > 1 else None, parts[2] if len(parts) > 2 else "train"
    try:
        import datasets

        if cap is not None:
            split = f"{split}[:{cap}]"
        ds = datasets.load_dataset(dataset, config, split=split)
    except Exception as exc:  # noqa: BLE001 - every loading failure becomes one clear message
        raise TrainDataError(
            f"cannot load {dataset!r} ({config or 'default'}/{split}) from the Hub: {type(exc).__name__}: {str(exc)[:300]}"
            " — offline, download it once or give local Parquet/JSONL files"
        ) from None
    return ds.data.table


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
