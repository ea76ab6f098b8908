"""Two-stage retrieval evaluation: first stages' top-k cached on disk, reranking through a shared score cache, metrics.

Stage 1 (:func:`run_first_stage`): each first stage's top-k per query is computed once per (first stage, corpus, top-k)
and kept in ``$ETTIN_CACHE/stage1`` (written atomically; queries added later are computed and merged).
Stage 2 (:func:`rerank`): the union of all first stages' candidate pairs is looked up in the :class:`ScoreCache`; only
missing pairs are scored, in committed batches, so a pair several first stages retrieved is scored once and a killed run
resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ettin import registry
from ettin.corpus import BeirDataset
from ettin.io import write_json_atomic
from ettin.paths import cache_dir
from ettin.runtime import Embedder, Reranker, RuntimeSettings, best_settings
from eval.metrics import mean_metrics, per_query_metrics
from eval.score_cache import PairKey, ScoreCache, pair_text_hash

logger = logging.getLogger(__name__)

STAGE1_FORMAT = "ettin.stage1/1"
Hits = list[tuple[str, float]]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _tqdm(show: bool, **kwargs: Any):
    from tqdm.auto import tqdm

    return tqdm(disable=not show, **kwargs)


# --------------------------------------------------------------------------------------------------------------------
# Stage 1


@dataclass
class Stage1Result:
    """One first stage's ranking of every query of a dataset."""

    name: str
    provenance: dict[str, Any]
    hits: dict[str, Hits]
    top_k: int
    seconds: float = 0.0
    queries_computed: int = 0

    def as_run(self) -> dict[str, dict[str, float]]:
        return {qid: dict(hits) for qid, hits in self.hits.items()}


def bm25_provenance(meta: registry.BM25Meta = registry.BM25) -> dict[str, Any]:
    """Identity of the BM25 first stage: its settings and the bm25s version."""
    from ettin.provenance import package_versions

    return {
        "id": meta.id,
        "k1": meta.k1,
        "b": meta.b,
        "method": meta.method,
        "stopwords": meta.stopwords,
        "stemmer": meta.stemmer,
        "bm25s": package_versions(("bm25s",))["bm25s"],
        "random_init": False,
    }


def _embedder_identity(embedder: Embedder) -> dict[str, Any]:
    prov = embedder.provenance()
    return {
        "id": prov["id"],
        "revision": prov.get("revision"),
        "weights_sha256": prov.get("weights_sha256"),
        "dtype": prov.get("dtype"),
        "query_prompt": repr(embedder._prompt_kwargs("query")),
        "document_prompt": repr(embedder._prompt_kwargs("document")),
        "max_seq_length": getattr(embedder.model, "max_seq_length", None),
    }


def _stage1_path(identity: dict[str, Any], corpus_fingerprint: str, top_k: int, root: Path | None) -> Path:
    from eval.results import slug

    key = _sha(json.dumps([STAGE1_FORMAT, identity, corpus_fingerprint, top_k], sort_keys=True))[:24]
    return (root or cache_dir() / "stage1") / f"{slug(identity['id'])}-{key}.json"


