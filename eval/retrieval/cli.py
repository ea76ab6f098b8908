"""``python -m eval retrieval | mteb | nanobeir``: two-stage retrieval evaluation from the command line."""

from __future__ import annotations

import argparse
import sys
import time
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ettin.cli import parse_positive_int, reraise_as, verb
from ettin.errors import UserError
from ettin.runtime.device import BACKENDS, Precision

__all__ = ["RetrievalError", "format_table", "load_data"]

_COLUMNS = (
    ("ndcg_at_10", "NDCG@10"),
    ("mrr_at_10", "MRR@10"),
    ("map_at_10", "MAP@10"),
    ("recall_at_10", "R@10"),
    ("recall_at_100", "R@100"),
)


_PRECISIONS = typing.get_args(Precision)


class RetrievalError(UserError, RuntimeError):
    """Bad input to a retrieval verb (missing folder, bad value, unreadable file); the message says what to fix.

    The verbs report bad values and malformed data (``ValueError``), missing files and unreachable hosts (``OSError``)
    and models and tasks that cannot be loaded (``RuntimeError``) deep down as this (``reraise_as(RetrievalError)``).
    """


# --------------------------------------------------------------------------------------------------------------------
# Shared arguments and helpers


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, default=None, metavar="DIR",
                   help="BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv); default: the bundled SciFact")
    p.add_argument("--split", default="test", help="qrels split (default test)")
    p.add_argument("--name", help="dataset name in results (default: the folder name)")
    p.add_argument("--max-queries", type=parse_positive_int, help="evaluate only the first N queries (by id)")


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", help="cpu, cuda, cuda:1 … (default: cuda when available)")
    p.add_argument("--backend", choices=BACKENDS, default="torch",
                   help="where rerankers run: torch (default), an ONNX Runtime or OpenVINO export (built once into the "
                   "cache folder, judged by the correctness gate; torch is kept when it fails; the results record "
                   "where they ran, and the score cache keys by it), or auto: the fastest that passes")  # fmt: skip
    p.add_argument("--precision", choices=_PRECISIONS, default="auto",
                   help="reranker precision — auto: bf16 on CUDA and on CPUs with native bf16, fp32 elsewhere; fp32: "
                   "lossless (dense first stages always run in fp32)")
    p.add_argument("--max-length", type=parse_positive_int, default=None,
                   help="reranker max tokens per pair (default: the model's own limit, as the post evaluates; "
                   "recorded in every result)")
    p.add_argument("--batch-size", type=parse_positive_int, default=32, help="reranker batch size (default 32)")


def _add_store_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", type=Path, help="also write the run summary JSON here")
    p.add_argument("--results-dir", type=Path, default=None,
                   help="results store root (default eval/results); each (first stage, reranker) gets one file")
    p.add_argument("--no-store", action="store_true", help="do not write to the results store")


def load_data(data: Path | None, split: str, name: str | None = None, max_queries: int | None = None):
    """Load a BEIR folder (or the bundled SciFact) and describe its source without a machine path."""
    from ettin.corpus import load_beir
    from ettin.paths import BUNDLED_SCIFACT

    if data is None or Path(data).resolve() == BUNDLED_SCIFACT.resolve():
        dataset = load_beir(BUNDLED_SCIFACT, split, name=name or "scifact")
        source = "bundled data/scifact (BEIR SciFact)"
    else:
        if not Path(data).is_dir():
            raise RetrievalError(
                f"{data} is not a folder (expected a BEIR folder with corpus.jsonl, queries.jsonl, qrels/)"
            )
        dataset = load_beir(data, split, name=name)
        source = f"local BEIR folder '{Path(data).resolve().name}'"
    for warning in dataset.warnings:
        print(f"warning: {dataset.name}/{split}: {warning}", file=sys.stderr)
    if max_queries is not None and max_queries < len(dataset.queries):
        sliced = dataset.slice(max_queries)
        sliced.name = f"{dataset.name}.first{max_queries}q"
        dataset = sliced
        source += f", first {max_queries} queries by id"
    return dataset, source


def _settings(args: argparse.Namespace):
    from ettin.runtime import best_settings

    return best_settings(args.device, args.precision, args.max_length, backend=getattr(args, "backend", "torch"))


def _results_dir(args: argparse.Namespace) -> Path | None:
    from eval.retrieval.store import DEFAULT_RESULTS_DIR

    return None if args.no_store else (args.results_dir or DEFAULT_RESULTS_DIR)


