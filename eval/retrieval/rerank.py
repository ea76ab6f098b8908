"""Stage 2 of the two-stage evaluation: reranking every first stage's candidates through the shared score cache.

The union of all first stages' candidate pairs is looked up in the :class:`~eval.retrieval.score_cache.ScoreCache`;
only missing pairs are scored, in committed batches, so a pair several first stages retrieved is scored once and a killed
run resumes where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from ettin.corpus import BeirDataset
from ettin.progress import progress_bar
from ettin.runtime import Reranker
from eval.retrieval.first_stage import Stage1Result
from eval.retrieval.score_cache import PairKey, ScoreCache, pair_text_hash

__all__ = ["Candidates", "RerankStats", "candidate_pairs", "rerank", "reranker_key"]

Runs = dict[str, dict[str, dict[str, float]]]


def reranker_key(reranker: Reranker) -> str:
    """The model part of a score-cache key: id plus revision or weights hash."""
    prov = reranker.provenance()
    version = prov.get("revision") or prov.get("weights_sha256") or "unversioned"
    return f"{prov['id']}@{version}"


@dataclass
class RerankStats:
    """What one reranker's stage 2 cost: pairs over all first stages, found in the cache, actually scored."""

    pairs_requested: int = 0
    pairs_unique: int = 0
    pairs_cached: int = 0
    pairs_scored: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class Candidates:
    """The pairs to rerank, the same for every reranker: see :func:`candidate_pairs`."""

    pairs: dict[PairKey, tuple[str, str]]
    """Every distinct pair -> its (query, document) texts."""
    wanted: dict[str, dict[str, list[PairKey]]]
    """First stage -> query id -> its pairs in rank order."""

    @property
    def requested(self) -> int:
        """Pairs over all first stages (a pair two first stages retrieved counts twice)."""
        return sum(len(keys) for per_query in self.wanted.values() for keys in per_query.values())


def candidate_pairs(dataset: BeirDataset, stage1: Sequence[Stage1Result], top_k: int) -> Candidates:
    """Every first stage's top ``top_k`` per query, as score-cache keys and texts."""
    corpus = dataset.corpus
    index = {doc_id: i for i, doc_id in enumerate(corpus.ids)}
    texts = corpus.document_texts
    pairs: dict[PairKey, tuple[str, str]] = {}
    wanted: dict[str, dict[str, list[PairKey]]] = {}
    for result in stage1:
        per_query = wanted.setdefault(result.name, {})
        for qid in sorted(dataset.queries):
            query = dataset.queries[qid]
            keys = []
            for doc_id, _ in result.hits.get(qid, [])[:top_k]:
                text = texts[index[doc_id]]
                key = PairKey(qid, doc_id, pair_text_hash(query, text))
                pairs.setdefault(key, (query, text))
                keys.append(key)
            per_query[qid] = keys
    return Candidates(pairs, wanted)


def rerank(
    candidates: Candidates,
    reranker: Reranker,
    cache: ScoreCache,
    *,
    batch_size: int = 32,
    chunk_pairs: int = 256,
    show_progress: bool = False,
) -> tuple[Runs, RerankStats]:
    """Rerank the candidates of every first stage with one reranker; each distinct pair is scored at most once, ever.

    Returns:
        (first stage name -> reranked run ``{qid: {doc_id: score}}``, statistics).
    """
    model_key = reranker_key(reranker)
    max_length, dtype = reranker.settings.max_length, reranker.settings.dtype
    pairs = candidates.pairs
    stats = RerankStats(pairs_requested=candidates.requested, pairs_unique=len(pairs))
    scores = cache.get_many(model_key, max_length, dtype, list(pairs))
    stats.pairs_cached = len(scores)
    missing = [k for k in pairs if k not in scores]
    t0 = time.perf_counter()
    with progress_bar(show=show_progress, total=len(missing), desc=f"rerank ({reranker.name})", unit="pair") as bar:
        for start in range(0, len(missing), chunk_pairs):
            part = missing[start : start + chunk_pairs]
            values = reranker.score_pairs([pairs[k] for k in part], batch_size=batch_size)
            new = list(zip(part, (float(v) for v in values)))
            cache.put_many(model_key, max_length, dtype, new)
            scores.update(new)
            stats.pairs_scored += len(part)
            bar.update(len(part))
    stats.seconds = time.perf_counter() - t0
    runs = {
        name: {qid: {k.doc_id: scores[k] for k in keys} for qid, keys in per_query.items()}
        for name, per_query in candidates.wanted.items()
    }
    return runs, stats
