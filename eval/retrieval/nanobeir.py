"""NanoBEIR-style reranking evaluation: the blog's training-time evaluator, online (Hub) and offline (local BEIR data).

The blog evaluates each checkpoint by reranking the BM25 top-100 of every query of 13 NanoBEIR datasets and reporting the
mean NDCG@10. Online this is sentence-transformers' ``CrossEncoderNanoBEIREvaluator``; offline the same
``CrossEncoderRerankingEvaluator`` runs on samples built from a local :class:`ettin.corpus.BeirDataset` and a first stage
of this project (BM25 by default).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ettin.errors import UserError

if TYPE_CHECKING:
    from sentence_transformers.cross_encoder.evaluation import (
        CrossEncoderNanoBEIREvaluator,
        CrossEncoderRerankingEvaluator,
    )

    from ettin.corpus import BeirDataset

__all__ = [
    "NANOBEIR_DATASETS",
    "NANOBEIR_HUB_ID",
    "NanoBEIRDownloadError",
    "build_nanobeir_evaluator",
    "build_reranking_evaluator",
    "first_stage_rankings",
    "reranking_samples",
]

# All 13 NanoBEIR datasets (sentence-transformers' default leaves out ArguAna and Touche2020; the blog uses all 13).
NANOBEIR_DATASETS: tuple[str, ...] = (
    "climatefever",
    "dbpedia",
    "fever",
    "fiqa2018",
    "hotpotqa",
    "msmarco",
    "nfcorpus",
    "nq",
    "quoraretrieval",
    "scidocs",
    "arguana",
    "scifact",
    "touche2020",
)
NANOBEIR_HUB_ID = "sentence-transformers/NanoBEIR-en"


class NanoBEIRDownloadError(UserError, RuntimeError):
    """The NanoBEIR datasets cannot be downloaded here; the message says to use local folders."""


def reranking_samples(
    dataset: BeirDataset,
    rankings: dict[str, list[str]],
    top_k: int = 100,
    ignore_identical_ids: bool | None = None,
) -> list[dict[str, Any]]:
    """Build ``CrossEncoderRerankingEvaluator`` samples from first-stage rankings.

    Args:
        dataset: The queries, corpus and judgements.
        rankings: Query id -> document ids, best first (a first stage's output).
        top_k: How many of each ranking are reranked.
        ignore_identical_ids: Leave out a document whose id equals the query id, as mteb does for the tasks that set it
            (default: :func:`ettin.metrics.identical_ids_rule` of the dataset's name).

    Returns:
        One ``{"query", "positive", "documents"}`` sample per query (in sorted query-id order); positives are the
        documents judged relevant (grade > 0), documents are the first stage's top ``top_k`` (title + text, as the
        reranker sees them). Queries without a relevant document are left out, as NanoBEIR's qrels hold positives only.
    """
    from ettin.metrics import identical_ids_rule

    if ignore_identical_ids is None:
        ignore_identical_ids = identical_ids_rule(dataset.name).ignore
    index = {doc_id: i for i, doc_id in enumerate(dataset.corpus.ids)}
    samples = []
    for qid in sorted(dataset.queries):
        positives = [d for d, grade in dataset.qrels.get(qid, {}).items() if grade > 0 and d in index]
        if not positives:
            continue
        ranked = [d for d in rankings.get(qid, [])[:top_k] if not (ignore_identical_ids and d == qid)]
        samples.append(
            {
                "query": dataset.queries[qid],
                "positive": [dataset.corpus.document_text(index[d]) for d in positives],
                "documents": [dataset.corpus.document_text(index[d]) for d in ranked],
            }
        )
    return samples


def first_stage_rankings(
    dataset: BeirDataset, first_stage: str = "bm25", top_k: int = 100, show_progress: bool = False
) -> dict[str, list[str]]:
    """Top-``top_k`` document ids per query from a first stage (``"bm25"`` or a dense embedder id/folder).

    Goes through the on-disk stage-1 cache of :mod:`eval.retrieval.first_stage`, so repeated evaluator builds are cheap.
    """
    from eval.retrieval.first_stage import run_first_stage

    result = run_first_stage(dataset, first_stage, top_k=top_k, show_progress=show_progress)
    return {qid: [doc_id for doc_id, _ in hits] for qid, hits in result.hits.items()}


def build_reranking_evaluator(
    dataset: BeirDataset,
    first_stage: str = "bm25",
    top_k: int = 100,
    max_queries: int | None = None,
    name: str | None = None,
    batch_size: int = 32,
    show_progress_bar: bool = False,
    ignore_identical_ids: bool | None = None,
) -> CrossEncoderRerankingEvaluator:
    """A sentence-transformers reranking evaluator over a local BEIR dataset, NanoBEIR-style.

    The first stage retrieves the top ``top_k`` per query; the evaluator reranks them with the model under evaluation
    and reports MAP, MRR@10 and NDCG@10 (primary metric ``<name>_ndcg@10``), plus the first stage's own ("base_")
    scores. ``always_rerank_positives=False``: a relevant document the first stage missed stays missed, as in the blog.

    Args:
        dataset: A loaded BEIR dataset (e.g. ``ettin.corpus.scifact("test")``).
        first_stage: ``"bm25"`` or a dense embedder (registry id, Hub id, local folder).
        top_k: First-stage depth.
        max_queries: Keep only the first ``max_queries`` queries (sorted by id) — for fast in-training checks.
        name: Evaluator name (metric prefix); default ``"<dataset>_R<top_k>"``.
        batch_size: Reranker batch size.
        show_progress_bar: Show sentence-transformers' progress bar while scoring.
        ignore_identical_ids: As :func:`reranking_samples` (default: the rule of the dataset's name).

    Raises:
        ValueError: ``top_k`` or ``max_queries`` below 1, or no query has a relevant document.
    """
    from sentence_transformers.cross_encoder.evaluation import CrossEncoderRerankingEvaluator

    if not isinstance(top_k, int) or top_k < 1:
        raise ValueError("top_k must be a positive whole number")
    if max_queries is not None:
        if not isinstance(max_queries, int) or max_queries < 1:
            raise ValueError("max_queries must be a positive whole number or None")
        dataset = dataset.slice(max_queries)
    rankings = first_stage_rankings(dataset, first_stage, top_k=top_k)
    samples = reranking_samples(dataset, rankings, top_k=top_k, ignore_identical_ids=ignore_identical_ids)
    if not samples:
        raise ValueError(f"{dataset.name}/{dataset.split}: no query has a relevant document; nothing to evaluate")
    return CrossEncoderRerankingEvaluator(
        samples=samples,
        at_k=10,
        always_rerank_positives=False,
        name=name or f"{_safe_name(dataset.name)}_R{top_k}",
        batch_size=batch_size,
        show_progress_bar=show_progress_bar,
        write_csv=False,
    )


def build_nanobeir_evaluator(
    dataset_names: Sequence[str] | None = None,
    rerank_k: int = 100,
    batch_size: int = 32,
    show_progress_bar: bool = False,
) -> CrossEncoderNanoBEIREvaluator:
    """The online NanoBEIR evaluator (downloads ``sentence-transformers/NanoBEIR-en``; fails offline).

    Args:
        dataset_names: NanoBEIR dataset names (default: all 13, as in the blog).
        rerank_k: BM25 depth (the Hub copy ships BM25 rankings).
        batch_size: Reranker batch size.
        show_progress_bar: Progress bar per dataset.

    Raises:
        ValueError: an unknown dataset name.
        NanoBEIRDownloadError: the datasets cannot be downloaded (offline, Hub unreachable).
    """
    from sentence_transformers.cross_encoder.evaluation import CrossEncoderNanoBEIREvaluator

    names = [n.lower() for n in (dataset_names or NANOBEIR_DATASETS)]
    unknown = [n for n in names if n not in NANOBEIR_DATASETS]
    if unknown:
        raise ValueError(f"unknown NanoBEIR dataset(s) {unknown}; known: {', '.join(NANOBEIR_DATASETS)}")
    try:
        return CrossEncoderNanoBEIREvaluator(
            dataset_names=names,
            dataset_id=NANOBEIR_HUB_ID,
            rerank_k=rerank_k,
            at_k=10,
            always_rerank_positives=False,
            batch_size=batch_size,
            show_progress_bar=show_progress_bar,
            write_csv=False,
        )
    except ValueError as exc:
        if "Could not load" in str(exc):
            raise NanoBEIRDownloadError(
                f"cannot download {NANOBEIR_HUB_ID} ({exc}); offline, evaluate on a local BEIR folder instead "
                "(`python -m eval nanobeir --data DIR`)"
            ) from exc
        raise


def _safe_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "_" for c in name).strip("_") or "dataset"
