"""The blog post's published figures, read once from ``ettin/resources/ettin_blog_2026-05.json`` into typed records.

Every module that shows or compares against a published number goes through :func:`published`; nothing indexes the
raw JSON elsewhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "PUBLISHED_FILE",
    "AblationCell",
    "EmbedderScore",
    "EttinRow",
    "Published",
    "QualityRow",
    "QualityTable",
    "Source",
    "SpeedTable",
    "published",
]

PUBLISHED_FILE = Path(__file__).parent / "resources" / "ettin_blog_2026-05.json"


@dataclass(frozen=True, kw_only=True)
class Source:
    title: str
    url: str
    date: str
    note: str = ""

    def cite(self, table: str, protocol: str | None = None) -> str:
        """One line naming the post, its date and the table (and protocol) a figure comes from."""
        text = f"published: {self.title} ({self.url}), {self.date}; table {table}"
        return text + (f"; protocol: {protocol}" if protocol else "")


@dataclass(frozen=True, kw_only=True)
class EttinRow:
    """One Ettin reranker as the post's model table describes it (parameter count rounded, head included)."""

    model_id: str
    backbone: str
    hidden: int
    layers: int
    params: float
    learning_rate: float
    global_batch_size: int


@dataclass(frozen=True, kw_only=True)
class QualityRow:
    """One reranker's published NDCG@10 on a benchmark."""

    model_id: str
    params: float
    ndcg10: float
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class QualityTable:
    protocol: str
    rows: tuple[QualityRow, ...]


@dataclass(frozen=True, kw_only=True)
class EmbedderScore:
    """A first-stage embedder's published retriever-only MTEB(eng, v2) NDCG@10."""

    model_id: str
    active_params: float
    ndcg10: float


@dataclass(frozen=True, kw_only=True)
class SpeedTable:
    """Published pairs/s per model on one piece of hardware."""

    key: str
    pairs_per_s: dict[str, float]

    def rate(self, model_id: str) -> float | None:
        return self.pairs_per_s.get(model_id)


@dataclass(frozen=True, kw_only=True)
class AblationCell:
    """One cell of the H100 attention/precision ablation."""

    size: str
    config: str
    pairs_per_s: float
    peak_gb: float


@dataclass(frozen=True, kw_only=True)
class Published:
    """Everything the post publishes that the project shows or reuses."""

    source: Source
    quality: dict[str, QualityTable]
    embedders: tuple[EmbedderScore, ...]
    speed_protocol: str
    speed: dict[str, SpeedTable]
    ablation_unit: str
    ablation: tuple[AblationCell, ...]
    ettin: tuple[EttinRow, ...]
    training_constants: dict[str, Any]

    @property
    def mteb(self) -> QualityTable:
        return self.quality["mteb_eng_v2_retrieval"]

    @property
    def nanobeir(self) -> QualityTable:
        return self.quality["nanobeir"]

    @property
    def cpu_speed(self) -> SpeedTable:
        """The post's CPU table (Intel i7-13700K)."""
        return self.speed["cpu_i7_13700k"]

    def params(self, model_id: str) -> float | None:
        """A model's parameter count as the post prints it (head included, rounded)."""
        for row in self.ettin:
            if row.model_id == model_id:
                return row.params
        for table in self.quality.values():
            for row in table.rows:
                if row.model_id == model_id:
                    return row.params
        return None

    def model_ids(self) -> list[str]:
        """Every model id in the quality and speed tables, first appearance first."""
        ids = [row.model_id for table in self.quality.values() for row in table.rows]
        ids += [model_id for table in self.speed.values() for model_id in table.pairs_per_s]
        return list(dict.fromkeys(ids))


def _quality(section: dict[str, Any]) -> QualityTable:
    rows = tuple(
        QualityRow(model_id=r["id"], params=float(r["params"]), ndcg10=float(r["ndcg10"]), note=r.get("note") or "")
        for r in section["rows"]
    )
    return QualityTable(protocol=section.get("protocol", ""), rows=rows)


def _ablation(section: dict[str, Any]) -> tuple[AblationCell, ...]:
    return tuple(
        AblationCell(size=size, config=config, pairs_per_s=float(rate), peak_gb=float(peak))
        for size, cells in section["rows"].items()
        for config, (rate, peak) in zip(section["columns"], cells)
    )


def parse(data: dict[str, Any]) -> Published:
    """Typed records from the published JSON (``KeyError`` names a missing section)."""
    src, speed = data["source"], data["speed"]
    tables = {key: value for key, value in speed.items() if isinstance(value, dict) and key != "ablation_h100"}
    return Published(
        source=Source(title=src["title"], url=src["url"], date=src["published"], note=src.get("note", "")),
        quality={key: _quality(data[key]) for key in ("mteb_eng_v2_retrieval", "nanobeir")},
        embedders=tuple(
            EmbedderScore(model_id=e["id"], active_params=float(e["active_params"]), ndcg10=float(e["retriever_only_ndcg10"]))
            for e in data["embedders"]
        ),
        speed_protocol=speed.get("protocol", ""),
        speed={key: SpeedTable(key=key, pairs_per_s={m: float(r) for m, r in rates.items()}) for key, rates in tables.items()},
        ablation_unit=speed["ablation_h100"].get("unit", ""),
        ablation=_ablation(speed["ablation_h100"]),
        ettin=tuple(
            EttinRow(
                model_id=row["id"],
                backbone=row["backbone"],
                hidden=int(row["hidden"]),
                layers=int(row["layers"]),
                params=float(row["params"]),
                learning_rate=float(row["learning_rate"]),
                global_batch_size=int(row["global_batch_size"]),
            )
            for row in data["rerankers_ettin"]
        ),
        training_constants=dict(data["training_constants"]),
    )


@lru_cache(maxsize=1)
def published() -> Published:
    """The post's figures (cached); the source URL and date are in ``.source``."""
    with PUBLISHED_FILE.open(encoding="utf-8") as f:
        return parse(json.load(f))
