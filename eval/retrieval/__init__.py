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

from eval.retrieval.evaluate import EvaluationReport, UnitResult, evaluate_retrieval
from eval.retrieval.first_stage import Stage1Result, bm25_provenance, run_first_stage
from eval.retrieval.rerank import RerankStats, rerank, reranker_key

__all__ = [
    "EvaluationReport",
    "RerankStats",
    "Stage1Result",
    "UnitResult",
    "bm25_provenance",
    "evaluate_retrieval",
    "rerank",
    "reranker_key",
    "run_first_stage",
]
