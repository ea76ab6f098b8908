"""The retrieval results store: one JSON file per (dataset, split, first stage, reranker), written atomically.

Layout: ``<results-dir>/retrieval/<dataset>/<split>/<first_stage_slug>/<reranker_slug or "retriever-only">.json`` with
schema ``ettin.retrieval/2`` (see ``eval/results/README.md``): the mean metrics plus every query's metrics
(``per_query``), each query's top :data:`RANKING_DEPTH` document ids (``rankings``) and a seeded bootstrap interval of each
mean (``intervals``). Files of schema ``ettin.retrieval/1`` (means only) are still read. :func:`read_records` is the one
reader of the store: the leaderboard and the app read regenerated retrieval results only through it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ettin.io import write_json_atomic
from ettin.metrics import METRIC_KEYS, IdenticalIdsRule, drop_identical_ids, identical_ids_rule, mean_metrics, per_query_metrics
from ettin.paths import PROJECT_ROOT

if TYPE_CHECKING:
    from ettin.runtime import Reranker, RuntimeSettings

__all__ = [
    "DEFAULT_RESULTS_DIR",
    "REQUIRED_FIELDS",
    "RETRIEVER_ONLY",
    "RANKING_DEPTH",
    "READABLE_SCHEMAS",
    "SCHEMA",
    "SCHEMA_V1",
    "StoredRecord",
    "has_per_query",
    "metric_intervals",
    "make_record",
    "read_records",
    "record_run",
    "result_path",
    "slug",
    "top_ranking",
    "validate_record",
    "write_record",
]

SCHEMA = "ettin.retrieval/2"
SCHEMA_V1 = "ettin.retrieval/1"
READABLE_SCHEMAS = (SCHEMA_V1, SCHEMA)
RANKING_DEPTH = 10  # document ids kept per query: what NDCG@10 looks at, enough to show a ranking before and after
RETRIEVER_ONLY = "retriever-only"
DEFAULT_RESULTS_DIR = PROJECT_ROOT / "eval" / "results"
REQUIRED_FIELDS = ("schema", "dataset", "split", "first_stage", "reranker", "metrics", "n_queries", "random_init", "provenance")

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def slug(model_id: str) -> str:
    """File-name form of a model id: ``org/name`` -> ``org__name``; other unsafe characters become ``-``."""
    text = model_id.strip().replace("/", "__")
    text = _UNSAFE.sub("-", text).strip("-.")
    if not text:
        raise ValueError(f"cannot make a file name from {model_id!r}")
    return text


def result_path(
    results_dir: str | Path, dataset: str, split: str, first_stage: str, reranker: str | None
) -> Path:
    """Where the record of one (dataset, split, first stage, reranker) lives."""
    return (
        Path(results_dir)
        / "retrieval"
        / slug(dataset)
        / slug(split)
        / slug(first_stage)
        / f"{slug(reranker) if reranker else RETRIEVER_ONLY}.json"
    )


def make_record(
    *,
    dataset: str,
    split: str,
    first_stage: str,
    reranker: str | None,
    metrics: dict[str, float],
    n_queries: int,
    provenance: dict[str, Any],
    per_query: Mapping[str, Mapping[str, float]] | None = None,
    rankings: Mapping[str, list[str]] | None = None,
) -> dict[str, Any]:
    """A store record; ``random_init`` is true when any model of the run is a random replica.

    With ``per_query`` it is a schema-2 record that also holds every query's metrics, their means' bootstrap intervals
    (settings in ``provenance["statistics"]``) and, with ``rankings``, each query's top document ids; without, a
    schema-1 record (means only).
    """
    random_init = bool(
        (provenance.get("first_stage") or {}).get("random_init") or (provenance.get("reranker") or {}).get("random_init")
    )
    extra: dict[str, Any] = {}
    if per_query is not None:
        from eval.leaderboard.stats import StatsSettings

        settings = StatsSettings()
        extra = {
            "intervals": metric_intervals(per_query, settings),
            "per_query": {qid: {k: float(values[k]) for k in METRIC_KEYS} for qid, values in per_query.items()},
            "rankings": {qid: list(ids) for qid, ids in (rankings or {}).items()},
        }
        provenance = {**provenance, "statistics": settings.interval_provenance()}
    return {
        "schema": SCHEMA if per_query is not None else SCHEMA_V1,
        "dataset": dataset,
        "split": split,
        "first_stage": first_stage,
        "reranker": reranker,
        "metrics": dict(metrics),
        "n_queries": int(n_queries),
        "random_init": random_init,
        **extra,
        "provenance": provenance,
    }


def metric_intervals(per_query: Mapping[str, Mapping[str, float]], settings: Any = None) -> dict[str, dict[str, float]]:
    """Each metric's mean over queries and its seeded bootstrap interval (queries resampled)."""
    from eval.leaderboard.stats import StatsSettings, bootstrap_interval

    settings = settings or StatsSettings()
    return {
        key: bootstrap_interval([values[key] for values in per_query.values()], settings).as_dict() for key in METRIC_KEYS
    }


