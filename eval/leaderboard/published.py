"""The blog's published figures as leaderboard tables: quality, retriever-only embedders, speed and the ablation.

Every figure comes from :func:`ettin.published.published`. Published rows have no interval: the post gives none.
"""

from __future__ import annotations

import math

import pandas as pd

from ettin.published import published
from eval.leaderboard import _PUBLISHED
from eval.leaderboard.columns import (
    ABLATION_COLUMNS,
    EMBEDDER_COLUMNS,
    QUALITY_COLUMNS,
    SPEED_COLUMNS,
    _params,
    _size_params,
    ettin_size,
    family,
)

__all__ = list(_PUBLISHED)  # the public names, listed once in eval/leaderboard/__init__.py

PUBLISHED_BENCHMARKS = {"mteb_eng_v2_retrieval": "MTEB(eng, v2) Retrieval", "nanobeir": "NanoBEIR"}
PUBLISHED_HARDWARE = {"h100_bf16": "H100 (bf16)", "rtx3090_bf16": "RTX 3090 (bf16)", "cpu_i7_13700k": "CPU i7-13700K"}
ABLATION_CONFIGS = {
    "fp32+SDPA": "fp32-sdpa",
    "bf16+SDPA": "bf16-sdpa",
    "bf16+FA2 padded": "bf16-fa2-padded",
    "bf16+FA2 unpadded": "bf16-fa2-unpadded",
}
NO_INTERVAL_PUBLISHED = "none: the post gives no interval"


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