def _read_stage1(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") == STAGE1_FORMAT and isinstance(data.get("queries"), dict):
            return data
    except (OSError, ValueError):
        pass  # missing or unreadable: recompute
    return {}


def run_first_stage(
    dataset: BeirDataset,
    first_stage: str,
    top_k: int = 100,
    *,
    settings: RuntimeSettings | None = None,
    embedder_loader: Callable[[str, RuntimeSettings], Embedder] | None = None,
    show_progress: bool = False,
    cache_root: str | Path | None = None,
    chunk: int = 512,
) -> Stage1Result:
    """Top-``top_k`` (document id, score) per query of ``dataset``, from the disk cache where possible.

    Args:
        dataset: Queries and corpus.
        first_stage: ``"bm25"`` or a dense embedder (registry id, Hub id, local folder).
        top_k: Depth.
        settings: Runtime settings for a dense embedder (default :func:`best_settings`).
        embedder_loader: Loads an embedder (default :func:`ettin.runtime.cached_embedder`).
        show_progress: tqdm bars for corpus encoding and query search.
        cache_root: Folder of stage-1 files (default ``$ETTIN_CACHE/stage1``).
        chunk: Queries searched (and saved) per step.

    Raises:
        ettin.runtime.ModelLoadError: the embedder cannot be loaded.
        ValueError: ``top_k`` below 1.
    """
    from ettin.pipeline import BM25FirstStage, DenseFirstStage

    if not isinstance(top_k, int) or top_k < 1:
        raise ValueError("top_k must be a positive whole number")
    settings = settings or best_settings()
    is_bm25 = first_stage.strip().lower() == registry.BM25.id
    embedder = None
    if is_bm25:
        identity = provenance = bm25_provenance()
    else:
        from ettin.runtime import cached_embedder

        embedder = (embedder_loader or (lambda spec, s: cached_embedder(spec, s)))(first_stage, settings)
        identity = _embedder_identity(embedder)
        provenance = embedder.provenance()
    name = identity["id"]
    corpus = dataset.corpus
    path = _stage1_path(identity, corpus.fingerprint, top_k, Path(cache_root) if cache_root else None)
    stored = _read_stage1(path)
    known: dict[str, Any] = stored.get("queries", {})
    query_sha = {qid: _sha(text)[:16] for qid, text in dataset.queries.items()}
    todo = [qid for qid in sorted(dataset.queries) if known.get(qid, {}).get("sha") != query_sha[qid]]
    t0 = time.perf_counter()
    if todo:
        if is_bm25:
            stage = BM25FirstStage(corpus)
        else:
            bar = _tqdm(show_progress, total=len(corpus), desc=f"embed corpus ({name})", unit="doc")

            def progress(done: int, total: int) -> None:
                bar.update(done - bar.n)

            stage = DenseFirstStage(embedder, corpus, progress=progress)
            bar.close()
        with _tqdm(show_progress, total=len(todo), desc=f"search ({name})", unit="query") as bar:
            for start in range(0, len(todo), chunk):
                part = todo[start : start + chunk]
                found = stage.search_many([dataset.queries[q] for q in part], top_k)
                for qid, (idx, scores) in zip(part, found):
                    known[qid] = {
                        "sha": query_sha[qid],
                        "hits": [[corpus.ids[i], float(s)] for i, s in zip(idx.tolist(), scores.tolist())],
                    }
                write_json_atomic(
                    path,
                    {"format": STAGE1_FORMAT, "first_stage": provenance, "corpus_fingerprint": corpus.fingerprint,
                     "top_k": top_k, "queries": known},
                )
                bar.update(len(part))
    hits = {qid: [(d, float(s)) for d, s in known[qid]["hits"]] for qid in sorted(dataset.queries)}
    return Stage1Result(name, provenance, hits, top_k, time.perf_counter() - t0, len(todo))


# --------------------------------------------------------------------------------------------------------------------
# Stage 2


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


def rerank(
    dataset: BeirDataset,
    stage1: Sequence[Stage1Result],
    reranker: Reranker,
    cache: ScoreCache,
    *,
    top_k: int = 100,
    batch_size: int = 32,
    chunk_pairs: int = 256,
    show_progress: bool = False,
) -> tuple[dict[str, dict[str, dict[str, float]]], RerankStats]:
    """Rerank every first stage's top ``top_k`` with one reranker; each distinct pair is scored at most once, ever.

    Returns:
        (first stage name -> reranked run ``{qid: {doc_id: score}}``, statistics).
    """
    corpus = dataset.corpus
    index = {doc_id: i for i, doc_id in enumerate(corpus.ids)}
    model_key = reranker_key(reranker)
    max_length, dtype = reranker.settings.max_length, reranker.settings.dtype
    stats = RerankStats()
    pairs: dict[PairKey, tuple[str, str]] = {}
    wanted: dict[str, dict[str, list[PairKey]]] = {}
    for result in stage1:
        per_query = wanted.setdefault(result.name, {})
        for qid in sorted(dataset.queries):
            query = dataset.queries[qid]
            keys = []
            for doc_id, _ in result.hits.get(qid, [])[:top_k]:
                text = corpus.document_text(index[doc_id])
                key = PairKey(qid, doc_id, pair_text_hash(query, text))
                pairs.setdefault(key, (query, text))
                keys.append(key)
            per_query[qid] = keys
            stats.pairs_requested += len(keys)
    stats.pairs_unique = len(pairs)
    scores = cache.get_many(model_key, max_length, dtype, list(pairs))
    stats.pairs_cached = len(scores)
    missing = [k for k in pairs if k not in scores]
    t0 = time.perf_counter()
    with _tqdm(show_progress, total=len(missing), desc=f"rerank ({reranker.name})", unit="pair") as bar:
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
        for name, per_query in wanted.items()
    }
    return runs, stats


