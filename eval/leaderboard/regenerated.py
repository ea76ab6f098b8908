"""Regenerated results as leaderboard rows: retrieval and speed files read from the results store, quality averaged.

Regenerated quality results made with random-weight replicas (``random_init: true``) are refused and counted; speed rows
measured on a replica are kept (a replica has the exact architecture, so its speed is real) and labelled
``measured on replica``. Retrieval rows with per-query scores (schema ``ettin.retrieval/2``) carry a 95% bootstrap
interval (``ndcg10_low``/``ndcg10_high``).

Retrieval results are read only through :func:`eval.retrieval.store.read_records`, speed results only through
:func:`eval.speed.report.read_results`.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ettin import registry
from eval.leaderboard import _REGENERATED
from eval.leaderboard.columns import (
    ABLATION_COLUMNS,
    EMBEDDER_COLUMNS,
    QUALITY_COLUMNS,
    SPEED_COLUMNS,
    _params,
    _size_params,
    ettin_size,
    family,
    scope_name,
    system_name,
)
from eval.leaderboard.stats import StatsSettings
from eval.leaderboard.uncertainty import interval_of, mean_per_query
from eval.retrieval.store import has_per_query, read_records
from eval.speed.report import read_results

__all__ = list(_REGENERATED)  # the public names, listed once in eval/leaderboard/__init__.py

REPLICA_LABEL = "measured on replica"
NO_INTERVAL_V1 = "none: file without per-query scores (schema 1)"


@dataclass
class ReadReport:
    """What happened while reading a results folder."""

    files: int = 0
    refused_random_init: int = 0
    errors: list[str] = field(default_factory=list)
    per_query: dict[tuple[str, str, str, str | None], dict[str, float]] = field(default_factory=dict)
    """(dataset, split, first stage, reranker) -> query id -> NDCG@10, for the files that hold per-query scores."""


def _regen_provenance(prov: dict[str, Any], file: str) -> str:
    """The hover text of a regenerated result: date, hardware, file, protocol, dataset fingerprint, packages."""
    hw = (prov.get("hardware") or {}).get("description") or "unknown hardware"
    pk = prov.get("packages") or {}
    pk_text = ", ".join(f"{k} {v}" for k, v in pk.items() if v and k in ("torch", "transformers", "sentence-transformers", "mteb"))
    parts = [f"regenerated {prov.get('date', 'date unknown')} on {hw}", f"file {file}"]
    proto = prov.get("protocol")
    if isinstance(proto, dict) and proto:
        parts.append("protocol " + ", ".join(f"{k}={v}" for k, v in proto.items()))
    ds = prov.get("dataset")
    if isinstance(ds, dict) and ds.get("fingerprint"):
        parts.append(f"dataset fingerprint {str(ds['fingerprint'])[:12]}")
    if pk_text:
        parts.append(pk_text)
    return "; ".join(parts)


def retrieval_command(data: dict[str, Any]) -> str:
    """The ``python -m eval retrieval`` command that regenerates one retrieval result."""
    prov = data.get("provenance") or {}
    ds = prov.get("dataset") or {}
    parts = ["python", "-m", "eval", "retrieval"]
    if not str(ds.get("source", "")).startswith("bundled") or data.get("dataset") != "scifact":
        parts += ["--data", f"<BEIR folder of {data.get('dataset')}>", "--name", str(data.get("dataset"))]
    if data.get("split", "test") != "test":
        parts += ["--split", str(data["split"])]
    parts += ["--first-stage", str(data.get("first_stage"))]
    if data.get("reranker"):
        parts += ["--reranker", str(data["reranker"])]
    proto = prov.get("protocol") or {}
    if proto.get("top_k") and proto["top_k"] != 100:
        parts += ["--top-k", str(proto["top_k"])]
    if data.get("reranker") and proto.get("max_length") and proto["max_length"] != 512:
        parts += ["--max-length", str(proto["max_length"])]
    return " ".join(p if p.startswith("<") else shlex.quote(p) for p in parts)


def _interval(data: dict[str, Any]) -> tuple[float, float, str]:
    """(low, high, text) of a record's NDCG@10 interval."""
    if not has_per_query(data):
        return math.nan, math.nan, NO_INTERVAL_V1
    iv = (data.get("intervals") or {}).get("ndcg_at_10")
    if not isinstance(iv, dict):
        iv = interval_of([q["ndcg_at_10"] for q in data["per_query"].values()])
    stats = (data.get("provenance") or {}).get("statistics") or {}
    level = round(100 * float(stats.get("confidence_level", 0.95)))
    how = f"{level}% bootstrap, {data['n_queries']} queries resampled, {stats.get('n_resamples', '?')} resamples, seed {stats.get('seed', '?')}"
    return float(iv["low"]), float(iv["high"]), f"{iv['low']:.4f}–{iv['high']:.4f} ({how})"


