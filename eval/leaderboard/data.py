"""Leaderboard data: the blog's published figures plus regenerated results from the results store, as tidy DataFrames.

Every row carries ``source`` (``published`` or ``regenerated``) and ``provenance`` (a short human-readable string shown on
hover). Regenerated quality results made with random-weight replicas (``random_init: true``) are refused and counted;
speed rows measured on a replica are kept (a replica has the exact architecture, so its speed is real) and labelled
``measured on replica``.

Regenerated retrieval rows with per-query scores (schema ``ettin.retrieval/2``) carry a 95% bootstrap interval
(``ndcg10_low``/``ndcg10_high``); every pair of systems on the same queries is tested once (``Leaderboard.comparisons``)
and :func:`ranked` gives any selection of rows its rank ranges ("2–4"), ties and rerankers' gains over their first stage
(Holm-corrected over the pairs shown; see :mod:`eval.leaderboard.uncertainty`). Published rows have no interval: the post
gives none.

Published figures come from :func:`ettin.published.published`; regenerated retrieval results are read only through
:func:`eval.retrieval.store.read_records`, speed results only through :func:`eval.speed.report.read_results`.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ettin import registry
from ettin.published import published
from eval.leaderboard import _DATA
from eval.leaderboard.stats import StatsSettings
from eval.leaderboard.uncertainty import (
    COMPARISON_COLUMNS,
    GAIN_COLUMNS,
    RANK_COLUMNS,
    comparisons_frame,
    interval_of,
    mean_per_query,
    tied_groups,
    with_ranks,
)
from eval.retrieval.store import DEFAULT_RESULTS_DIR, has_per_query, read_records
from eval.speed.report import read_results

__all__ = list(_DATA)  # the public names, listed once in eval/leaderboard/__init__.py

PUBLISHED_BENCHMARKS = {"mteb_eng_v2_retrieval": "MTEB(eng, v2) Retrieval", "nanobeir": "NanoBEIR"}
PUBLISHED_HARDWARE = {"h100_bf16": "H100 (bf16)", "rtx3090_bf16": "RTX 3090 (bf16)", "cpu_i7_13700k": "CPU i7-13700K"}
ABLATION_CONFIGS = {
    "fp32+SDPA": "fp32-sdpa",
    "bf16+SDPA": "bf16-sdpa",
    "bf16+FA2 padded": "bf16-fa2-padded",
    "bf16+FA2 unpadded": "bf16-fa2-unpadded",
}
REPLICA_LABEL = "measured on replica"
NO_INTERVAL_PUBLISHED = "none: the post gives no interval"
NO_INTERVAL_V1 = "none: file without per-query scores (schema 1)"
MAIN_FAMILIES = ("Ettin", "teacher")
OTHERS = "others"

QUALITY_COLUMNS = [
    "benchmark", "model", "family", "size", "params", "ndcg10", "ndcg10_low", "ndcg10_high", *RANK_COLUMNS, "source",
    "interval", "note", "provenance",
]  # fmt: skip
EMBEDDER_COLUMNS = [
    "dataset", "split", "scope", "system", "first_stage", "reranker", "family", "size", "params", "ndcg10", "ndcg10_low",
    "ndcg10_high", *RANK_COLUMNS, *GAIN_COLUMNS, "mrr10", "recall100", "n_queries", "source", "interval", "provenance",
    "command",
]  # fmt: skip
SPEED_COLUMNS = [
    "hardware", "model", "family", "size", "params", "pairs_per_s", "config", "batch_size", "source", "label", "provenance",
]  # fmt: skip
ABLATION_COLUMNS = ["hardware", "size", "family", "params", "config", "pairs_per_s", "peak_gb", "source", "label", "provenance"]


def family(model_id: str | None) -> str:
    """``Ettin``, ``teacher``, ``retriever only`` or the Hub organisation."""
    if not model_id:
        return "retriever only"
    if "ettin-reranker" in model_id:
        return "Ettin"
    if model_id == registry.TEACHER_ID:
        return "teacher"
    return model_id.split("/")[0] if "/" in model_id else model_id


def ettin_size(model_id: str | None) -> str | None:
    if not model_id:
        return None
    try:
        return registry.reranker(model_id).size
    except KeyError:
        return None


def system_name(first_stage: str, reranker: str | None) -> str:
    """How a (first stage, reranker) system is named in tables and comparisons: ``bm25`` or ``bm25 » 17m-model``."""
    return first_stage if not reranker else f"{first_stage} » {reranker}"


def _size_params(size: str | None) -> float:
    """An Ettin size's parameter count as the post prints it (else the registry's count; NaN for no size)."""
    meta = registry.RERANKERS.get(size) if size else None
    if meta is None:
        return math.nan
    printed = published().params(meta.hub_id)
    return float(printed) if printed is not None else float(meta.total_parameters)


def format_params(params: Any) -> str:
    """``17.6M`` below a billion, ``1.00B`` from a billion up, ``""`` when unknown."""
    try:
        n = float(params)
    except (TypeError, ValueError):
        return ""
    if math.isnan(n):
        return ""
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.1f}M"


def _params(model_id: str) -> float:
    """A model's parameter count as the post prints it (NaN when it prints none)."""
    params = published().params(model_id)
    return math.nan if params is None else float(params)


