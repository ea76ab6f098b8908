"""Two-stage retrieval evaluation (``python -m eval retrieval | mteb | nanobeir``), split by job:

- :mod:`~eval.retrieval.first_stage` — each first stage's top-k per query, cached on disk (stage 1);
- :mod:`~eval.retrieval.rerank` — reranking the candidates through :mod:`~eval.retrieval.score_cache` (stage 2);
- :mod:`~eval.retrieval.evaluate` — the whole evaluation: metrics per (first stage, reranker), written to the store;
- :mod:`~eval.retrieval.store` — the results store (``eval/results/retrieval``): schema, layout and its one reader;
- :mod:`~eval.retrieval.mteb` — mteb's own two-stage flow; :mod:`~eval.retrieval.nanobeir` — the blog's NanoBEIR
  evaluator (also used by ``train``); :mod:`~eval.retrieval.data` — BEIR subsets and writing BEIR folders;
- :mod:`~eval.retrieval.cli` — the ``retrieval``, ``mteb`` and ``nanobeir`` verbs.
"""

from __future__ import annotations

from ettin.lazy import lazy_exports

__all__ = [
    "Candidates",
    "EvaluationReport",
    "RerankStats",
    "Stage1Result",
    "UnitResult",
    "bm25_provenance",
    "candidate_pairs",
    "evaluate_retrieval",
    "rerank",
    "reranker_key",
    "run_first_stage",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "EvaluationReport": "eval.retrieval.evaluate",
        "UnitResult": "eval.retrieval.evaluate",
        "evaluate_retrieval": "eval.retrieval.evaluate",
        "Stage1Result": "eval.retrieval.first_stage",
        "bm25_provenance": "eval.retrieval.first_stage",
        "run_first_stage": "eval.retrieval.first_stage",
        "Candidates": "eval.retrieval.rerank",
        "RerankStats": "eval.retrieval.rerank",
        "candidate_pairs": "eval.retrieval.rerank",
        "rerank": "eval.retrieval.rerank",
        "reranker_key": "eval.retrieval.rerank",
    },
)