def _retrieval_row(data: dict[str, Any], file: str) -> dict[str, Any]:
    """The embedders-table row of one results-store record."""
    m = data["metrics"]
    reranker = data.get("reranker") or None
    low, high, interval = _interval(data)
    size = ettin_size(reranker)
    return {
        "dataset": str(data["dataset"]),
        "split": str(data.get("split", "test")),
        "scope": scope_name(str(data["dataset"]), str(data.get("split", "test"))),
        "system": system_name(str(data["first_stage"]), reranker),
        "first_stage": str(data["first_stage"]),
        "reranker": reranker,
        "family": family(reranker),
        "size": size,
        "params": _size_params(size) if size else (_params(reranker) if reranker else math.nan),
        "ndcg10": float(m["ndcg_at_10"]),
        "ndcg10_low": low,
        "ndcg10_high": high,
        "interval": interval,
        "mrr10": float(m.get("mrr_at_10", math.nan)),
        "recall100": float(m.get("recall_at_100", math.nan)),
        "n_queries": data.get("n_queries"),
        "source": "regenerated",
        "provenance": _regen_provenance(data.get("provenance") or {}, file),
        "command": retrieval_command(data),
    }


def read_retrieval_results(results_dir: str | Path) -> tuple[pd.DataFrame, ReadReport]:
    """Regenerated retrieval results (``<results>/retrieval/**/*.json``, read by the store's own reader);
    ``random_init`` ones are refused and counted."""
    stored, problems = read_records(results_dir)
    report = ReadReport(files=len(stored), errors=list(problems))
    rows = []
    for entry in stored:
        if entry.record.get("random_init"):
            report.refused_random_init += 1
            continue
        try:
            rows.append(_retrieval_row(entry.record, entry.file))
            if has_per_query(entry.record):
                r = entry.record
                key = (str(r["dataset"]), str(r.get("split", "test")), str(r["first_stage"]), r.get("reranker") or None)
                report.per_query[key] = {q: float(v["ndcg_at_10"]) for q, v in r["per_query"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            report.errors.append(f"{entry.file}: {type(exc).__name__}: {str(exc)[:120]}")
    return pd.DataFrame.from_records(rows, columns=EMBEDDER_COLUMNS), report


def _speed_rows(row: dict[str, Any], hw: str, prov_text: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(speed row, ablation row or None) of one measured row of a speed file."""
    model = str(row["model"])
    size = row.get("size") or ettin_size(model)
    label = REPLICA_LABEL if row.get("random_init") else "regenerated"
    rate = float(row["pairs_per_s"])
    meta = registry.RERANKERS.get(size) if size else None
    speed = {
        "hardware": f"{hw} (regenerated)",
        "model": meta.hub_id if meta else model,
        "family": family(meta.hub_id if meta else model),
        "size": size,
        "params": float(meta.total_parameters) if meta else math.nan,
        "pairs_per_s": rate,
        "config": f"{row.get('runtime', '')}/{row.get('config', '')}".strip("/"),
        "batch_size": row.get("batch_size"),
        "source": "regenerated",
        "label": label,
        "provenance": prov_text,
    }
    if row.get("runtime", "ettin") != "ettin" or not size:
        return speed, None
    peak = row.get("peak_memory_bytes")
    ablation = {
        "hardware": hw,
        "size": size,
        "family": "Ettin",
        "params": _size_params(size),
        "config": str(row.get("config", "")),
        "pairs_per_s": rate,
        "peak_gb": float(peak) / 1e9 if peak else math.nan,
        "source": "regenerated",
        "label": label,
        "provenance": prov_text,
    }
    return speed, ablation


def read_speed_results(results_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, ReadReport]:
    """Regenerated speed rows (``<results>/speed/*.json``): (speed frame, ablation frame, report). Skipped rows are dropped;
    rows measured on replicas are kept and labelled :data:`REPLICA_LABEL`."""
    files, problems = read_results(results_dir)
    report = ReadReport(files=len(files), errors=list(problems))
    speed_rows, abl_rows = [], []
    for found in files:
        try:
            prov = found.data.get("provenance") or {}
            hw = (prov.get("hardware") or {}).get("description") or found.stem.rsplit("_", 1)[0]
            prov_text = _regen_provenance(prov, found.file)
            for r in found.data["rows"]:
                if r.get("skipped") or r.get("pairs_per_s") is None:
                    continue
                speed, ablation = _speed_rows(r, hw, prov_text)
                speed_rows.append(speed)
                if ablation is not None:
                    abl_rows.append(ablation)
        except (ValueError, KeyError, TypeError) as exc:
            report.errors.append(f"{found.file}: {type(exc).__name__}: {str(exc)[:120]}")
    return (
        pd.DataFrame.from_records(speed_rows, columns=SPEED_COLUMNS),
        pd.DataFrame.from_records(abl_rows, columns=ABLATION_COLUMNS),
        report,
    )


def _benchmark(dataset: str, split: str) -> str:
    """The quality table's benchmark name of a regenerated dataset split."""
    return f"{dataset}/{split} (regenerated)"


def regenerated_quality(
    embedders: pd.DataFrame,
    per_query: dict[tuple[str, str, str, str | None], dict[str, float]] | None = None,
    settings: StatsSettings = StatsSettings(),
) -> tuple[pd.DataFrame, dict[tuple[str, str], dict[str, float]], dict[tuple[str, str], tuple[str, ...]]]:
    """Mean NDCG@10 per (dataset, reranker) over the first stages it was run with (regenerated rows only).

    Args:
        embedders: The per-embedder frame.
        per_query: (dataset, split, first stage, reranker) -> query id -> NDCG@10, where known.
        settings: Bootstrap settings of the intervals.

    Returns:
        (the quality rows, (benchmark, model) -> query id -> NDCG@10 averaged over the first stages, where every first
        stage of the row has per-query scores, (benchmark, model) -> the sorted first stages averaged over). Two rows are
        paired-tested only when they were averaged over the same first stages (pass the third item as
        :func:`~eval.leaderboard.uncertainty.comparisons_frame`'s ``groups``).
    """
    per_query = per_query or {}
    regen = embedders[(embedders["source"] == "regenerated") & embedders["reranker"].notna()]
    rows, averaged, first_stages = [], {}, {}
    for (dataset, split, model), g in regen.groupby(["dataset", "split", "reranker"], sort=True):
        size = ettin_size(model)
        params = registry.RERANKERS[size].total_parameters if size else _params(model)
        runs = [per_query.get((dataset, split, fs, model)) for fs in g["first_stage"]]
        low = high = math.nan
        interval = NO_INTERVAL_V1
        if all(runs):
            mean_run = mean_per_query(runs)
            averaged[(_benchmark(dataset, split), model)] = mean_run
            first_stages[(_benchmark(dataset, split), model)] = tuple(sorted(g["first_stage"].unique()))
            iv = interval_of(list(mean_run.values()), settings)
            low, high = iv["low"], iv["high"]
            interval = f"{low:.4f}–{high:.4f} (95% bootstrap of the per-query mean over first stages)"
        rows.append(
            {
                "benchmark": _benchmark(dataset, split),
                "model": model,
                "family": family(model),
                "size": size,
                "params": float(params),
                "ndcg10": float(g["ndcg10"].mean()),
                "ndcg10_low": low,
                "ndcg10_high": high,
                "source": "regenerated",
                "interval": interval,
                "note": f"mean over {g['first_stage'].nunique()} first stage(s): {', '.join(sorted(g['first_stage'].unique()))}",
                "provenance": " | ".join(g["provenance"].head(3)),
            }
        )
    return pd.DataFrame.from_records(rows, columns=QUALITY_COLUMNS), averaged, first_stages