# --------------------------------------------------------------------------------------------------------------------
# Published


def published_quality() -> pd.DataFrame:
    """MTEB(eng, v2) Retrieval and NanoBEIR NDCG@10 as published, one row per (benchmark, model)."""
    pub = published()
    rows = []
    for key, bench in PUBLISHED_BENCHMARKS.items():
        table = pub.quality[key]
        prov = pub.source.cite(bench, table.protocol)
        for r in table.rows:
            rows.append(
                {
                    "benchmark": bench,
                    "model": r.model_id,
                    "family": family(r.model_id),
                    "size": ettin_size(r.model_id),
                    "params": r.params,
                    "ndcg10": r.ndcg10,
                    "source": "published",
                    "interval": NO_INTERVAL_PUBLISHED,
                    "note": r.note,
                    "provenance": prov,
                }
            )
    return pd.DataFrame.from_records(rows, columns=QUALITY_COLUMNS)


def published_embedders() -> pd.DataFrame:
    """Retriever-only MTEB(eng, v2) NDCG@10 per embedder, as published (reranked per-embedder scores were not)."""
    pub = published()
    prov = pub.source.cite("embedders", pub.mteb.protocol)
    rows = [
        {
            "dataset": PUBLISHED_BENCHMARKS["mteb_eng_v2_retrieval"],
            "split": "test",
            "scope": PUBLISHED_BENCHMARKS["mteb_eng_v2_retrieval"],
            "system": e.model_id,
            "first_stage": e.model_id,
            "reranker": None,
            "family": "retriever only",
            "size": None,
            "ndcg10": e.ndcg10,
            "mrr10": math.nan,
            "recall100": math.nan,
            "n_queries": None,
            "source": "published",
            "interval": NO_INTERVAL_PUBLISHED,
            "provenance": prov,
            "command": "",
        }
        for e in pub.embedders
    ]
    return pd.DataFrame.from_records(rows, columns=EMBEDDER_COLUMNS)


def published_speed() -> pd.DataFrame:
    """pairs/s per model and hardware, as published."""
    pub = published()
    rows = []
    for key, hw in PUBLISHED_HARDWARE.items():
        prov = pub.source.cite(f"speed, {hw}", pub.speed_protocol)
        table = pub.speed.get(key)
        for model, rate in (table.pairs_per_s if table else {}).items():
            rows.append(
                {
                    "hardware": hw,
                    "model": model,
                    "family": family(model),
                    "size": ettin_size(model),
                    "params": _params(model),
                    "pairs_per_s": rate,
                    "config": "best attention, bf16" if "bf16" in key else "best attention",
                    "batch_size": None,
                    "source": "published",
                    "label": "published",
                    "provenance": prov,
                }
            )
    return pd.DataFrame.from_records(rows, columns=SPEED_COLUMNS)


def published_ablation() -> pd.DataFrame:
    """The H100 attention/precision ablation, as published (one row per size and config)."""
    pub = published()
    prov = pub.source.cite("H100 ablation", pub.ablation_unit)
    rows = [
        {
            "hardware": "H100",
            "size": cell.size,
            "family": "Ettin",
            "params": _size_params(cell.size),
            "config": ABLATION_CONFIGS.get(cell.config, cell.config),
            "pairs_per_s": cell.pairs_per_s,
            "peak_gb": cell.peak_gb,
            "source": "published",
            "label": "published",
            "provenance": prov,
        }
        for cell in pub.ablation
    ]
    return pd.DataFrame.from_records(rows, columns=ABLATION_COLUMNS)


