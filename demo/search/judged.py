"""Did the reranker help? A query the bundled SciFact test split judges, recognised by its text, and the metrics of the
first-stage order and of the reranked order against its judgements."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ettin.pipeline import SearchResult

__all__ = ["JudgedQuery", "judged_metrics", "judged_query"]


@dataclass(frozen=True)
class JudgedQuery:
    """A query the bundled SciFact test split judges: its id and the grades of its judged documents."""

    query_id: str
    grades: dict[str, int]

    @property
    def relevant(self) -> set[str]:
        return {d for d, g in self.grades.items() if g > 0}


def _normalised(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


@lru_cache(maxsize=1)
def _bundled_judgements() -> dict[str, JudgedQuery]:
    from ettin.corpus import scifact

    ds = scifact("test")
    return {_normalised(text): JudgedQuery(qid, dict(ds.qrels[qid])) for qid, text in ds.queries.items() if ds.qrels.get(qid)}


def judged_query(query: str) -> JudgedQuery | None:
    """The bundled SciFact test query with this text (spaces and case aside), or None when it is not one."""
    return _bundled_judgements().get(_normalised(query))


def judged_metrics(result: SearchResult, judged: JudgedQuery) -> dict[str, dict[str, float]]:
    """NDCG@10, Recall@10 and Recall@100 (of the K candidates) of the first-stage order and of the final order.

    Computed by :mod:`ettin.metrics` against the query's judgements. Both orders hold the same K candidates, so recall at
    depth K is the same for both: a reranker only reorders.

    Returns:
        ``{"first stage": {...}, "reranked": {...}}`` (``reranked`` only when a reranker ran).
    """
    from ettin.metrics import per_query_metrics, ranking_as_run

    orders = {"first stage": sorted(result.candidates, key=lambda h: h.first_stage_rank)}
    if result.reranker:
        orders["reranked"] = sorted(result.candidates, key=lambda h: h.final_rank)
    qrels = {judged.query_id: judged.grades}
    return {
        name: per_query_metrics(qrels, {judged.query_id: ranking_as_run([h.doc_id for h in hits])})[judged.query_id]
        for name, hits in orders.items()
    }
