"""The project's one implementation of retrieval metrics, computed the way MTEB computes them: ``pytrec_eval`` for NDCG/MAP/Recall, MTEB's own MRR.

MTEB (``mteb/_evaluators/retrieval_metrics.py``) averages pytrec_eval's per-query ``ndcg_cut``, ``map_cut`` and ``recall``
over the evaluated queries and computes MRR@k itself, breaking score ties by document id, descending (as trec_eval
does). Differences from MTEB, on purpose: means are not rounded to 5 decimals, and a judged query that the run does not
cover (e.g. BM25 matched no term) counts as 0 instead of silently dropping out of the mean.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["METRIC_KEYS", "MAIN_METRIC", "mrr_at_k", "per_query_metrics", "mean_metrics", "evaluate_run", "ranking_as_run"]

METRIC_KEYS: tuple[str, ...] = ("ndcg_at_10", "mrr_at_10", "map_at_10", "recall_at_10", "recall_at_100")
MAIN_METRIC = "ndcg_at_10"

Qrels = Mapping[str, Mapping[str, int]]
Run = Mapping[str, Mapping[str, float]]

_PYTREC_MEASURES = {"ndcg_cut.10", "map_cut.10", "recall.10,100"}
_PYTREC_TO_OURS = {
    "ndcg_cut_10": "ndcg_at_10",
    "map_cut_10": "map_at_10",
    "recall_10": "recall_at_10",
    "recall_100": "recall_at_100",
}


def mrr_at_k(relevant: Mapping[str, int], scores: Mapping[str, float], k: int = 10) -> float:
    """Reciprocal rank of the first relevant (grade > 0) document in the top ``k``; ties by document id, descending."""
    ranked = sorted(scores.items(), key=lambda item: (item[1], item[0]), reverse=True)[:k]
    for rank, (doc_id, _) in enumerate(ranked, start=1):
        if relevant.get(doc_id, 0) > 0:
            return 1.0 / rank
    return 0.0


def per_query_metrics(qrels: Qrels, run: Run) -> dict[str, dict[str, float]]:
    """Metrics of every judged query (queries with no judgement at all are skipped, as MTEB does).

    Args:
        qrels: Query id -> document id -> grade (0 = not relevant).
        run: Query id -> document id -> score (higher is better). Documents need not be sorted.

    Returns:
        Query id -> ``{metric: value}`` for the keys in :data:`METRIC_KEYS`.
    """
    import pytrec_eval

    judged = {qid: {d: int(g) for d, g in docs.items()} for qid, docs in qrels.items() if docs}
    covered = {qid: {d: float(s) for d, s in run[qid].items()} for qid in judged if run.get(qid)}
    by_pytrec = pytrec_eval.RelevanceEvaluator(judged, _PYTREC_MEASURES).evaluate(covered) if covered else {}
    out: dict[str, dict[str, float]] = {}
    for qid, relevant in judged.items():
        values = dict.fromkeys(METRIC_KEYS, 0.0)
        if qid in by_pytrec:
            for theirs, ours in _PYTREC_TO_OURS.items():
                values[ours] = float(by_pytrec[qid][theirs])
            values["mrr_at_10"] = mrr_at_k(relevant, covered[qid], 10)
        out[qid] = values
    return out


def mean_metrics(per_query: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Unweighted mean over queries of each metric in :data:`METRIC_KEYS`.

    Raises:
        ValueError: no query to average over.
    """
    if not per_query:
        raise ValueError("no judged query to evaluate")
    n = len(per_query)
    return {key: sum(values[key] for values in per_query.values()) / n for key in METRIC_KEYS}


def evaluate_run(qrels: Qrels, run: Run) -> dict[str, float]:
    """Mean NDCG@10, MRR@10, MAP@10, Recall@10 and Recall@100 of ``run`` against ``qrels``."""
    return mean_metrics(per_query_metrics(qrels, run))


def ranking_as_run(ranked_ids: Sequence[str]) -> dict[str, float]:
    """A ranked list of document ids as one query's run (strictly decreasing scores, so the order is kept exactly)."""
    n = len(ranked_ids)
    return {doc_id: float(n - rank) for rank, doc_id in enumerate(ranked_ids)}