# --------------------------------------------------------------------------------------------------------------------
# Regenerated


def _regen_provenance(prov: dict[str, Any], file: str) -> str:
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


@dataclass
class ReadReport:
    """What happened while reading a results folder."""

    files: int = 0
    refused_random_init: int = 0
    errors: list[str] = field(default_factory=list)
    per_query: dict[tuple[str, str, str, str | None], dict[str, float]] = field(default_factory=dict)
    """(dataset, split, first stage, reranker) -> query id -> NDCG@10, for the files that hold per-query scores."""


def scope_name(dataset: str, split: str) -> str:
    """The scope regenerated systems are compared in: ``scifact/test``."""
    return f"{dataset}/{split}"


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


# --------------------------------------------------------------------------------------------------------------------
# The leaderboard


@dataclass
class Leaderboard:
    """All tables the app and the CLI show.

    ``comparisons`` holds one row per pair of regenerated systems compared on the same queries (scope, a, b, mean
    difference a − b with its paired interval, raw and Holm-adjusted p-values); ``statistics`` how they were computed.
    """

    quality: pd.DataFrame
    embedders: pd.DataFrame
    speed: pd.DataFrame
    ablation: pd.DataFrame
    notes: list[str]
    refused_random_init: int
    errors: list[str]
    comparisons: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=COMPARISON_COLUMNS))
    statistics: dict[str, Any] = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {
            "quality": self.quality,
            "embedders": self.embedders,
            "speed": self.speed,
            "ablation": self.ablation,
            "comparisons": self.comparisons,
        }

    def tied_groups(self) -> dict[str, list[list[str]]]:
        """Scope -> groups of regenerated systems no test separates (each group shares one rank range)."""
        regen = self.embedders[self.embedders["source"] == "regenerated"]
        quality = self.quality[self.quality["source"] == "regenerated"]
        return {**tied_groups(regen, "scope", "system"), **tied_groups(quality, "benchmark", "model")}


