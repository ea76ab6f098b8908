"""The ``python -m ettin`` verbs: build replicas, show the registry, search, and time the pipeline."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ettin import registry
from ettin.cli import parse_positive_int, reraise_as, verb
from ettin.errors import UserError
from ettin.runtime.device import INTERACTIVE_MAX_LENGTH

__all__ = ["hub_cache", "latency", "replica", "search", "show_registry"]


class UsageError(UserError):
    """Flags that cannot work together, or input the pipeline cannot use (e.g. a corpus with no indexable text)."""


def _sizes(value: str) -> list[str]:
    if value == "all":
        return list(registry.SIZES)
    sizes = [s.strip().lower() for s in value.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in registry.RERANKERS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown size(s) {', '.join(unknown)}; choose from {', '.join(registry.SIZES)} or 'all'")
    return sizes


def _replica_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", type=_sizes, required=True, help="17m, 32m, 68m, 150m, 400m, 1b, a comma list, or 'all'")
    p.add_argument("--out", help="output folder (one sub-folder per size when several are built)")
    p.add_argument("--dry-run", action="store_true", help="only count parameters (meta device) and compare with the registry")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace existing folders")


@verb("replica", help="build faithful random-weight replicas of the Ettin rerankers", arguments=_replica_arguments)
def replica(args: argparse.Namespace) -> int:
    from ettin.replica import build_replica, count_replica_parameters

    if not args.dry_run and not args.out:
        raise UsageError("replica: --out is required unless --dry-run is given")
    ok = True
    print(f"{'size':>5} {'encoder':>14} {'head':>10} {'total':>14} {'expected':>14}  match")
    for size in args.size:
        counts = count_replica_parameters(size)
        match = counts["total"] == counts["expected_total"]
        ok &= match
        print(
            f"{size:>5} {counts['encoder']:>14,} {counts['head']:>10,} {counts['total']:>14,} {counts['expected_total']:>14,}  "
            f"{'yes' if match else 'NO'}"
        )
        if not args.dry_run:
            out = Path(args.out) / size if len(args.size) > 1 else Path(args.out)
            path = build_replica(size, out, seed=args.seed, overwrite=args.overwrite)
            print(f"      saved random-init replica to {path}")
    return 0 if ok else 1


def _hub_cache_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="the HF_HOME folder to fill (its hub/ sub-folder is the cache); outside the repo")
    p.add_argument("--size", type=_sizes, default=list(registry.SIZES),
                   help="Ettin sizes written as reranker and encoder replicas: a comma list or 'all' (default all; "
                   "400m and 1b take GBs)")
    p.add_argument("--no-encoders", action="store_true", help="skip the jhu-clsp/ettin-encoder-* replicas")
    p.add_argument("--no-teacher", action="store_true", help="skip the mixedbread-ai/mxbai-rerank-large-v2 stand-in")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")


@verb(
    "hub-cache",
    help="fill a local Hugging Face cache so the real model ids resolve offline (replicas, labelled random-init)",
    arguments=_hub_cache_arguments,
    description="Writes HF_HOME/hub/models--org--name/{refs,snapshots,blobs} for the Ettin rerankers and encoders\n"
    "(random replicas), the teacher (a tiny random Qwen2 stand-in) and all-MiniLM-L6-v2 (real packaged weights).\n"
    "Then run any command with HF_HUB_OFFLINE=1 HF_HOME=OUT.",
)
def hub_cache(args: argparse.Namespace) -> int:
    from ettin.hub_cache import build_hub_cache, cache_root

    with reraise_as(UsageError, (ValueError,)):
        entries = build_hub_cache(
            args.out, sizes=args.size, encoders=not args.no_encoders, teacher=not args.no_teacher, seed=args.seed
        )
    for e in entries:
        flag = "RANDOM-INIT" if e.random_init else "real"
        print(f"  {e.repo_id:<44} {e.revision[:12]}  {e.files:>3} files  {flag:<11} {e.what}")
    print(f"wrote {len(entries)} repositories to {cache_root(args.out)}")
    print(f"use: HF_HUB_OFFLINE=1 HF_HOME={Path(args.out).resolve()} python -m …")
    return 0


@verb(
    "registry",
    help="print the model registry",
    arguments=lambda p: p.add_argument("--json", action="store_true", help="machine-readable output"),
)
def show_registry(args: argparse.Namespace) -> int:
    if args.json:
        from dataclasses import asdict

        data = {
            "rerankers": {k: {**asdict(v), "total_parameters": v.total_parameters} for k, v in registry.RERANKERS.items()},
            "embedders": {k: asdict(v) for k, v in registry.EMBEDDERS.items()},
            "bm25": asdict(registry.BM25),
            "peers": {k: asdict(v) for k, v in registry.peers().items()},
        }
        json.dump(data, sys.stdout, indent=2)
        print()
        return 0
    print("Ettin rerankers")
    for m in registry.RERANKERS.values():
        e = m.encoder
        print(
            f"  {m.size:>5}  {m.hub_id:<40} h={e.hidden_size:<5} ff={e.intermediate_size:<5} L={e.num_hidden_layers:<3} "
            f"heads={e.num_attention_heads:<3} params={m.total_parameters:>13,}  lr={m.learning_rate:g} batch={m.global_batch_size}"
        )
    print("First stages")
    for m in registry.EMBEDDERS.values():
        print(f"  {m.hub_id}")
    print(f"  {registry.BM25.id}  ({registry.BM25.label})")
    print(f"Peer rerankers: {len(registry.peers())} (see --json)")
    return 0


def _search_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("query")
    p.add_argument("--first-stage", default="bm25", help="'bm25' or an embedder id/folder (default bm25)")
    p.add_argument("--reranker", help="Ettin size, Hub id or local folder; omit for retriever-only")
    p.add_argument("--data", help="BEIR folder whose corpus.jsonl to search (default: bundled SciFact)")
    p.add_argument("--max-docs", type=int, help="use only the first N documents")
    p.add_argument("--top-k", type=int, default=100, help="first-stage depth K (default 100)")
    p.add_argument("--show", type=int, default=10, help="results to print (default 10)")
    _precision_and_backend(p)
    p.add_argument("--max-length", type=parse_positive_int, help="reranker tokens per pair (default: the model's own limit)")


def _precision_and_backend(p: argparse.ArgumentParser) -> None:
    from ettin.runtime.device import BACKENDS, PRECISIONS

    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="reranker precision (default auto; int8 only with an exported --backend)")  # fmt: skip
    p.add_argument("--backend", choices=BACKENDS, default="torch",
                   help="where the reranker runs: torch (default), an ONNX Runtime or OpenVINO export built once into "
                   "the cache folder and judged by the correctness gate (torch is kept when it fails), or auto: the "
                   "fastest that passes")  # fmt: skip


@verb("search", help="retrieve and rerank one query over a corpus (default: bundled SciFact)", arguments=_search_arguments)
def search(args: argparse.Namespace) -> int:
    from ettin.corpus import load_corpus, scifact_corpus
    from ettin.pipeline import make_first_stage, retrieve_and_rerank
    from ettin.runtime import best_settings, load_reranker

    with reraise_as(UsageError, (ValueError,)):
        corpus = load_corpus(args.data) if args.data else scifact_corpus()
        if args.max_docs:
            corpus = corpus.subset(args.max_docs)
        first = make_first_stage(args.first_stage, corpus)
        settings = best_settings(precision=args.precision, max_length=args.max_length, backend=args.backend)
        rr = load_reranker(args.reranker, settings) if args.reranker else None
        result = retrieve_and_rerank(args.query, first, rr, k=args.top_k, top_n=args.show)
    if rr is not None and args.backend != "torch":
        scoring = rr.scoring()
        print(f"reranker runs on {scoring['backend']} {scoring['precision']} ({scoring['backend_reason']})")
    if result.random_init:
        print("NOTE: the reranker has random weights (replica): its scores are meaningless.")
    for h in result.hits:
        move = f"{h.movement:+d}" if h.rerank_rank is not None else ""
        rs = f"{h.rerank_score:8.3f}" if h.rerank_score is not None else ""
        print(f"{h.final_rank:>3} (was {h.first_stage_rank:>3} {move:>4}) {rs} {h.first_stage_score:7.3f}  {h.doc_id}  {h.title[:70]}")
    print(" ".join(f"{k}={v * 1000:.0f}ms" for k, v in result.timings.items()))
    return 0


def _latency_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--first-stage", default="sentence-transformers/all-MiniLM-L6-v2", help="'bm25' or an embedder id/folder")
    p.add_argument("--reranker", help="Ettin size, Hub id or local folder; omit for retriever-only")
    p.add_argument("--queries", type=int, default=20, help="number of SciFact test queries (default 20)")
    p.add_argument("--max-docs", type=int, help="use only the first N documents")
    p.add_argument("--top-k", type=int, default=100, help="first-stage depth K (default 100)")
    _precision_and_backend(p)
    p.add_argument("--max-length", type=parse_positive_int, default=INTERACTIVE_MAX_LENGTH,
                   help=f"reranker tokens per pair (default {INTERACTIVE_MAX_LENGTH}, the app's latency cap)")
    p.add_argument("--output", help="also write the numbers as JSON")


@verb(
    "latency",
    help="per-stage pipeline latency on the bundled SciFact (corpus indexing once, then per query)",
    arguments=_latency_arguments,
)
def latency(args: argparse.Namespace) -> int:
    import statistics
    import time

    from ettin.corpus import scifact
    from ettin.io import write_json_atomic
    from ettin.pipeline import EmbeddingStore, make_first_stage, retrieve_and_rerank
    from ettin.progress import progress_bar, progress_callback
    from ettin.provenance import base_provenance
    from ettin.runtime import best_settings, cached_embedder, load_reranker

    dataset = scifact("test")
    corpus = dataset.corpus.subset(args.max_docs) if args.max_docs else dataset.corpus
    queries = list(dataset.queries.values())[: args.queries]
    t0 = time.perf_counter()
    with reraise_as(UsageError, (ValueError,)):
        cached = args.first_stage != "bm25" and EmbeddingStore().has(cached_embedder(args.first_stage), corpus)
        with progress_callback(len(corpus), "embedding corpus", show=args.first_stage != "bm25") as progress:
            first = make_first_stage(args.first_stage, corpus, progress=progress)
        index_s = time.perf_counter() - t0
        settings = best_settings(precision=args.precision, max_length=args.max_length, backend=args.backend)
        reranker = load_reranker(args.reranker, settings) if args.reranker else None
    rows = [retrieve_and_rerank(q, first, reranker, k=args.top_k, top_n=10).timings for q in progress_bar(iterable=queries, desc="queries")]
    median = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    print(f"corpus: {len(corpus):,} docs; first stage {first.name}: index/embedding {index_s:.1f} s ({'from cache' if cached else 'computed'})")
    runs_on = "" if reranker is None else " on {backend} {precision}".format(**reranker.scoring())
    print(f"{len(queries)} queries, K={args.top_k}, reranker={reranker.name if reranker else None}{runs_on} (median per query):")
    for key, value in median.items():
        print(f"  {key:<14} {value * 1000:9.1f} ms")
    if args.output:
        write_json_atomic(
            args.output,
            {
                "first_stage": first.name,
                "reranker": reranker.provenance() if reranker else None,
                "corpus_docs": len(corpus),
                "index_s": index_s,
                "index_from_cache": cached,
                "queries": len(queries),
                "top_k": args.top_k,
                "median_s": median,
                "provenance": base_provenance(),
            },
        )
    return 0
