"""The whole two-stage evaluation: each first stage alone and reranked by each reranker, one metrics unit per pair.

Each unit is written to the results store (:mod:`eval.retrieval.store`) as soon as it is finished. Under torchrun the
reranking is shared by the ranks (:func:`eval.retrieval.rerank.rerank`); rank 0 alone computes the first stages (and
sends the rankings to the others), computes metrics and writes results.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ettin.corpus import BeirDataset
from ettin.distributed import RankGroup, Workers
from ettin.runtime import Embedder, Reranker, RuntimeSettings, best_settings
from eval.retrieval.first_stage import Stage1Result, run_first_stage
from eval.retrieval.rerank import RerankStats, candidate_pairs, rerank
from eval.retrieval.score_cache import ScoreCache
from eval.retrieval.store import record_run

__all__ = ["EvaluationReport", "UnitResult", "evaluate_retrieval"]


@dataclass
class UnitResult:
    """One (first stage, reranker or None) on one dataset split: its results-store record and its timing."""

    record: dict[str, Any]
    """The results-store record (schema ``ettin.retrieval/2``: means, per-query metrics, top-10 ids, intervals)."""
    timing: dict[str, float] = field(default_factory=dict)

    @property
    def first_stage(self) -> str:
        return self.record["first_stage"]

    @property
    def reranker(self) -> str | None:
        return self.record["reranker"]

    @property
    def dataset(self) -> str:
        return self.record["dataset"]

    @property
    def split(self) -> str:
        return self.record["split"]

    @property
    def metrics(self) -> dict[str, float]:
        return self.record["metrics"]

    @property
    def n_queries(self) -> int:
        return self.record["n_queries"]

    @property
    def random_init(self) -> bool:
        return self.record["random_init"]

    @property
    def provenance(self) -> dict[str, Any]:
        return self.record["provenance"]


@dataclass
class EvaluationReport:
    """All units of one evaluation, plus each reranker's stage-2 accounting (the score cache's totals are sums)."""

    units: list[UnitResult]
    rerank_stats: dict[str, RerankStats] = field(default_factory=dict)
    workers: dict[str, Any] | None = None
    """Under torchrun: the launcher and world size of the run (``None`` for one process)."""

    @property
    def pairs_requested(self) -> int:
        return sum(s.pairs_requested for s in self.rerank_stats.values())

    @property
    def pairs_scored(self) -> int:
        return sum(s.pairs_scored for s in self.rerank_stats.values())

    @property
    def pairs_cached(self) -> int:
        return sum(s.pairs_cached for s in self.rerank_stats.values())

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "runs": [{**unit.record, "timing": unit.timing} for unit in self.units],
            "cache": {
                "pairs_requested": self.pairs_requested,
                "pairs_scored": self.pairs_scored,
                "pairs_cached": self.pairs_cached,
            },
        }
        if self.workers is not None:
            out["workers"] = {
                **self.workers,
                "ranks": {name: stats.ranks for name, stats in self.rerank_stats.items()},
            }
        return out


@dataclass
class _Units:
    """Runs stage 1; turns runs into :class:`UnitResult` s (each written to the store when ``results_dir`` is set)."""

    dataset: BeirDataset
    dataset_source: str
    top_k: int
    embedder_settings: RuntimeSettings
    results_dir: str | Path | None
    workers: dict[str, Any] | None = None
    units: list[UnitResult] = field(default_factory=list)

    def __post_init__(self) -> None:
        from ettin.metrics import identical_ids_rule
        from ettin.provenance import base_provenance

        self.identical_ids = identical_ids_rule(self.dataset.name)  # mteb's ignore_identical_ids of the task of this name
        self.shared = base_provenance()
        if self.workers is not None:
            self.shared["workers"] = self.workers
        self.dataset_prov = {
            "name": self.dataset.name,
            "split": self.dataset.split,
            "fingerprint": self.dataset.fingerprint,
            "source": self.dataset_source,
        }

    def add(
        self, result: Stage1Result, run: dict, rr: Reranker | None, timing: dict[str, float], fusion: dict | None = None
    ) -> None:
        record = record_run(
            self.results_dir, self.dataset.qrels, run, dataset=self.dataset_prov, first_stage=result.name,
            first_stage_provenance=result.provenance, reranker=rr, settings=rr.settings if rr else self.embedder_settings,
            top_k=self.top_k, shared=self.shared, protocol_extra={"fusion": fusion} if fusion else None,
            system_name=fusion["system"] if fusion else None, identical_ids=self.identical_ids,
        )
        self.units.append(UnitResult(record, timing))

    def run_first_stages(
        self,
        specs: Sequence[str],
        group: RankGroup,
        embedder_loader: Callable[[str, RuntimeSettings], Embedder] | None,
        show_progress: bool,
    ) -> list[Stage1Result]:
        """Stage 1: rank 0 runs each first stage once (adding its unit alone); every rank gets rank 0's results."""
        stage1: list[Stage1Result] = []
        if group.is_main:  # the other ranks get rank 0's candidates: every rank reranks the same pairs, on any machine
            for spec in dict.fromkeys(s.strip() for s in specs):
                result = run_first_stage(
                    self.dataset, spec, self.top_k, settings=self.embedder_settings, embedder_loader=embedder_loader,
                    show_progress=show_progress,
                )
                stage1.append(result)
                self.add(result, result.as_run(), None, {"stage1_s": round(result.seconds, 3)})
        return group.broadcast(stage1)

    def add_reranked(self, stage1: Sequence[Stage1Result], rr: Reranker, runs: dict, stats: RerankStats) -> None:
        """Add one reranker's unit for each first stage it reranked."""
        for result in stage1:
            timing = {"stage1_s": round(result.seconds, 3), "rerank_s_all_first_stages": round(stats.seconds, 3)}
            self.add(result, runs[result.name], rr, timing)

    def add_fused(self, stage1: Sequence[Stage1Result], rr: Reranker, runs: dict, weights: Sequence[float]) -> None:
        """Add the fused system (z-scored reranker and first-stage scores, :mod:`ettin.fusion`) of each weight, under its
        own name, for each first stage."""
        from ettin.fusion import fused_name, zscore_fuse
        from ettin.metrics import drop_identical_ids

        for weight in weights:
            fusion = {"system": fused_name(rr.name, weight), "method": "z-score", "reranker": rr.name, "reranker_weight": weight}
            for result in stage1:
                first, reranked = result.as_run(), runs[result.name]
                if self.identical_ids.ignore:  # the query's own document is not a candidate: it must not shift the z-scores
                    first, reranked = drop_identical_ids(first), drop_identical_ids(reranked)
                fused = {q: zscore_fuse(first.get(q, {}), scores, weight) for q, scores in reranked.items()}
                self.add(result, fused, rr, {"stage1_s": round(result.seconds, 3)}, fusion)