def _concat(frames: Iterable[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=list(columns))
    return pd.concat(frames, ignore_index=True)[list(columns)]


def _benchmark(dataset: str, split: str) -> str:
    return f"{dataset}/{split} (regenerated)"


def regenerated_quality(
    embedders: pd.DataFrame,
    per_query: dict[tuple[str, str, str, str | None], dict[str, float]] | None = None,
    settings: StatsSettings = StatsSettings(),
) -> tuple[pd.DataFrame, dict[tuple[str, str], dict[str, float]]]:
    """Mean NDCG@10 per (dataset, reranker) over the first stages it was run with (regenerated rows only).

    Args:
        embedders: The per-embedder frame.
        per_query: (dataset, split, first stage, reranker) -> query id -> NDCG@10, where known.
        settings: Bootstrap settings of the intervals.

    Returns:
        (the quality rows, (benchmark, model) -> query id -> NDCG@10 averaged over the first stages, where every first
        stage of the row has per-query scores).
    """
    per_query = per_query or {}
    regen = embedders[(embedders["source"] == "regenerated") & embedders["reranker"].notna()]
    rows, averaged = [], {}
    for (dataset, split, model), g in regen.groupby(["dataset", "split", "reranker"], sort=True):
        size = ettin_size(model)
        params = registry.RERANKERS[size].total_parameters if size else _params(model)
        runs = [per_query.get((dataset, split, fs, model)) for fs in g["first_stage"]]
        low = high = math.nan
        interval = NO_INTERVAL_V1
        if all(runs):
            mean_run = mean_per_query(runs)
            averaged[(_benchmark(dataset, split), model)] = mean_run
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
    return pd.DataFrame.from_records(rows, columns=QUALITY_COLUMNS), averaged


def ranked(df: pd.DataFrame, comparisons: pd.DataFrame, alpha: float = StatsSettings().alpha) -> pd.DataFrame:
    """A quality or embedders frame (typically after :func:`filter_frame`) with its rank ranges, ties and gains.

    Holm's correction runs over the pairs among the rows given, so a selection is ranked by the comparisons it shows.
    """
    if "benchmark" in df:
        return with_ranks(df, comparisons, "benchmark", "model", alpha)
    return with_ranks(df, comparisons, "scope", "system", alpha)


def build_leaderboard(results_dir: str | Path | None = None, settings: StatsSettings = StatsSettings()) -> Leaderboard:
    """Published tables plus whatever the results store holds (absent folders are fine), ranked with intervals."""
    root = Path(results_dir) if results_dir is not None else DEFAULT_RESULTS_DIR
    retr, r_report = read_retrieval_results(root)
    speed, ablation, s_report = read_speed_results(root)
    embedders = _concat([published_embedders(), retr], EMBEDDER_COLUMNS)
    regen_quality, averaged = regenerated_quality(embedders, r_report.per_query, settings)
    quality = _concat([published_quality(), regen_quality], QUALITY_COLUMNS)
    by_system = {
        (scope_name(ds, split), system_name(fs, rr)): scores for (ds, split, fs, rr), scores in r_report.per_query.items()
    }
    comparisons = _concat([comparisons_frame(by_system, settings), comparisons_frame(averaged, settings)], COMPARISON_COLUMNS)
    notes = []
    if r_report.refused_random_init:
        notes.append(
            f"{r_report.refused_random_init} regenerated quality result(s) refused: made with random-weight replicas "
            "(random_init: true), whose scores are meaningless"
        )
    if retr.empty:
        notes.append("no regenerated retrieval results yet: quality numbers are the blog's published ones")
    if speed.empty:
        notes.append("no regenerated speed results yet: speed numbers are the blog's published ones")
    errors = r_report.errors + s_report.errors
    if errors:
        notes.append(f"{len(errors)} result file(s) could not be read and were skipped: " + "; ".join(e[:200] for e in errors[:5])
                     + ("; …" if len(errors) > 5 else ""))  # fmt: skip
    return Leaderboard(
        quality=ranked(quality, comparisons, settings.alpha),
        embedders=ranked(embedders, comparisons, settings.alpha),
        speed=_concat([published_speed(), speed], SPEED_COLUMNS),
        ablation=_concat([published_ablation(), ablation], ABLATION_COLUMNS),
        notes=notes,
        refused_random_init=r_report.refused_random_init,
        errors=errors,
        comparisons=comparisons,
        statistics=settings.as_provenance(),
    )


def filter_frame(
    df: pd.DataFrame,
    families: Sequence[str] | None = None,
    min_params: float | None = None,
    max_params: float | None = None,
    hardware: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Rows whose family, parameter count, hardware and source pass the filters (``None`` = no filter).

    ``families`` may contain :data:`OTHERS`, which stands for every family other than ``Ettin`` and ``teacher``. In a frame
    of (first stage, reranker) rows, the first stages alone stay whatever the families: they are the rerankers' baselines.
    """
    mask = pd.Series(True, index=df.index)
    if families is not None and "family" in df:
        fam = mask & df["family"].isin(list(families))
        if OTHERS in families:
            fam |= ~df["family"].isin(MAIN_FAMILIES)
        if "reranker" in df:
            fam |= df["reranker"].isna()  # a first stage alone is every reranked row's baseline: always kept
        mask &= fam
    if "params" in df:
        params = pd.to_numeric(df["params"], errors="coerce")
        if min_params is not None:
            mask &= params.isna() | (params >= min_params)
        if max_params is not None:
            mask &= params.isna() | (params <= max_params)
    if hardware is not None and "hardware" in df:
        mask &= df["hardware"].isin(list(hardware))
    if sources is not None and "source" in df:
        mask &= df["source"].isin(list(sources))
    return df[mask].reset_index(drop=True)


def write_tables(board: Leaderboard, out_dir: str | Path) -> list[Path]:
    """Write every table as CSV and JSON (records) into ``out_dir``; returns the files written."""
    from ettin.io import atomic_open

    out = Path(out_dir)
    written = []
    for name, df in board.tables().items():
        csv_path, json_path = out / f"{name}.csv", out / f"{name}.json"
        with atomic_open(csv_path) as f:
            df.to_csv(f, index=False)
        with atomic_open(json_path) as f:
            f.write(frame_to_json(df))
        written += [csv_path, json_path]
    return written


def frame_to_json(df: pd.DataFrame) -> str:
    """Records JSON with NaN as null."""
    return df.to_json(orient="records", indent=1, force_ascii=False)
