"""Leaderboard data: the blog's published figures plus regenerated results from the results store, as tidy DataFrames.

Every row carries ``source`` (``published`` or ``regenerated``) and ``provenance`` (a short human-readable string shown on
hover). Regenerated quality results made with random-weight replicas (``random_init: true``) are refused and counted;
speed rows measured on a replica are kept (a replica has the exact architecture, so its speed is real) and labelled
``measured on replica``.

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
from eval.retrieval.store import DEFAULT_RESULTS_DIR, read_records
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
MAIN_FAMILIES = ("Ettin", "teacher")
OTHERS = "others"

QUALITY_COLUMNS = ["benchmark", "model", "family", "size", "params", "ndcg10", "source", "note", "provenance"]
EMBEDDER_COLUMNS = [
    "dataset", "split", "first_stage", "reranker", "family", "size", "ndcg10", "mrr10", "recall100", "n_queries", "source",
    "provenance", "command",
]  # fmt: skip
SPEED_COLUMNS = [
    "hardware", "model", "family", "size", "params", "pairs_per_s", "config", "batch_size", "source", "label", "provenance",
]  # fmt: skip
ABLATION_COLUMNS = ["hardware", "size", "config", "pairs_per_s", "peak_gb", "source", "label", "provenance"]


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
            "first_stage": e.model_id,
            "reranker": None,
            "family": "retriever only",
            "size": None,
            "ndcg10": e.ndcg10,
            "mrr10": math.nan,
            "recall100": math.nan,
            "n_queries": None,
            "source": "published",
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


def _retrieval_row(data: dict[str, Any], file: str) -> dict[str, Any]:
    m = data["metrics"]
    reranker = data.get("reranker") or None
    return {
        "dataset": str(data["dataset"]),
        "split": str(data.get("split", "test")),
        "first_stage": str(data["first_stage"]),
        "reranker": reranker,
        "family": family(reranker),
        "size": ettin_size(reranker),
        "ndcg10": float(m["ndcg_at_10"]),
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
    """All tables the app and the CLI show."""

    quality: pd.DataFrame
    embedders: pd.DataFrame
    speed: pd.DataFrame
    ablation: pd.DataFrame
    notes: list[str]
    refused_random_init: int
    errors: list[str]

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"quality": self.quality, "embedders": self.embedders, "speed": self.speed, "ablation": self.ablation}


def _concat(frames: Iterable[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=list(columns))
    return pd.concat(frames, ignore_index=True)[list(columns)]


def regenerated_quality(embedders: pd.DataFrame) -> pd.DataFrame:
    """Mean NDCG@10 per (dataset, reranker) over the first stages it was run with (regenerated rows only)."""
    regen = embedders[(embedders["source"] == "regenerated") & embedders["reranker"].notna()]
    rows = []
    for (dataset, split, model), g in regen.groupby(["dataset", "split", "reranker"], sort=True):
        size = ettin_size(model)
        params = registry.RERANKERS[size].total_parameters if size else _params(model)
        rows.append(
            {
                "benchmark": f"{dataset}/{split} (regenerated)",
                "model": model,
                "family": family(model),
                "size": size,
                "params": float(params),
                "ndcg10": float(g["ndcg10"].mean()),
                "source": "regenerated",
                "note": f"mean over {g['first_stage'].nunique()} first stage(s): {', '.join(sorted(g['first_stage'].unique()))}",
                "provenance": " | ".join(g["provenance"].head(3)),
            }
        )
    return pd.DataFrame.from_records(rows, columns=QUALITY_COLUMNS)


def build_leaderboard(results_dir: str | Path | None = None) -> Leaderboard:
    """Published tables plus whatever the results store holds (absent folders are fine)."""
    root = Path(results_dir) if results_dir is not None else DEFAULT_RESULTS_DIR
    retr, r_report = read_retrieval_results(root)
    speed, ablation, s_report = read_speed_results(root)
    embedders = _concat([published_embedders(), retr], EMBEDDER_COLUMNS)
    quality = _concat([published_quality(), regenerated_quality(embedders)], QUALITY_COLUMNS)
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
        notes.append(f"{len(errors)} result file(s) could not be read and were skipped")
    return Leaderboard(
        quality=quality,
        embedders=embedders,
        speed=_concat([published_speed(), speed], SPEED_COLUMNS),
        ablation=_concat([published_ablation(), ablation], ABLATION_COLUMNS),
        notes=notes,
        refused_random_init=r_report.refused_random_init,
        errors=errors,
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

    ``families`` may contain :data:`OTHERS`, which stands for every family other than ``Ettin`` and ``teacher``.
    """
    mask = pd.Series(True, index=df.index)
    if families is not None and "family" in df:
        fam = mask & df["family"].isin(list(families))
        if OTHERS in families:
            fam |= ~df["family"].isin(MAIN_FAMILIES)
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