def top_ranking(scores: Mapping[str, float], depth: int = RANKING_DEPTH) -> list[str]:
    """The ``depth`` best document ids of one query's run, ties broken by document id descending (as trec_eval)."""
    return [doc_id for doc_id, _ in sorted(scores.items(), key=lambda item: (item[1], item[0]), reverse=True)[:depth]]


def has_per_query(record: Mapping[str, Any]) -> bool:
    """Whether a record holds per-query metrics (schema 2; schema 1 records hold means only)."""
    return isinstance(record.get("per_query"), dict) and bool(record["per_query"])


def record_run(
    results_dir: str | Path | None,
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    *,
    dataset: dict[str, Any],
    first_stage: str,
    first_stage_provenance: dict[str, Any],
    reranker: Reranker | None,
    settings: RuntimeSettings,
    top_k: int,
    shared: dict[str, Any],
    protocol_extra: dict[str, Any] | None = None,
    provenance_extra: dict[str, Any] | None = None,
    system_name: str | None = None,
    identical_ids: IdenticalIdsRule | None = None,
) -> dict[str, Any]:
    """The record of one run (its metrics computed against ``qrels``), written to ``results_dir`` unless that is None.

    Under the dataset's ``ignore_identical_ids`` rule (``identical_ids``; default: :func:`ettin.metrics.identical_ids_rule`
    of ``dataset["name"]``, mteb's setting for the task of that name) a document whose id equals the query id is dropped
    from the run before the metrics and the rankings, as mteb does; the protocol records the rule and its source.

    Args:
        dataset: The dataset's provenance (``name``, ``split``, ``fingerprint``, ``source``).
        settings: The settings whose dtype and attention the protocol records.
        shared: Provenance shared by every record of an evaluation (packages, hardware, date).
        protocol_extra: More protocol fields; provenance_extra: more provenance fields (before ``shared``).
        system_name: The record's ``reranker`` when it is not the reranker's own name (a fused system's).
        identical_ids: The dataset's ``ignore_identical_ids`` rule (default: looked up by the dataset's name).
    """
    rule = identical_ids or identical_ids_rule(dataset["name"])
    if rule.ignore:
        run = drop_identical_ids(run)
    per_query = per_query_metrics(qrels, run)
    protocol = {
        "top_k": top_k,
        "max_length": reranker.settings.max_length if reranker else None,
        "dtype": settings.dtype,
        "attn_implementation": settings.attn_implementation,
        **rule.as_protocol(),
        **(protocol_extra or {}),
    }
    record = make_record(
        dataset=dataset["name"],
        split=dataset["split"],
        first_stage=first_stage,
        reranker=system_name or (reranker.name if reranker else None),
        metrics=mean_metrics(per_query),
        n_queries=len(per_query),
        per_query=per_query,
        rankings={qid: top_ranking(run.get(qid) or {}) for qid in per_query},
        provenance={
            "first_stage": first_stage_provenance,
            "reranker": reranker.provenance() if reranker else None,
            "dataset": dataset,
            "protocol": protocol,
            **(provenance_extra or {}),
            **shared,
        },
    )
    if results_dir is not None:
        write_record(results_dir, record)
    return record