def _one_process_only(verb_name: str) -> None:
    """Refuse to run ``verb_name`` as several torchrun ranks (each would redo the whole evaluation).

    Raises:
        RetrievalError: launched by torchrun with more than one process.
    """
    from ettin.distributed import workers_from_env

    workers = workers_from_env()
    if workers.world_size > 1:
        raise RetrievalError(
            f"`python -m eval {verb_name}` runs in one process, but torchrun started {workers.world_size}: start it "
            "without torchrun (`python -m eval retrieval` is the evaluation that shards over torchrun ranks)"
        )


def format_table(rows: list[dict[str, Any]]) -> str:
    """Rows (first stage x reranker) by metric, with timing, as aligned text."""
    header = ["first stage", "reranker", *(label for _, label in _COLUMNS), "stage1 s", "rerank s", "flag"]
    body = []
    for row in rows:
        timing = row.get("timing", {})
        body.append(
            [
                row["first_stage"],
                row["reranker"] or "-",
                *(f"{row['metrics'][key]:.5f}" for key, _ in _COLUMNS),
                f"{timing.get('stage1_s', 0):.1f}",
                f"{timing['rerank_s_all_first_stages']:.1f}" if "rerank_s_all_first_stages" in timing else "-",
                "RANDOM-INIT" if row.get("random_init") else "",
            ]
        )
    widths = [max(len(str(r[i])) for r in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------------------
# retrieval


def _fusion_weight(value: str) -> float:
    """``--fuse-weight``: a number in [0, 1]."""
    try:
        weight = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number; give the reranker's weight, e.g. 0.5") from None
    if not 0.0 <= weight <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is outside [0, 1]; give the reranker's weight, e.g. 0.5")
    return weight


def _retrieval_arguments(p: argparse.ArgumentParser) -> None:
    _add_data_args(p)
    p.add_argument("--first-stage", action="append", required=True, metavar="ID",
                   help="'bm25', a dense embedder (registry id, Hub id, local folder) or 'hybrid[:EMBEDDER]' (BM25 + that embedder, RRF k=60; plain 'hybrid': all-MiniLM-L6-v2); repeat for several")
    p.add_argument("--reranker", action="append", default=[], metavar="ID",
                   help="cross-encoder (Ettin size like 17m, Hub id, local folder); repeat for several; none = retriever-only")
    p.add_argument("--top-k", type=parse_positive_int, default=100, help="first-stage depth reranked (default 100)")
    p.add_argument("--fuse-weight", action="append", type=_fusion_weight, default=[], metavar="W",
                   help="also record each reranker's fused system, W * z(reranker) + (1 - W) * z(first stage) per query, "
                        "under its own name (choose W on a dev split, never on the test split); repeatable")
    _add_model_args(p)
    _add_store_args(p)
    p.add_argument("--score-cache", type=Path, default=None, help="SQLite score cache (default $ETTIN_CACHE/scores.sqlite)")
    p.add_argument("--chunk-pairs", type=parse_positive_int, default=256, help="pairs scored per committed cache write")


def _print_runs(summary: dict[str, Any], output: Path | None, notes: Sequence[str] = ()) -> None:
    """The runs' table, ``notes`` and the random-init warning where it applies; the summary written to ``output``."""
    from ettin.io import write_json_atomic

    print(format_table(summary["runs"]))
    for note in notes:
        print(note)
    if any(r["random_init"] for r in summary["runs"]):
        print("RANDOM-INIT rows use random-weight replicas: their quality numbers are meaningless.")
    if output:
        write_json_atomic(output, summary)


@verb(
    "retrieval",
    help="two-stage retrieval evaluation on a BEIR folder (first stages x rerankers); runs under torchrun",
    arguments=_retrieval_arguments,
    description="Retrieve the top-k with each first stage, rerank with each reranker, report NDCG@10 and more.\n"
    "Stage-1 rankings and reranker scores are cached in $ETTIN_CACHE, so a rerun (or a killed run started again)\n"
    "recomputes nothing already done. Under torchrun the ranks share the reranking (one score cache, which every\n"
    "rank must see); rank 0 alone prints and writes the results.",
)
def retrieval(args: argparse.Namespace) -> int:
    """Run the two-stage evaluation and print/write its results (under torchrun: rank 0 only)."""
    from ettin.distributed import cpu_threads_per_rank, device_for, rank_group, workers_from_env
    from eval.retrieval.evaluate import evaluate_retrieval
    from eval.retrieval.score_cache import ScoreCache

    t0 = time.perf_counter()
    workers = workers_from_env()
    main = workers.is_main
    with reraise_as(RetrievalError), rank_group(workers) as group:
        dataset, source = load_data(args.data, args.split, args.name, args.max_queries)
        args.device = device_for(args.device, workers)
        settings = _settings(args)
        if settings.device == "cpu":
            cpu_threads_per_rank(workers)
        results_dir = _results_dir(args) if main else None
        if main:
            from ettin.metrics import identical_ids_rule

            identical = identical_ids_rule(dataset.name)
            print(f"{dataset.name}/{dataset.split}: {len(dataset.queries)} queries, {len(dataset.corpus)} documents; "
                  f"top-{args.top_k}; {settings.device} {settings.dtype}"
                  + (f"; {workers.world_size} ranks" if workers.torchrun else "")
                  + (f"; a document whose id is the query's is ignored ({identical.source})" if identical.ignore else ""),
                  file=sys.stderr)
        with group.main_first():  # rank 0 creates the cache file before the others open it
            cache = ScoreCache(args.score_cache)
        with cache:
            report = evaluate_retrieval(
                dataset, args.first_stage, args.reranker, top_k=args.top_k, settings=settings, dataset_source=source,
                score_cache=cache, batch_size=args.batch_size, chunk_pairs=args.chunk_pairs, show_progress=True,
                results_dir=results_dir, group=group, fuse_weights=args.fuse_weight,
            )
    if not main:
        return 0
    summary = report.as_json()
    summary["wall_s"] = round(time.perf_counter() - t0, 2)
    cache_info = summary["cache"]
    notes = [f"pairs requested {cache_info['pairs_requested']:,}  found in cache {cache_info['pairs_cached']:,}  "
             f"scored now {cache_info['pairs_scored']:,}"] if args.reranker else []
    if workers.torchrun:
        notes.append(f"{workers.world_size} torchrun ranks shared the reranking")
    _print_runs(summary, args.output, notes)
    if results_dir is not None:
        print(f"results store: {len(summary['runs'])} file(s) under {results_dir}/retrieval/", file=sys.stderr)
    print(f"wall time {summary['wall_s']:.1f} s", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------------------------------------------------
# nanobeir


def _nanobeir_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reranker", required=True, metavar="ID", help="cross-encoder to evaluate")
    p.add_argument("--data", action="append", type=Path, default=[], metavar="DIR",
                   help="local BEIR folder(s); without it the NanoBEIR datasets are downloaded")
    p.add_argument("--split", default="test", help="split of the local folders (default test)")
    p.add_argument("--datasets", nargs="+", metavar="NAME", help="online: subset of the 13 NanoBEIR datasets")
    p.add_argument("--first-stage", default="bm25", metavar="ID", help="offline first stage (default bm25)")
    p.add_argument("--top-k", type=parse_positive_int, default=100, help="depth reranked (default 100)")
    p.add_argument("--max-queries", type=parse_positive_int, help="offline: first N queries (by id) of each folder")
    _add_model_args(p)
    p.add_argument("--output", type=Path, help="write the metrics JSON here")


def _split_nanobeir_scores(scores: dict[str, float]) -> dict[str, dict[str, float]]:
    """``NanoSciFact_R100_ndcg@10`` -> ``{"NanoSciFact": {"ndcg@10": …}}`` (aggregate keys dropped)."""
    out: dict[str, dict[str, float]] = {}
    for key, value in scores.items():
        if not key.startswith("Nano") or key.startswith("NanoBEIR_"):
            continue
        name, _, metric = key.split("_", 2)
        out.setdefault(name, {})[metric] = float(value)
    return out


def _nanobeir_scores(args: argparse.Namespace, model: Any) -> tuple[dict[str, dict[str, float]], str]:
    """(dataset -> metric -> value, source of the data) of one reranker model."""
    from eval.retrieval import nanobeir

    if not args.data:
        evaluator = nanobeir.build_nanobeir_evaluator(args.datasets, args.top_k, args.batch_size, True)
        return _split_nanobeir_scores(evaluator(model)), nanobeir.NANOBEIR_HUB_ID
    per_dataset = {}
    for folder in args.data:
        dataset, _ = load_data(folder, args.split, None, None)
        evaluator = nanobeir.build_reranking_evaluator(
            dataset, args.first_stage, args.top_k, args.max_queries, batch_size=args.batch_size, show_progress_bar=True,
        )
        scores = evaluator(model)
        per_dataset[dataset.name] = {k.removeprefix(f"{evaluator.name}_"): float(v) for k, v in scores.items()}
    return per_dataset, "local"


@verb(
    "nanobeir",
    help="the blog's training-time evaluator: BM25 top-100 reranked, NDCG@10 per dataset and mean",
    arguments=_nanobeir_arguments,
    description="Online (no --data): sentence-transformers' CrossEncoderNanoBEIREvaluator on the 13 NanoBEIR datasets\n"
    "from the Hub. Offline: the same evaluator over local BEIR folders (--data, repeatable).",
)
def nanobeir(args: argparse.Namespace) -> int:
    """NanoBEIR-style evaluation of one reranker (online: the Hub datasets; offline: local folders)."""
    from ettin.io import write_json_atomic
    from ettin.provenance import base_provenance
    from ettin.runtime import load_reranker

    _one_process_only("nanobeir")
    with reraise_as(RetrievalError):
        reranker = load_reranker(args.reranker, _settings(args))
        per_dataset, source = _nanobeir_scores(args, reranker.model)
    mean = {k: sum(d[k] for d in per_dataset.values()) / len(per_dataset) for k in next(iter(per_dataset.values()))}
    print(f"{'dataset':<28} {'NDCG@10':>8} {'base':>8}")
    for name, values in per_dataset.items():
        print(f"{name:<28} {values['ndcg@10']:>8.4f} {values.get('base_ndcg@10', float('nan')):>8.4f}")
    print(f"{'mean':<28} {mean['ndcg@10']:>8.4f} {mean.get('base_ndcg@10', float('nan')):>8.4f}")
    if reranker.random_init:
        print("RANDOM-INIT: a random-weight replica; these numbers are meaningless.")
    if args.output:
        write_json_atomic(args.output, {
            "schema": "ettin.nanobeir/1", "reranker": reranker.name, "random_init": reranker.random_init,
            "first_stage": args.first_stage if args.data else "bm25 (NanoBEIR-en)", "top_k": args.top_k,
            "source": source, "per_dataset": per_dataset, "mean": mean,
            "provenance": {"reranker": reranker.provenance(), **base_provenance()},
        })
    return 0


# --------------------------------------------------------------------------------------------------------------------
# mteb


def _mteb_arguments(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--benchmark", help='mteb benchmark name, e.g. "MTEB(eng, v2)" (its Retrieval tasks)')
    group.add_argument("--tasks", nargs="+", metavar="TASK", help="mteb task names, e.g. SciFact")
    group.add_argument("--data", type=Path, metavar="DIR", help="local BEIR folder run as an mteb custom task (offline)")
    p.add_argument("--split", default="test", help="split of --data (default test)")
    p.add_argument("--embedders", nargs="+", required=True, metavar="ID", help="first-stage embedders ('bm25' for mteb's BM25)")
    p.add_argument("--rerankers", nargs="*", default=[], metavar="ID", help="cross-encoders")
    p.add_argument("--top-k", type=parse_positive_int, default=100, help="depth reranked (default 100)")
    p.add_argument("--max-queries", type=parse_positive_int, help="offline: first N queries (by id)")
    _add_model_args(p)
    p.add_argument("--work-dir", type=Path, default=Path("runs/mteb"), help="mteb predictions and cache (default runs/mteb)")
    _add_store_args(p)


@verb(
    "mteb",
    help="mteb's own two-stage flow (embedder top-100 -> convert_to_reranking -> cross-encoder)",
    arguments=_mteb_arguments,
    description="Online: MTEB tasks or a benchmark by name. Offline: --data wraps a local BEIR folder as an mteb\n"
    "custom task and runs the same code path. Writes our results-store files.",
)
def mteb(args: argparse.Namespace) -> int:
    """mteb's two-stage flow; writes our results-store records."""
    try:
        from eval.retrieval import mteb as mteb_path
    except ImportError as exc:
        raise RetrievalError(f"the MTEB path is not available: {exc}") from exc
    _one_process_only("mteb")
    with reraise_as(RetrievalError):
        settings = _settings(args)
        if args.data is not None:
            dataset, source = load_data(args.data, args.split, None, args.max_queries)
            tasks = [mteb_path.local_task(dataset, source)]
        else:
            tasks = mteb_path.named_tasks(benchmark=args.benchmark, task_names=args.tasks)
        summary = mteb_path.run_two_stage(
            tasks, args.embedders, args.rerankers, top_k=args.top_k, settings=settings, work_dir=args.work_dir,
            results_dir=_results_dir(args), batch_size=args.batch_size,
        )
    _print_runs(summary, args.output)
    return 0
