"""Stage 2 of the two-stage evaluation: reranking every first stage's candidates through the shared score cache.

The union of all first stages' candidate pairs is cut into fixed chunks of ``chunk_pairs`` pairs (in a fixed order);
each chunk's pairs missing from the :class:`~eval.retrieval.score_cache.ScoreCache` are scored and committed in one
transaction, so a pair several first stages retrieved is scored once and a killed run resumes where it stopped. Under
torchrun rank ``r`` of ``n`` takes the chunks ``c % n == r``; the chunks do not depend on ``n``, so a run killed with one
world size resumes with another without scoring a committed pair again. The ranks pool what their caches hold before
they start and send rank 0 what they scored (gloo collectives), so ranks on several machines may each keep a local
cache; rank 0 adds everything to its cache and alone builds the reranked runs.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ettin.corpus import BeirDataset
from ettin.distributed import RankGroup, Workers
from ettin.progress import progress_bar
from ettin.runtime import Reranker
from eval.retrieval.first_stage import Stage1Result
from eval.retrieval.score_cache import PairKey, ScoreCache, pair_text_hash

__all__ = ["Candidates", "RerankStats", "candidate_pairs", "rerank", "reranker_key"]

Runs = dict[str, dict[str, dict[str, float]]]


def reranker_key(reranker: Reranker) -> str:
    """The model part of a score-cache key: the id, then a digest of everything that decides a score.

    The digest covers :func:`ettin.runtime.identity.score_identity` of the reranker's provenance: revision *and* the
    hash of the weights loaded, ``random_init``, device type, backend, precision, dtype, attention, compile state, max
    length and the scoring code's version. A replica cached at a real model's revision, the same model on another
    backend, or a score from before a scoring change therefore never shares a key.
    """
    from ettin.runtime.identity import score_identity

    prov = reranker.provenance()
    identity = json.dumps(score_identity(prov), sort_keys=True, default=str)
    return f"{prov['id']}@{hashlib.sha256(identity.encode()).hexdigest()[:20]}"


@dataclass
class RerankStats:
    """What one reranker's stage 2 cost: pairs over all first stages, found in the cache, actually scored."""

    pairs_requested: int = 0
    pairs_unique: int = 0
    pairs_cached: int = 0
    pairs_scored: int = 0
    seconds: float = 0.0
    ranks: list[dict[str, float]] = field(default_factory=list)
    """Under torchrun: each rank's own ``pairs_cached`` / ``pairs_scored`` / ``seconds`` (the fields above are sums, and
    the slowest rank's seconds)."""


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


def _my_chunks(keys: list[PairKey], chunk_pairs: int, workers: Workers) -> list[list[PairKey]]:
    """The fixed chunks of ``keys`` that belong to this rank (chunk ``c`` to rank ``c % world_size``)."""
    chunks = [keys[start : start + chunk_pairs] for start in range(0, len(keys), chunk_pairs)]
    return chunks[workers.rank :: workers.world_size]


def _gather_scores(group: RankGroup, scores: dict[PairKey, float]) -> dict[PairKey, float]:
    """The union of every rank's ``scores`` (each rank's own in a world of one)."""
    merged: dict[PairKey, float] = {}
    for part in group.gather(scores):
        merged.update(part)
    return merged


def rerank(
    candidates: Candidates,
    reranker: Reranker,
    cache: ScoreCache,
    *,
    batch_size: int = 32,
    chunk_pairs: int = 256,
    show_progress: bool = False,
    group: RankGroup | None = None,
) -> tuple[Runs, RerankStats]:
    """Rerank the candidates of every first stage with one reranker; each distinct pair is scored at most once, ever.

    Args:
        group: The torchrun ranks sharing the work (default: this process alone). The ranks first pool what their score
            caches hold (one file on one machine, or one per machine), then each scores its chunks' missing pairs,
            committing them to its cache; rank 0 receives every rank's new scores, adds them to its cache and returns
            the runs; the other ranks return no runs (``{}``) and the same statistics.

    Returns:
        (first stage name -> reranked run ``{qid: {doc_id: score}}``, statistics).

    Raises:
        RuntimeError: a pair is still unscored once every rank is done.
    """
    if chunk_pairs < 1:
        raise ValueError("chunk_pairs must be at least 1")
    group = group or RankGroup(Workers())
    model_key = reranker_key(reranker)
    max_length, dtype = reranker.settings.max_length, reranker.settings.dtype
    pairs = candidates.pairs
    keys = list(pairs)
    held = cache.get_many(model_key, max_length, dtype, keys)
    if group.connected:  # what any machine's cache holds (ranks of one machine share one, so its local rank 0 speaks)
        known = _gather_scores(group, held if group.workers.local_rank == 0 else {}) | held
    else:
        known = held
    mine = _my_chunks(keys, chunk_pairs, group.workers)
    todo = [part for part in ([k for k in chunk if k not in known] for chunk in mine) if part]
    own = RerankStats(pairs_cached=sum(k in known for chunk in mine for k in chunk))
    new: dict[PairKey, float] = {}
    t0 = time.perf_counter()
    with progress_bar(show=show_progress and group.is_main, total=sum(len(part) for part in todo),
                      desc=f"rerank ({reranker.name})", unit="pair") as bar:  # fmt: skip
        for part in todo:
            values = [float(v) for v in reranker.score_pairs([pairs[k] for k in part], batch_size=batch_size)]
            cache.put_many(model_key, max_length, dtype, zip(part, values))
            new.update(zip(part, values))
            bar.update(len(part))
    own.pairs_scored, own.seconds = len(new), time.perf_counter() - t0
    # every rank is done once this returns
    ranks = group.gather({"pairs_cached": own.pairs_cached, "pairs_scored": own.pairs_scored,
                          "seconds": round(own.seconds, 3)})  # fmt: skip
    stats = RerankStats(
        pairs_requested=candidates.requested,
        pairs_unique=len(pairs),
        pairs_cached=sum(r["pairs_cached"] for r in ranks),
        pairs_scored=sum(r["pairs_scored"] for r in ranks),
        seconds=time.perf_counter() - t0,
        ranks=ranks if group.connected else [],
    )
    scores = {**known, **(_gather_scores(group, new) if group.connected else new)}
    if not group.is_main:
        return {}, stats
    on_disk = {**held, **cache.get_many(model_key, max_length, dtype, [k for k in keys if k not in held])}
    # rank 0's cache also gets what ranks on other machines held or scored (on one machine they share the file)
    cache.put_many(model_key, max_length, dtype, ((k, v) for k, v in scores.items() if k not in on_disk))
    scores.update(on_disk)
    if len(scores) != len(pairs):
        raise RuntimeError(
            f"{len(pairs) - len(scores)} reranked pairs are missing once every rank finished (a --shard process has "
            "not run yet, or the ranks reranked different candidates)"
        )
    runs = {
        name: {qid: {k.doc_id: scores[k] for k in per_keys} for qid, per_keys in per_query.items()}
        for name, per_query in candidates.wanted.items()
    }
    return runs, stats
