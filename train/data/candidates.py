"""``python -m train data candidates``: first-stage candidates of a BEIR split, interleaved by rank (the input of ``score``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ettin.cli import verb
from train.beir import load_beir_spec
from train.cli import quiet_argument
from train.selection import draw_holdout
from train.tables import TrainDataError, read_query_ids, write_manifest, write_parquet_atomic

if TYPE_CHECKING:
    import pyarrow as pa

    from ettin.corpus import BeirDataset

__all__ = ["interleave_rankings", "build_candidates"]


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