# --------------------------------------------------------------------------------------------------------------------
# Whole evaluation


@dataclass
class UnitResult:
    """Metrics of one (first stage, reranker or None) on one dataset split."""

    first_stage: str
    reranker: str | None
    dataset: str
    split: str
    metrics: dict[str, float]
    n_queries: int
    random_init: bool
    provenance: dict[str, Any]
    timing: dict[str, float] = field(default_factory=dict)
    per_query: dict[str, dict[str, float]] = field(default_factory=dict, repr=False)

    def record(self) -> dict[str, Any]:
        """The results-store record (schema ``ettin.retrieval/1``)."""
        from eval.results import make_record

        return make_record(
            dataset=self.dataset,
            split=self.split,
            first_stage=self.first_stage,
            reranker=self.reranker,
            metrics=self.metrics,
            n_queries=self.n_queries,
            provenance=self.provenance,
        )


@dataclass
class EvaluationReport:
    """All units of one evaluation, plus the score-cache accounting."""

    units: list[UnitResult]
    pairs_requested: int = 0
    pairs_scored: int = 0
    pairs_cached: int = 0
    rerank_stats: dict[str, RerankStats] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        runs = []
        for unit in self.units:
            runs.append({**unit.record(), "timing": unit.timing})
        return {
            "runs": runs,
            "cache": {
                "pairs_requested": self.pairs_requested,
                "pairs_scored": self.pairs_scored,
                "pairs_cached": self.pairs_cached,
            },
        }


