"""mteb's own two-stage flow: ``mteb.evaluate(embedder, task, prediction_folder=P)``, then
``task.convert_to_reranking(P, top_k=100)`` and ``mteb.evaluate(cross_encoder, reranking_task)``.

Online, tasks come from mteb by name (or a benchmark's Retrieval tasks). Offline, a local BEIR folder is wrapped as an mteb
custom ``AbsTaskRetrieval`` and runs through exactly the same code. Every mteb call uses ``cache=None`` and one prediction
folder per (task, embedder[, reranker]), so results of different local models can never collide (see the stack notes).
Our records are computed from mteb's saved predictions with :mod:`ettin.metrics`; mteb's own (rounded) scores are kept in
the provenance for comparison. Both follow the task's ``ignore_identical_ids`` (mteb's own attribute for a task by name;
for a local folder the rule of the mteb task it is named after, :func:`ettin.metrics.identical_ids_rule`).

First stages mteb registers load through ``mteb.get_model`` (its wrapper, prompts and pinned revision) whenever that can
work here (online, or offline with the pinned revision in the local Hugging Face cache); others load through the
project's runtime with the registry's prompts handed to mteb. Rerankers always score raw logits (identity activation), as
mteb pins for ``mxbai-rerank-v2``. Offline, a task the project bundles (SciFact) runs **by name**: mteb's own task class
and metadata, with the data read from the bundled folder, because ``datasets`` cannot resolve a Hub dataset from the
local cache offline (:data:`ettin.hub_cache.DATASETS_OFFLINE_LIMIT`).
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
from ettin.metrics import METRIC_KEYS, IdenticalIdsRule, identical_ids_rule
from ettin.paths import BUNDLED_SCIFACT
from ettin.runtime import Reranker, RuntimeSettings, best_settings, hub_offline
from eval.retrieval.store import record_run, slug

__all__ = ["BM25_MTEB_NAME", "BUNDLED_TASK_DATA", "bundled_task", "first_stage_loader", "local_task", "named_tasks",
           "reranker_loader", "run_two_stage"]

BUNDLED_TASK_DATA: dict[str, Path] = {"SciFact": BUNDLED_SCIFACT}
"""mteb task name -> the bundled BEIR folder holding the same data (BEIR SciFact = ``mteb/scifact``)."""

logger = logging.getLogger(__name__)

BM25_MTEB_NAME = "mteb/baseline-bm25s"


def _split_data(dataset: BeirDataset):
    """A loaded BEIR dataset as mteb's ``RetrievalSplitData`` (Arrow-backed ``datasets.Dataset`` columns)."""
    from datasets import Dataset
    from mteb.abstasks.retrieval_dataset_loaders import RetrievalSplitData

    corpus = dataset.corpus
    return RetrievalSplitData(
        corpus=Dataset.from_dict(
            {"id": list(corpus.ids), "title": [corpus.title(i) for i in range(len(corpus))], "text": list(corpus.texts)}
        ),
        queries=Dataset.from_dict({"id": list(dataset.queries), "text": list(dataset.queries.values())}),
        relevant_docs={q: dict(d) for q, d in dataset.qrels.items()},
        top_ranked=None,
    )


def bundled_task(name: str):
    """mteb's task ``name`` (its class and metadata, by name) with its data read from the bundled folder.

    Raises:
        ValueError: the project bundles no data for ``name``.
    """
    import mteb

    from ettin.corpus import load_beir

    if name not in BUNDLED_TASK_DATA:
        raise ValueError(f"no bundled data for mteb task {name!r} (bundled: {', '.join(BUNDLED_TASK_DATA)})")
    task_class = type(mteb.get_task(name))
    split = task_class.metadata.eval_splits[0]
    dataset = load_beir(BUNDLED_TASK_DATA[name], split, name=name.lower())

    class BundledTask(task_class):
        def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
            self.dataset = {"default": {split: _split_data(dataset)}}
            self.data_loaded = True

    BundledTask.__name__ = task_class.__name__
    task = BundledTask()
    task._ettin_dataset = dataset
    task._ettin_source = (
        f"mteb task {name} by name ({task_class.metadata.dataset['path']}@{task_class.metadata.dataset['revision'][:12]} "
        f"metadata), data read from the bundled data/{BUNDLED_TASK_DATA[name].name} (BEIR); offline, datasets cannot "
        "read the Hub cache"
    )
    task._ettin_fresh = lambda: bundled_task(name)
    return task


