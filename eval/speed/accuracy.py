"""Is a lossy fast path (bf16) accurate enough? Judged on a TRAINED CrossEncoder, never on a random replica.

Compares the project runtime in bf16 against fp32 on the benchmark pairs (Spearman, max abs diff), checks that the fp32
fast path equals plain ``CrossEncoder.predict`` there, and reranks BM25 candidates of SciFact test queries with both
precisions to compare NDCG@10.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ettin.errors import UserError
from ettin.runtime.gate import spearman

__all__ = ["LOSSLESS_TOLERANCE", "NDCG_TOLERANCE", "SPEARMAN_TARGET", "AccuracyError", "accuracy_check", "format_accuracy", "scifact_rerank", "spearman"]

SPEARMAN_TARGET = 0.99
NDCG_TOLERANCE = 0.005
LOSSLESS_TOLERANCE = 1e-4


class AccuracyError(UserError, RuntimeError):
    """The accuracy check cannot run on this model; the message says why."""


def _load_both(model_path: str, device: str, max_length: int) -> tuple[Any, Any]:
    """The model in fp32 and in bf16, refusing a random-weight replica."""
    from ettin.runtime import ModelLoadError, RuntimeSettings, load_reranker

    try:
        fp32 = load_reranker(model_path, RuntimeSettings(device, "float32", "sdpa", max_length, "accuracy fp32"))
        bf16 = load_reranker(model_path, RuntimeSettings(device, "bfloat16", "sdpa", max_length, "accuracy bf16"))
    except ModelLoadError as exc:
        raise AccuracyError(str(exc)) from None
    if fp32.random_init:
        raise AccuracyError(
            f"{model_path} is a random-weight replica: its scores are nearly constant, so agreement means nothing; "
            "give a trained CrossEncoder folder"
        )
    return fp32, bf16


def scifact_rerank(scorers: dict[str, Any], n_queries: int, k: int) -> dict[str, Any]:
    """NDCG@10 of BM25 top-``k`` on the first ``n_queries`` SciFact test queries, and reranked by each scorer (name ->
    anything with ``score_pairs``); the first scorer is the reference of the per-query Spearman of the others."""
    from ettin.corpus import scifact
    from ettin.metrics import per_query_metrics, ranking_as_run
    from ettin.pipeline import BM25FirstStage
    from ettin.progress import progress_bar

    data = scifact("test").slice(n_queries)
    corpus = data.corpus
    qids = sorted(data.queries)
    hits = BM25FirstStage(corpus).search_many([data.queries[q] for q in qids], k)
    names = list(scorers)
    runs: dict[str, dict[str, dict[str, float]]] = {"bm25": {}, **{name: {} for name in names}}
    rhos: dict[str, list[float]] = {name: [] for name in names[1:]}
    with progress_bar(iterable=list(zip(qids, hits)), desc="rerank SciFact", unit="query") as bar:
        for qid, (idx, _scores) in bar:
            ids = [corpus.ids[i] for i in idx.tolist()]
            runs["bm25"][qid] = ranking_as_run(ids)
            if not ids:
                continue
            cand = [(data.queries[qid], corpus.document_text(i)) for i in idx.tolist()]
            scored = {name: scorer.score_pairs(cand) for name, scorer in scorers.items()}
            for name, s in scored.items():
                order = sorted(range(len(ids)), key=lambda j: (-float(s[j]), j))
                runs[name][qid] = ranking_as_run([ids[j] for j in order])
            for name in names[1:]:
                rho = spearman(scored[names[0]], scored[name])
                if not math.isnan(rho):
                    rhos[name].append(rho)
    # every query counts, an unjudged or empty one as 0
    mean = {}
    for name, run in runs.items():
        per_query = per_query_metrics(data.qrels, run)
        mean[name] = float(np.mean([per_query.get(q, {}).get("ndcg_at_10", 0.0) for q in qids]))
    return {
        "queries": len(qids),
        "first_stage": f"BM25 top-{k}",
        "ndcg_at_10": mean,
        "mean_per_query_spearman_vs_first": {name: float(np.mean(v)) if v else None for name, v in rhos.items()},
    }


def _scifact_rerank(fp32: Any, bf16: Any, n_queries: int, k: int) -> dict[str, Any]:
    """NDCG@10 of BM25 top-``k`` on the first ``n_queries`` SciFact test queries, and reranked in fp32 and in bf16."""
    out = scifact_rerank({"fp32": fp32, "bf16": bf16}, n_queries, k)
    rho = out.pop("mean_per_query_spearman_vs_first")["bf16"]
    mean = out["ndcg_at_10"]
    return {**out, "bf16_minus_fp32_ndcg_at_10": mean["bf16"] - mean["fp32"], "mean_per_query_spearman_bf16_vs_fp32": rho}


def accuracy_check(
    model_path: str,
    pairs: Sequence[tuple[str, str]],
    *,
    device: str = "cpu",
    max_length: int = 512,
    n_queries: int = 100,
    k: int = 30,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """fp32 vs bf16 of the project runtime on a trained model: score agreement and SciFact NDCG@10 after BM25.

    Raises:
        AccuracyError: the model is a random replica, or it cannot be loaded.
    """
    from ettin.runtime import cpu_has_native_bf16

    if n_queries < 1 or k < 10:
        raise AccuracyError("--accuracy-queries must be positive and --accuracy-k at least 10")
    fp32, bf16 = _load_both(model_path, device, max_length)
    log(f"\n== accuracy of bf16 vs fp32 on {fp32.name} (trained model)")
    pairs = list(pairs)
    t0 = time.perf_counter()
    ref = fp32.score_pairs(pairs, fast=False)
    fast32 = fp32.score_pairs(pairs)
    low = bf16.score_pairs(pairs)
    log(f"  benchmark pairs scored three ways in {time.perf_counter() - t0:.1f} s")
    rho_pairs = spearman(fast32, low)
    result = {
        "model": fp32.name,
        "model_provenance": fp32.provenance(),
        "bf16_native_on_this_cpu": cpu_has_native_bf16() if device == "cpu" else None,
        "benchmark_pairs": {
            "n": len(pairs),
            "fp32_fast_vs_predict_max_abs_diff": float(np.max(np.abs(fast32 - ref))),
            "bf16_vs_fp32_spearman": rho_pairs,
            "bf16_vs_fp32_max_abs_diff": float(np.max(np.abs(low - fast32))),
            "fp32_score_range": [float(fast32.min()), float(fast32.max())],
        },
        "scifact": _scifact_rerank(fp32, bf16, n_queries, k),
        "targets": {"spearman": SPEARMAN_TARGET, "ndcg_tolerance": NDCG_TOLERANCE, "lossless_tolerance": LOSSLESS_TOLERANCE},
    }
    result["passed"] = {
        "lossless": result["benchmark_pairs"]["fp32_fast_vs_predict_max_abs_diff"] <= LOSSLESS_TOLERANCE,
        "bf16_spearman": bool(rho_pairs >= SPEARMAN_TARGET),
        "bf16_ndcg": bool(abs(result["scifact"]["bf16_minus_fp32_ndcg_at_10"]) <= NDCG_TOLERANCE),
    }
    return result


def format_accuracy(acc: dict[str, Any]) -> str:
    """Markdown summary of :func:`accuracy_check`."""
    bp, sf = acc["benchmark_pairs"], acc["scifact"]
    n = sf["ndcg_at_10"]
    return "\n".join(
        [
            f"accuracy check on {acc['model']} ({bp['n']} benchmark pairs; SciFact test, {sf['queries']} queries, {sf['first_stage']})",
            "| check | value | target | passed |",
            "|---|---|---|---|",
            f"| fp32 fast path vs predict, max abs diff | {bp['fp32_fast_vs_predict_max_abs_diff']:.2e} | <= {LOSSLESS_TOLERANCE:g} | {acc['passed']['lossless']} |",
            f"| bf16 vs fp32 Spearman | {bp['bf16_vs_fp32_spearman']:.5f} | >= {SPEARMAN_TARGET} | {acc['passed']['bf16_spearman']} |",
            f"| bf16 vs fp32 max abs diff | {bp['bf16_vs_fp32_max_abs_diff']:.3g} | (fp32 range {bp['fp32_score_range'][0]:.2f}..{bp['fp32_score_range'][1]:.2f}) | |",
            f"| NDCG@10 BM25 / fp32 / bf16 | {n['bm25']:.4f} / {n['fp32']:.4f} / {n['bf16']:.4f} | abs(bf16 - fp32) <= {NDCG_TOLERANCE} | {acc['passed']['bf16_ndcg']} |",
        ]
    )
