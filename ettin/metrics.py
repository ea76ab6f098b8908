"""The project's one implementation of retrieval metrics, computed the way MTEB computes them: ``pytrec_eval`` for NDCG/MAP/Recall, MTEB's own MRR.

MTEB (``mteb/_evaluators/retrieval_metrics.py``) averages pytrec_eval's per-query ``ndcg_cut``, ``map_cut`` and ``recall``
over the evaluated queries and computes MRR@k itself, breaking score ties by document id, descending (as trec_eval
does). Differences from MTEB, on purpose: means are not rounded to 5 decimals, and a judged query that the run does not
cover (e.g. BM25 matched no term) counts as 0 instead of silently dropping out of the mean.

Like MTEB, a task may set ``ignore_identical_ids`` (ArguAna, FiQA2018, FEVER, Quora, MS MARCO …: a document whose id equals
the query id is the query itself): mteb's ``RetrievalEvaluator.evaluate`` then drops that document from the run before
scoring, and so does ``ignore_identical_ids=True`` here. :func:`identical_ids_rule` reads a task's setting from the
installed mteb's task class (by task name), with :data:`IDENTICAL_IDS_FALLBACK` for BEIR folders named after those tasks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "METRIC_KEYS",
    "MAIN_METRIC",
    "IDENTICAL_IDS_FALLBACK",
    "IdenticalIdsRule",
    "identical_ids_rule",
    "drop_identical_ids",
    "mrr_at_k",
    "per_query_metrics",
    "mean_metrics",
    "evaluate_run",
    "ranking_as_run",
]

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


IDENTICAL_IDS_FALLBACK: dict[str, bool] = {
    "arguana": True,
    "fiqa": True,
    "fiqa2018": True,
    "fever": True,
    "feverhardnegatives": True,
    "quora": True,
    "quoraretrieval": True,
    "msmarco": True,
}
"""Lower-case dataset name -> ``ignore_identical_ids``, for when the installed mteb does not know the name: BEIR's folder
names (``arguana``, ``fiqa``, ``fever``, ``quora``, ``msmarco``) and mteb's names of the same tasks, as mteb 2.x sets them
(a test checks this table against the installed mteb). Any other name: ``False``, mteb's default."""

# a slice of a task keeps its rule: `BeirDataset.slice(N)` names it "<name>[:<N>q]", `--max-queries N` "<name>.first<N>q"
_SLICE_SUFFIX = re.compile(r"(\.first\d+q|\[:\d+q\])$")


@dataclass(frozen=True)
class IdenticalIdsRule:
    """Whether a dataset's evaluation drops a retrieved document whose id equals the query id, and where that came from."""

    ignore: bool
    source: str

    def as_protocol(self) -> dict[str, object]:
        """The fields a result's protocol records."""
        return {"ignore_identical_ids": self.ignore, "ignore_identical_ids_source": self.source}


@lru_cache(maxsize=256)
def identical_ids_rule(dataset_name: str) -> IdenticalIdsRule:
    """The ``ignore_identical_ids`` setting of the mteb task named ``dataset_name`` (``ArguAna``: true, ``SciFact``: false).

    The installed mteb's task class is asked first (``mteb.get_task(name).ignore_identical_ids``, the attribute mteb's own
    evaluation passes on); a name mteb does not know (or no mteb installed) is looked up, case-insensitively, in
    :data:`IDENTICAL_IDS_FALLBACK`; anything else is ``False``. A slice of a task's queries (``<name>[:<N>q]``,
    ``<name>.first<N>q``) keeps its task's rule.
    """
    name = _SLICE_SUFFIX.sub("", dataset_name.strip())
    try:
        import mteb
    except ImportError:
        mteb = None
    if mteb is not None:
        try:
            task = mteb.get_task(name)
        except (KeyError, ValueError):
            task = None
        if task is not None:
            version = getattr(mteb, "__version__", "?")
            return IdenticalIdsRule(bool(task.ignore_identical_ids), f"mteb {version} task {task.metadata.name}")
    if name.lower() in IDENTICAL_IDS_FALLBACK:
        return IdenticalIdsRule(IDENTICAL_IDS_FALLBACK[name.lower()], f"fallback table ({name.lower()})")
    return IdenticalIdsRule(False, "default (no mteb task of this name)")


def drop_identical_ids(run: Run) -> dict[str, dict[str, float]]:
    """``run`` without any document whose id equals its query's id (what mteb does under ``ignore_identical_ids``)."""
    return {qid: {d: s for d, s in docs.items() if d != qid} for qid, docs in run.items()}


def mrr_at_k(relevant: Mapping[str, int], scores: Mapping[str, float], k: int = 10) -> float:
    """Reciprocal rank of the first relevant (grade > 0) document in the top ``k``; ties by document id, descending."""
    ranked = sorted(scores.items(), key=lambda item: (item[1], item[0]), reverse=True)[:k]
    for rank, (doc_id, _) in enumerate(ranked, start=1):
        if relevant.get(doc_id, 0) > 0:
            return 1.0 / rank
    return 0.0


def per_query_metrics(qrels: Qrels, run: Run, ignore_identical_ids: bool = False) -> dict[str, dict[str, float]]:
    """Metrics of every judged query (queries with no judgement at all are skipped, as MTEB does).

    Args:
        qrels: Query id -> document id -> grade (0 = not relevant).
        run: Query id -> document id -> score (higher is better). Documents need not be sorted.
        ignore_identical_ids: Drop a document whose id equals the query id before scoring, as mteb does for the tasks
            that set it (see :func:`identical_ids_rule`).

    Returns:
        Query id -> ``{metric: value}`` for the keys in :data:`METRIC_KEYS`.
    """
    import pytrec_eval

    if ignore_identical_ids:
        run = drop_identical_ids(run)
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


def evaluate_run(qrels: Qrels, run: Run, ignore_identical_ids: bool = False) -> dict[str, float]:
    """Mean NDCG@10, MRR@10, MAP@10, Recall@10 and Recall@100 of ``run`` against ``qrels`` (``ignore_identical_ids``: as
    :func:`per_query_metrics`)."""
    return mean_metrics(per_query_metrics(qrels, run, ignore_identical_ids))


def ranking_as_run(ranked_ids: Sequence[str]) -> dict[str, float]:
    """A ranked list of document ids as one query's run (strictly decreasing scores, so the order is kept exactly)."""
    n = len(ranked_ids)
    return {doc_id: float(n - rank) for rank, doc_id in enumerate(ranked_ids)}