def local_task(dataset: BeirDataset, source: str = "local"):
    """Wrap a loaded BEIR dataset as an mteb ``AbsTaskRetrieval`` (runs offline; nothing is downloaded)."""
    from mteb.abstasks.retrieval import AbsTaskRetrieval
    from mteb.abstasks.task_metadata import TaskMetadata

    task_name = "Local" + "".join(c for c in dataset.name.title() if c.isalnum())
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

    rule = identical_ids_rule(dataset.name)

    class LocalBeirTask(AbsTaskRetrieval):
        ignore_identical_ids = rule.ignore  # mteb's own scoring follows the task the folder is named after

        def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
            self.dataset = {"default": {dataset.split: _split_data(dataset)}}
            self.data_loaded = True

    LocalBeirTask.metadata = metadata
    LocalBeirTask.__name__ = task_name
    task = LocalBeirTask()
    task._ettin_dataset = dataset
    task._ettin_source = source
    task._ettin_identical_ids = rule
    task._ettin_fresh = lambda: local_task(dataset, source)  # lets run_two_stage rebuild a fresh copy
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
    if hub_offline():
        tasks = [bundled_task(t.metadata.name) if t.metadata.name in BUNDLED_TASK_DATA else t for t in tasks]
    return tasks


def _fresh(task):
    if hasattr(task, "_ettin_fresh"):
        return task._ettin_fresh()
    import mteb

    return mteb.get_task(task.metadata.name)


def _mteb_meta(spec: str) -> Any | None:
    import mteb

    try:
        return mteb.get_model_meta(spec)
    except KeyError:
        return None


def _mteb_model(spec: str, device: str) -> Any | None:
    """``mteb.get_model(spec)``, or ``None`` (logged) when mteb refuses it here, e.g. for a missing optional extra
    (mteb asks ``mteb[multimodal-sbert]`` for ``mxbai-rerank-v2``); the caller then loads it with the runtime."""
    import mteb

    try:
        return mteb.get_model(spec, device=device)
    except ImportError as exc:
        logger.warning("mteb.get_model(%s) is not available here (%s); loading it with the project's runtime", spec,
                       str(exc).splitlines()[0])
        return None


def first_stage_loader(spec: str) -> str:
    """How the mteb path loads a dense first stage: ``"mteb"`` (``mteb.get_model``: mteb's wrapper, prompts and pinned
    revision) when mteb registers ``spec`` and can load it here (online, or its pinned revision is in the local Hugging
    Face cache), else ``"ettin"`` (the project's runtime, with the registry's prompts handed to mteb)."""
    from ettin.runtime import hub_snapshot

    meta = _mteb_meta(spec)
    if meta is None or meta.loader is None:
        return "ettin"
    if not hub_offline() or hub_snapshot(spec, meta.revision) is not None:
        return "mteb"
    return "ettin"


def _with_registry_prompts(embedder: Any) -> Any:
    """The embedder's SentenceTransformer with the registry's query/document prompts as its ``prompts``, which is where
    mteb's wrapper looks for them (an unregistered model's prompts would otherwise be silently dropped)."""
    model = embedder.model
    prompts = dict(getattr(model, "prompts", None) or {})
    for role in ("query", "document"):
        kwargs = embedder._prompt_kwargs(role)
        if "prompt" in kwargs:
            prompts[role] = kwargs["prompt"]
        elif "prompt_name" in kwargs:
            prompts[role] = prompts[kwargs["prompt_name"]]
    model.prompts = prompts
    return model


def _first_stage_model(spec: str, settings: RuntimeSettings) -> tuple[Any, dict[str, Any], str]:
    """(model mteb can run, provenance, display name) of a first stage; dense first stages run in fp32 (lossless)."""
    import mteb

    if spec.strip().lower() in ("bm25", BM25_MTEB_NAME):
        from eval.retrieval.first_stage import bm25_provenance

        return mteb.get_model(BM25_MTEB_NAME), {**bm25_provenance(), "mteb_model": BM25_MTEB_NAME}, "bm25"
    from ettin.runtime import hub_metadata, load_embedder

    model = _mteb_model(spec, settings.device) if first_stage_loader(spec) == "mteb" else None
    if model is not None:
        meta = _mteb_meta(spec)
        label = hub_metadata(spec, meta.revision) or {}
        provenance = {
            "id": spec, "mteb_model": spec, "revision": meta.revision, "loader": "mteb.get_model",
            "random_init": bool(label.get("random_init")), "replica_of": label.get("replica_of"),
        }
        return model, provenance, spec
    embedder = load_embedder(spec, best_settings(settings.device, "fp32"))
    return _with_registry_prompts(embedder), {**embedder.provenance(), "loader": "ettin.runtime"}, embedder.name


