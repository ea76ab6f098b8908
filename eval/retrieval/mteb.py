"""mteb's own two-stage flow: ``mteb.evaluate(embedder, task, prediction_folder=P)``, then
``task.convert_to_reranking(P, top_k=100)`` and ``mteb.evaluate(cross_encoder, reranking_task)``.

Online, tasks come from mteb by name (or a benchmark's Retrieval tasks). Offline, a local BEIR folder is wrapped as an mteb
custom ``AbsTaskRetrieval`` and runs through exactly the same code. Every mteb call uses ``cache=None`` and one prediction
folder per (task, embedder[, reranker]), so results of different local models can never collide (see the stack notes).
Our records are computed from mteb's saved predictions with :mod:`ettin.metrics`; mteb's own (rounded) scores are kept in
the provenance for comparison.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ettin.corpus import BeirDataset
from ettin.metrics import METRIC_KEYS
from ettin.runtime import Reranker, RuntimeSettings, best_settings, hub_offline
from eval.retrieval.store import record_run, slug

__all__ = ["BM25_MTEB_NAME", "local_task", "named_tasks", "run_two_stage"]

logger = logging.getLogger(__name__)

BM25_MTEB_NAME = "mteb/baseline-bm25s"


def local_task(dataset: BeirDataset, source: str = "local"):
    """Wrap a loaded BEIR dataset as an mteb ``AbsTaskRetrieval`` (runs offline; nothing is downloaded)."""
    from datasets import Dataset
    from mteb.abstasks.retrieval import AbsTaskRetrieval
    from mteb.abstasks.retrieval_dataset_loaders import RetrievalSplitData
    from mteb.abstasks.task_metadata import TaskMetadata

    task_name = "Local" + "".join(c for c in dataset.name.title() if c.isalnum())
    corpus = dataset.corpus
    metadata = TaskMetadata(
        type="Retrieval",
        name=task_name,
        main_score="ndcg_at_10",
        description=f"Local BEIR dataset {dataset.name} ({source}), wrapped for mteb.",
        reference=None,
        dataset={"path": f"local/{slug(dataset.name)}", "revision": dataset.fingerprint[:16]},
        category="t2t",
        eval_splits=[dataset.split],
        eval_langs=["eng-Latn"],
        date=None,
        dialect=[],
        domains=[],
        task_subtypes=[],
        license=None,
        annotations_creators=None,
        modalities=["text"],
        sample_creation=None,
        bibtex_citation="",
    )

    class LocalBeirTask(AbsTaskRetrieval):
        def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
            split = RetrievalSplitData(
                corpus=Dataset.from_dict(
                    {"id": list(corpus.ids), "title": [corpus.title(i) for i in range(len(corpus))],
                     "text": list(corpus.texts)}
                ),
                queries=Dataset.from_dict({"id": list(dataset.queries), "text": list(dataset.queries.values())}),
                relevant_docs={q: dict(d) for q, d in dataset.qrels.items()},
                top_ranked=None,
            )
            self.dataset = {"default": {dataset.split: split}}
            self.data_loaded = True

    LocalBeirTask.metadata = metadata
    LocalBeirTask.__name__ = task_name
    task = LocalBeirTask()
    task._ettin_dataset = dataset  # lets run_two_stage rebuild a fresh copy
    task._ettin_source = source
    return task


def named_tasks(benchmark: str | None = None, task_names: Sequence[str] | None = None) -> list:
    """mteb tasks by benchmark (its Retrieval tasks) or by name.

    Raises:
        ValueError: unknown benchmark or task name (mteb's message).
    """
    import mteb

    try:
        if benchmark:
            tasks = [t for t in mteb.get_benchmark(benchmark).tasks if t.metadata.type == "Retrieval"]
        else:
            tasks = list(mteb.get_tasks(tasks=list(task_names or [])))
    except KeyError as exc:
        raise ValueError(str(exc.args[0]) if exc.args else "unknown mteb task or benchmark") from None
    if not tasks:
        raise ValueError("no Retrieval task selected")
    return tasks


def _fresh(task):
    if hasattr(task, "_ettin_dataset"):
        return local_task(task._ettin_dataset, task._ettin_source)
    import mteb

    return mteb.get_task(task.metadata.name)


def _first_stage_model(spec: str, settings: RuntimeSettings) -> tuple[Any, dict[str, Any], str]:
    """(model mteb can run, provenance, display name) of a first stage."""
    import mteb

    if spec.strip().lower() in ("bm25", BM25_MTEB_NAME):
        from eval.retrieval.first_stage import bm25_provenance

        return mteb.get_model(BM25_MTEB_NAME), {**bm25_provenance(), "mteb_model": BM25_MTEB_NAME}, "bm25"
    from ettin.runtime import load_embedder

    if not hub_offline():
        try:
            return mteb.get_model(spec), {"id": spec, "mteb_model": spec, "random_init": False}, spec
        except Exception as exc:  # noqa: BLE001 - not in mteb's registry: load it ourselves
            logger.info("mteb.get_model(%s) failed (%s); loading with sentence-transformers", spec, exc)
    embedder = load_embedder(spec, best_settings(settings.device))  # first stages stay lossless
    return embedder.model, embedder.provenance(), embedder.name


def _predictions(folder: Path, task_name: str) -> dict[str, Any]:
    path = folder / f"{task_name}_predictions.json"
    with path.open(encoding="utf-8") as f:
        return json.load(f)


def _main_scores(model_result: Any) -> dict[str, float]:
    task_result = model_result.task_results[0]
    split_scores = next(iter(task_result.scores.values()))[0]
    return {k: split_scores[k] for k in METRIC_KEYS if k in split_scores}


def _load(task: Any) -> None:
    """Load an mteb task's data, with one clear message when that fails."""
    if task.data_loaded:
        return
    try:
        task.load_data()
    except Exception as exc:  # noqa: BLE001 - datasets raises many kinds; the user needs one message
        hint = " (the Hub is switched off: run online once, or use --data DIR)" if hub_offline() else ""
        raise RuntimeError(f"cannot load mteb task {task.metadata.name}: {type(exc).__name__}: {exc}{hint}") from exc


@dataclass
class _TaskRecords:
    """Turns one task's runs into results-store records (written when ``results_dir`` is set) and summary rows."""

    task: Any
    top_k: int
    settings: RuntimeSettings
    results_dir: str | Path | None
    shared: dict[str, Any]
    runs: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        task_name = self.task.metadata.name
        self.split = self.task.metadata.eval_splits[0]
        self.subset = next(iter(self.task.dataset))
        self.qrels = self.task.dataset[self.subset][self.split]["relevant_docs"]
        own = getattr(self.task, "_ettin_dataset", None)
        self.dataset_name = own.name if own is not None else task_name
        self.dataset_prov = {
            "name": self.dataset_name,
            "split": self.split,
            "fingerprint": self.task.metadata.dataset.get("revision"),
            "source": getattr(self.task, "_ettin_source", f"mteb task {task_name}"),
        }

    def add(self, first_stage: str, fs_prov: dict[str, Any], reranker: Reranker | None, scores_run: dict[str, Any],
            mteb_scores: dict[str, float], timing: dict[str, float]) -> None:
        rec = record_run(
            self.results_dir, self.qrels, scores_run, dataset=self.dataset_prov, first_stage=first_stage,
            first_stage_provenance=fs_prov, reranker=reranker, settings=self.settings, top_k=self.top_k,
            shared=self.shared, protocol_extra={"path": "mteb"}, provenance_extra={"mteb_scores": mteb_scores},
        )
        self.runs.append({**rec, "mteb_scores": mteb_scores, "timing": timing})


def _run_task(records: _TaskRecords, embedders: Sequence[str], rerankers: Sequence[Reranker], work_dir: Path,
              batch_size: int) -> None:
    """Every embedder of one task, alone and reranked by each reranker (mteb's own flow)."""
    import mteb

    task, top_k = records.task, records.top_k
    task_name, subset, split = task.metadata.name, records.subset, records.split
    for spec in embedders:
        model, fs_prov, fs_name = _first_stage_model(spec, records.settings)
        stage1_dir = work_dir / slug(task_name) / slug(fs_name)
        stage1_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        result = mteb.evaluate(model, _fresh(task), cache=None, prediction_folder=stage1_dir,
                               overwrite_strategy="always", show_progress_bar=False)
        stage1_s = time.perf_counter() - t0
        predicted = _predictions(stage1_dir, task_name)[subset][split]
        top = {q: dict(sorted(d.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)[:top_k])
               for q, d in predicted.items()}
        records.add(fs_name, fs_prov, None, top, _main_scores(result), {"stage1_s": round(stage1_s, 3)})
        for reranker in rerankers:
            rerank_dir = stage1_dir / slug(reranker.name)
            rerank_dir.mkdir(parents=True, exist_ok=True)
            reranking_task = _fresh(task).convert_to_reranking(stage1_dir, top_k=top_k)
            t1 = time.perf_counter()
            result = mteb.evaluate(reranker.model, reranking_task, cache=None, prediction_folder=rerank_dir,
                                   overwrite_strategy="always", show_progress_bar=False,
                                   encode_kwargs={"batch_size": batch_size})
            rerank_s = time.perf_counter() - t1
            reranked = _predictions(rerank_dir, task_name)[subset][split]
            records.add(fs_name, fs_prov, reranker, reranked, _main_scores(result),
                        {"stage1_s": round(stage1_s, 3), "rerank_s": round(rerank_s, 3)})


def run_two_stage(
    tasks: Sequence[Any],
    embedders: Sequence[str],
    rerankers: Sequence[str] = (),
    *,
    top_k: int = 100,
    settings: RuntimeSettings | None = None,
    work_dir: str | Path = "runs/mteb",
    results_dir: str | Path | None = None,
    batch_size: int = 32,
) -> dict[str, Any]:
    """Run mteb's two-stage evaluation and turn it into results-store records.

    Returns:
        ``{"runs": [record + {"mteb_scores", "timing"}], ...}`` — one run per (task, embedder, reranker or None).
    """
    from ettin.provenance import base_provenance
    from ettin.runtime import load_reranker

    settings = settings or best_settings()
    shared = base_provenance()
    loaded_rerankers = [load_reranker(spec, settings) for spec in rerankers]
    runs: list[dict[str, Any]] = []
    for task in tasks:
        _load(task)
        records = _TaskRecords(task, top_k, settings, results_dir, shared)
        _run_task(records, embedders, loaded_rerankers, Path(work_dir), batch_size)
        runs += records.runs
    return {"runs": runs}