def evaluate_retrieval(
    dataset: BeirDataset,
    first_stages: Sequence[str],
    rerankers: Sequence[str] = (),
    *,
    top_k: int = 100,
    settings: RuntimeSettings | None = None,
    embedder_settings: RuntimeSettings | None = None,
    dataset_source: str = "local",
    score_cache: ScoreCache | None = None,
    batch_size: int = 32,
    chunk_pairs: int = 256,
    show_progress: bool = False,
    results_dir: str | Path | None = None,
    on_unit: Callable[[UnitResult], None] | None = None,
    reranker_loader: Callable[[str, RuntimeSettings], Reranker] | None = None,
    embedder_loader: Callable[[str, RuntimeSettings], Embedder] | None = None,
) -> EvaluationReport:
    """Evaluate each first stage alone and reranked by each reranker; write each unit to the store as it finishes.

    Args:
        dataset: The split to evaluate.
        first_stages: ``"bm25"`` and/or dense embedders.
        rerankers: Cross-encoders (registry size or id, Hub id, local folder); empty = retriever-only.
        top_k: First-stage depth (the blog: 100).
        settings: Device, dtype and max_length of the rerankers (default :func:`best_settings`).
        embedder_settings: Settings of dense first stages (default: ``settings``' device, lossless precision), so a
            reranker precision experiment never changes the candidates it reranks.
        dataset_source: Where the data came from, for provenance (never a machine path).
        score_cache: Shared reranker scores (default ``$ETTIN_CACHE/scores.sqlite``).
        batch_size: Reranker batch size.
        chunk_pairs: Pairs scored per committed cache transaction.
        show_progress: tqdm bars.
        results_dir: Write each unit's record to this results store (None: do not write).
        on_unit: Called with each finished unit (e.g. to print a table row).
        reranker_loader: Loads a reranker (default :func:`ettin.runtime.load_reranker`).
        embedder_loader: Loads an embedder (default :func:`ettin.runtime.cached_embedder`).

    Raises:
        ValueError: no first stage, or ``top_k`` below 1.
        ettin.runtime.ModelLoadError: a model cannot be loaded.
    """
    from ettin.provenance import base_provenance
    from ettin.runtime import load_reranker
    from eval.results import write_record

    if not first_stages:
        raise ValueError("give at least one first stage (e.g. bm25)")
    if not isinstance(top_k, int) or top_k < 1:
        raise ValueError("top_k must be a positive whole number")
    settings = settings or best_settings()
    embedder_settings = embedder_settings or best_settings(settings.device)
    first_stages = list(dict.fromkeys(s.strip() for s in first_stages))
    rerankers = list(dict.fromkeys(r.strip() for r in rerankers))
    shared = base_provenance()
    dataset_prov = {
        "name": dataset.name,
        "split": dataset.split,
        "fingerprint": dataset.fingerprint,
        "source": dataset_source,
    }

    def finish(unit: UnitResult) -> None:
        if results_dir is not None:
            write_record(results_dir, unit.record())
        if on_unit is not None:
            on_unit(unit)

    def unit(result: Stage1Result, run: dict, rr: Reranker | None, timing: dict[str, float]) -> UnitResult:
        per_query = per_query_metrics(dataset.qrels, run)
        protocol = {
            "top_k": top_k,
            "max_length": rr.settings.max_length if rr else None,
            "dtype": (rr.settings if rr else embedder_settings).dtype,
            "attn_implementation": (rr.settings if rr else embedder_settings).attn_implementation,
        }
        provenance = {
            "first_stage": result.provenance,
            "reranker": rr.provenance() if rr else None,
            "dataset": dataset_prov,
            "protocol": protocol,
            **shared,
        }
        random_init = bool(result.provenance.get("random_init") or (rr and rr.random_init))
        return UnitResult(
            result.name, rr.name if rr else None, dataset.name, dataset.split, mean_metrics(per_query),
            len(per_query), random_init, provenance, timing, per_query,
        )

    stage1: list[Stage1Result] = []
    units: list[UnitResult] = []
    for spec in first_stages:
        result = run_first_stage(
            dataset, spec, top_k, settings=embedder_settings, embedder_loader=embedder_loader, show_progress=show_progress
        )
        stage1.append(result)
        units.append(unit(result, result.as_run(), None, {"stage1_s": round(result.seconds, 3)}))
        finish(units[-1])
    report = EvaluationReport(units)
    if not rerankers:
        return report
    own_cache = score_cache is None
    cache = score_cache or ScoreCache()
    try:
        for spec in rerankers:
            rr = (reranker_loader or (lambda s, st: load_reranker(s, st)))(spec, settings)
            runs, stats = rerank(
                dataset, stage1, rr, cache, top_k=top_k, batch_size=batch_size, chunk_pairs=chunk_pairs,
                show_progress=show_progress,
            )
            report.rerank_stats[rr.name] = stats
            report.pairs_requested += stats.pairs_requested
            report.pairs_scored += stats.pairs_scored
            report.pairs_cached += stats.pairs_cached
            for result in stage1:
                timing = {"stage1_s": round(result.seconds, 3), "rerank_s_all_first_stages": round(stats.seconds, 3)}
                units.append(unit(result, runs[result.name], rr, timing))
                finish(units[-1])
    finally:
        if own_cache:
            cache.close()
    return report