def _identity() -> Any:
    import torch

    return torch.nn.Identity()


def reranker_loader(spec: str) -> str:
    """How the mteb path loads a reranker: ``"mteb"`` (``mteb.get_model``: mteb's wrapper, prompt template, length cap,
    activation and pinned revision) for a peer mteb registers that can load here (online, or its pinned revision in the
    local Hugging Face cache); ``"ettin"`` (the project's runtime, with ``--max-length`` and ``--precision``) for the Ettin
    rerankers, local folders and anything else."""
    from ettin import registry
    from ettin.runtime import hub_snapshot

    try:
        registry.reranker(spec)
        return "ettin"
    except KeyError:
        pass
    meta = _mteb_meta(spec)
    if meta is None or meta.loader is None or Path(spec).expanduser().is_dir():
        return "ettin"
    return "mteb" if not hub_offline() or hub_snapshot(spec, meta.revision) is not None else "ettin"


def _reranker_model(spec: str, settings: RuntimeSettings) -> tuple[Any, Reranker]:
    """(what mteb runs, the :class:`Reranker` whose provenance is recorded) of one reranker; both score raw logits."""
    from dataclasses import replace

    from ettin.architecture import count_parameters
    from ettin.runtime import load_reranker, resolve_model
    from ettin.runtime.sources import with_hub_identity

    wrapper = _mteb_model(spec, settings.device) if reranker_loader(spec) == "mteb" else None
    if wrapper is not None:
        meta = _mteb_meta(spec)
        model = wrapper.model
        model.activation_fn = _identity()  # mteb pins it for mxbai-rerank-v2; raw logits for every peer
        source = with_hub_identity(resolve_model(spec, kind="reranker"), meta.revision)
        used = replace(
            settings, dtype=str(next(model.parameters()).dtype).removeprefix("torch."), max_length=model.max_seq_length,
            attn_implementation=getattr(model.config, "_attn_implementation", settings.attn_implementation),
            reason="mteb.get_model (mteb's loader and settings)",
        )
        return wrapper, Reranker(model, source, used, int(count_parameters(model)))
    reranker = load_reranker(spec, settings)
    reranker.model.activation_fn = _identity()  # raw logits: a sigmoid ties saturated scores
    return reranker.model, reranker


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
            "fingerprint": own.fingerprint[:16] if own is not None else self.task.metadata.dataset.get("revision"),
            "source": getattr(self.task, "_ettin_source", f"mteb task {task_name}"),
        }
        self.identical_ids = getattr(self.task, "_ettin_identical_ids", None) or IdenticalIdsRule(
            bool(self.task.ignore_identical_ids), f"mteb task {task_name}"
        )

    def add(self, first_stage: str, fs_prov: dict[str, Any], reranker: Reranker | None, scores_run: dict[str, Any],
            mteb_scores: dict[str, float], timing: dict[str, float]) -> None:
        rec = record_run(
            self.results_dir, self.qrels, scores_run, dataset=self.dataset_prov, first_stage=first_stage,
            first_stage_provenance=fs_prov, reranker=reranker, settings=self.settings, top_k=self.top_k,
            shared=self.shared, protocol_extra={"path": "mteb"}, provenance_extra={"mteb_scores": mteb_scores},
            identical_ids=self.identical_ids,
        )
        self.runs.append({**rec, "mteb_scores": mteb_scores, "timing": timing})


def _run_task(records: _TaskRecords, embedders: Sequence[str], rerankers: Sequence[tuple[Any, Reranker]], work_dir: Path,
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
        for mteb_model, reranker in rerankers:
            rerank_dir = stage1_dir / slug(reranker.name)
            rerank_dir.mkdir(parents=True, exist_ok=True)
            reranking_task = _fresh(task).convert_to_reranking(stage1_dir, top_k=top_k)
            t1 = time.perf_counter()
            result = mteb.evaluate(mteb_model, reranking_task, cache=None, prediction_folder=rerank_dir,
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

    settings = settings or best_settings()
    shared = base_provenance()
    loaded_rerankers = [_reranker_model(spec, settings) for spec in rerankers]
    runs: list[dict[str, Any]] = []
    for task in tasks:
        _load(task)
        records = _TaskRecords(task, top_k, settings, results_dir, shared)
        _run_task(records, embedders, loaded_rerankers, Path(work_dir), batch_size)
        runs += records.runs
    return {"runs": runs}