def write_record(results_dir: str | Path, record: dict[str, Any]) -> Path:
    """Validate and write one record atomically; returns its path."""
    validate_record(record)
    path = result_path(results_dir, record["dataset"], record["split"], record["first_stage"], record["reranker"])
    write_json_atomic(path, record)
    return path


def validate_record(record: Any, where: str = "record") -> None:
    """Raise ``ValueError`` naming the problem when ``record`` is not a valid ``ettin.retrieval/1`` or ``/2`` record."""
    if not isinstance(record, dict):
        raise ValueError(f"{where}: not a JSON object")
    missing = [k for k in REQUIRED_FIELDS if k not in record]
    if missing:
        raise ValueError(f"{where}: missing field(s) {', '.join(missing)}")
    if record["schema"] not in READABLE_SCHEMAS:
        raise ValueError(f"{where}: schema {record['schema']!r}, expected one of {', '.join(READABLE_SCHEMAS)}")
    if not _numbers(record["metrics"]):
        raise ValueError(f"{where}: metrics must hold numbers for {', '.join(METRIC_KEYS)}")
    if not isinstance(record["random_init"], bool):
        raise ValueError(f"{where}: random_init must be true or false, not {record['random_init']!r}")
    if record["schema"] == SCHEMA:
        _validate_per_query(record, where)


def _numbers(metrics: Any) -> bool:
    return isinstance(metrics, dict) and all(isinstance(metrics.get(k), (int, float)) for k in METRIC_KEYS)


def _validate_per_query(record: dict[str, Any], where: str) -> None:
    """The schema-2 fields: one metrics dict per query (as many as ``n_queries``), rankings as lists of ids."""
    per_query, rankings = record.get("per_query"), record.get("rankings")
    if not isinstance(per_query, dict) or not all(_numbers(v) for v in per_query.values()):
        raise ValueError(f"{where}: per_query must map each query id to numbers for {', '.join(METRIC_KEYS)}")
    if len(per_query) != record["n_queries"]:
        raise ValueError(f"{where}: per_query holds {len(per_query)} queries, n_queries says {record['n_queries']}")
    if not isinstance(rankings, dict) or not all(
        isinstance(ids, list) and all(isinstance(d, str) for d in ids) for ids in rankings.values()
    ):
        raise ValueError(f"{where}: rankings must map query ids to lists of document ids")
    if not isinstance(record.get("intervals"), dict):
        raise ValueError(f"{where}: intervals missing")


@dataclass(frozen=True)
class StoredRecord:
    """One valid record of the store and its file, relative to the results folder (``retrieval/<dataset>/…``)."""

    file: str
    record: dict[str, Any]


def read_records(results_dir: str | Path) -> tuple[list[StoredRecord], list[str]]:
    """Every valid record under ``<results_dir>/retrieval``, plus one message per file that was skipped.

    Messages and :attr:`StoredRecord.file` name files relative to ``results_dir`` (never a machine path).
    """
    records, problems = [], []
    root = Path(results_dir)
    store = root / "retrieval"
    for path in sorted(store.rglob("*.json")) if store.is_dir() else []:
        if path.name.startswith("."):
            continue  # a temporary file of an interrupted atomic write
        rel = path.relative_to(root).as_posix()
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            validate_record(record, rel)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
            problems.append(f"{rel}: {exc}" if not str(exc).startswith(rel) else str(exc))
            continue
        records.append(StoredRecord(rel, record))
    return records, problems