def _check_arguments(first_stages: Sequence[str], top_k: int, fuse_weights: Sequence[float] = ()) -> None:
    """Raise ``ValueError`` for no first stage, a ``top_k`` below 1 or a fusion weight outside [0, 1]."""
    bad = [w for w in fuse_weights if not (isinstance(w, (int, float)) and 0.0 <= w <= 1.0)]
    if bad:
        raise ValueError(f"fusion weights must be between 0 and 1: {bad}")
    if not first_stages:
        raise ValueError("give at least one first stage (e.g. bm25)")
    if not isinstance(top_k, int) or top_k < 1:
        raise ValueError("top_k must be a positive whole number")


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
    reranker_loader: Callable[[str, RuntimeSettings], Reranker] | None = None,
    embedder_loader: Callable[[str, RuntimeSettings], Embedder] | None = None,
    group: RankGroup | None = None,
    fuse_weights: Sequence[float] = (),
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
        reranker_loader: Loads a reranker (default :func:`ettin.runtime.load_reranker`).
        embedder_loader: Loads an embedder (default :func:`ettin.runtime.cached_embedder`).
        group: The torchrun ranks sharing the reranking (:func:`ettin.distributed.rank_group`; default this process
            alone). They must share ``score_cache``'s file. Only rank 0 computes metrics, writes to ``results_dir`` and
            returns units; the other ranks return an empty report.
        fuse_weights: For each weight ``w``, also a fused system per reranker and first stage:
            ``w * z(reranker) + (1 - w) * z(first stage)`` per query, recorded under its own name (never as the reranker).

    Raises:
        ValueError: no first stage, or ``top_k`` below 1.
        ettin.runtime.ModelLoadError: a model cannot be loaded.
    """
    from ettin.runtime import load_reranker

    _check_arguments(first_stages, top_k, fuse_weights)
    group = group or RankGroup(Workers())
    main = group.is_main
    settings = settings or best_settings()
    embedder_settings = embedder_settings or best_settings(settings.device, "fp32")
    workers = group.workers.describe() if group.workers.torchrun else None
    units = _Units(dataset, dataset_source, top_k, embedder_settings, results_dir if main else None, workers)
    stage1 = units.run_first_stages(first_stages, group, embedder_loader, show_progress)
    report = EvaluationReport(units.units, workers=workers)
    rerankers = list(dict.fromkeys(r.strip() for r in rerankers))
    if not rerankers:
        return report
    load = reranker_loader or load_reranker
    candidates = candidate_pairs(dataset, stage1, top_k)  # the same for every reranker (and every rank)
    cache = score_cache or ScoreCache()
    try:
        for spec in rerankers:  # stage 2, shared by the ranks
            rr = load(spec, settings)
            runs, stats = rerank(
                candidates, rr, cache, batch_size=batch_size, chunk_pairs=chunk_pairs,
                show_progress=show_progress, group=group,
            )
            report.rerank_stats[rr.name] = stats
            if main:
                units.add_reranked(stage1, rr, runs, stats)
                units.add_fused(stage1, rr, runs, fuse_weights)
    finally:
        if score_cache is None:
            cache.close()
    return report
