"""Leaderboard figures: pure ``DataFrame -> plotly Figure`` functions (no Gradio), testable on their own.

Each public figure function is wrapped by :func:`safe`: on any error it returns a figure that shows the message instead of
raising, so one broken figure never takes the page down. Every point's hover names its source (published/regenerated),
its interval (regenerated points with per-query scores carry a 95% bootstrap interval, drawn as an error bar; published
points say the post gives none) and its provenance. Only the Ettin sizes and the teacher carry text labels; the grey
peers are named on hover, so labels never pile up.
"""

from __future__ import annotations

import functools
import math
import textwrap
from collections.abc import Callable
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from eval.leaderboard.columns import format_params

__all__ = [
    "ETTIN_COLOR",
    "FAILED_FIGURE",
    "OTHER_COLOR",
    "REGEN_COLOR",
    "TEACHER_COLOR",
    "ablation_figure",
    "embedder_bars",
    "message_figure",
    "pareto",
    "pareto_front",
    "quality_vs_params",
    "safe",
    "speed_bars",
]

ETTIN_COLOR = "#d62728"
OTHER_COLOR = "#7f7f7f"
TEACHER_COLOR = "#1f77b4"
REGEN_COLOR = "#2ca02c"
FAILED_FIGURE = "This figure could not be drawn"
"""How the message of a figure :func:`safe` caught an error in begins (tests look for it in every figure the app sends)."""


def message_figure(text: str, title: str = "") -> go.Figure:
    """An empty figure that shows ``text`` in the middle (used for missing data and errors)."""
    fig = go.Figure()
    fig.add_annotation(text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font={"size": 14})
    fig.update_layout(title=title, xaxis={"visible": False}, yaxis={"visible": False}, template="plotly_white", height=360)
    return fig


def safe(fn: Callable[..., go.Figure]) -> Callable[..., go.Figure]:
    """Return a message figure instead of raising."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> go.Figure:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a figure that fails shows why, it never crashes the page
            return message_figure(f"{FAILED_FIGURE}: {type(exc).__name__}: {str(exc)[:160]}")

    return wrapper


def _wrap(text: Any, width: int = 90) -> str:
    return "<br>".join(textwrap.wrap(str(text), width)) if text else ""


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not math.isnan(value)


def _hover(df: pd.DataFrame, value: str, fmt: str) -> list[str]:
    out = []
    for _, r in df.iterrows():
        label = r.get("label") if isinstance(r.get("label"), str) and r.get("label") != r.get("source") else ""
        lines = [f"<b>{r['model']}</b>", f"{value}: {r[value]:{fmt}}"]
        if value != "ndcg10" and _number(r.get("ndcg10")):
            lines.append(f"ndcg10: {r['ndcg10']:.4f}")
        if isinstance(r.get("interval"), str) and r["interval"]:
            lines.append(f"interval: {r['interval']}")
        if isinstance(r.get("rank"), str) and r["rank"]:
            lines.append(f"rank: {r['rank']}")
        if _number(r.get("gain")):
            lines.append(f"gain over first stage: {r['gain']:+.4f} [{r['gain_low']:+.4f}, {r['gain_high']:+.4f}]")
        if value != "pairs_per_s" and _number(r.get("pairs_per_s")):
            lines.append(f"pairs/s: {r['pairs_per_s']:,.1f}")
        if _number(r.get("params")):
            lines.append(f"parameters: {format_params(r['params'])}")
        if isinstance(r.get("config"), str) and r["config"]:
            lines.append(f"config: {r['config']}")
        lines.append(f"source: {r['source']}" + (f" ({label})" if label else ""))
        if isinstance(r.get("note"), str) and r["note"]:
            lines.append(f"note: {r['note']}")
        lines.append(_wrap(r.get("provenance", "")))
        out.append("<br>".join(lines))
    return out


def _error_y(g: pd.DataFrame) -> dict[str, Any] | None:
    """Asymmetric error bars from ``ndcg10_low``/``ndcg10_high`` (none where a row has no interval)."""
    if "ndcg10_low" not in g or g["ndcg10_low"].isna().all():
        return None
    low = pd.to_numeric(g["ndcg10_low"], errors="coerce")
    high = pd.to_numeric(g["ndcg10_high"], errors="coerce")
    return {
        "type": "data",
        "symmetric": False,
        "array": (high - g["ndcg10"]).tolist(),
        "arrayminus": (g["ndcg10"] - low).tolist(),
        "thickness": 1.5,
        "width": 4,
    }


def _short(model: str) -> str:
    return model.split("/")[-1]


def _label(model: str) -> str:
    """``17m`` for an Ettin reranker, the short name otherwise."""
    name = _short(model)
    if name.startswith("ettin-reranker-"):
        return name.removeprefix("ettin-reranker-").removesuffix("-v1")
    return name


@safe
def quality_vs_params(df: pd.DataFrame, benchmark: str) -> go.Figure:
    """NDCG@10 vs parameters (log x) for one benchmark: Ettin sizes joined by a line, the teacher marked, peers in grey.

    Args:
        df: The leaderboard's ``quality`` frame (columns model, family, params, ndcg10, source, provenance, benchmark).
        benchmark: Which benchmark to plot.
    """
    d = df[(df["benchmark"] == benchmark) & df["params"].notna() & df["ndcg10"].notna()]
    if d.empty:
        return message_figure(f"No {benchmark} results match the filters.", benchmark)
    fig = go.Figure()
    groups = [
        ("Ettin rerankers", d[d["family"] == "Ettin"].sort_values("params"), ETTIN_COLOR, "circle", 12, "lines+markers+text"),
        ("teacher (mxbai-rerank-large-v2)", d[d["family"] == "teacher"], TEACHER_COLOR, "star", 18, "markers+text"),
        ("other rerankers", d[~d["family"].isin(["Ettin", "teacher"])], OTHER_COLOR, "circle", 9, "markers"),
    ]
    for name, g, color, symbol, size, mode in groups:
        if g.empty:
            continue
        regen = g["source"] == "regenerated"
        fig.add_trace(
            go.Scatter(
                x=g["params"],
                y=g["ndcg10"],
                mode=mode,
                name=name,
                text=[_label(m) + (" (regen.)" if r else "") for m, r in zip(g["model"], regen)] if "text" in mode else None,
                textposition="bottom right" if name.startswith("teacher") else "top left",
                marker={
                    "color": color,
                    "symbol": [f"{symbol}-open" if r else symbol for r in regen],
                    "size": size,
                    "line": {"width": 2, "color": color},
                },
                error_y=_error_y(g),
                hovertext=_hover(g, "ndcg10", ".4f"),
                hoverinfo="text",
            )
        )
    fig.update_layout(
        title=f"{benchmark}: NDCG@10 vs parameters (open markers = regenerated, bars = 95% interval; grey: hover)",
        xaxis={"title": "parameters (log scale)", "type": "log"},
        yaxis={"title": "NDCG@10"},
        template="plotly_white",
        height=480,
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


@safe
def embedder_bars(df: pd.DataFrame, dataset: str) -> go.Figure:
    """Per-embedder NDCG@10 of each reranker (bars) with each embedder's retriever-only score as a dashed line.

    Args:
        df: The leaderboard's ``embedders`` frame (dataset, first_stage, reranker, ndcg10, source, provenance).
        dataset: Which dataset (or benchmark) to show.
    """
    d = df[df["dataset"] == dataset]
    if d.empty:
        return message_figure(f"No per-embedder results for {dataset}.", dataset)
    stages = list(dict.fromkeys(d["first_stage"]))
    fig = go.Figure()
    reranked = d[d["reranker"].notna()]
    for model, g in reranked.groupby("reranker", sort=False):
        g = g.set_index("first_stage").reindex(stages).dropna(subset=["ndcg10"]).reset_index()
        g = g.assign(model=model)
        fig.add_trace(
            go.Bar(
                x=[_short(s) for s in g["first_stage"]],
                y=g["ndcg10"],
                name=_short(model),
                error_y=_error_y(g),
                hovertext=_hover(g, "ndcg10", ".4f"),
                hoverinfo="text",
            )
        )
    base = d[d["reranker"].isna()]
    for i, (_, r) in enumerate(base.iterrows()):
        row = r.to_frame().T.assign(model=f"{r['first_stage']} (retriever only)")
        bars = _error_y(row.astype({"ndcg10": float}))
        fig.add_trace(
            go.Scatter(
                x=[_short(r["first_stage"])] * 2,
                y=[r["ndcg10"]] * 2,
                mode="lines+markers",
                line={"dash": "dash", "color": "black", "width": 3},
                marker={"symbol": "line-ew-open", "size": 40, "color": "black"},
                error_y={**bars, "array": bars["array"] * 2, "arrayminus": bars["arrayminus"] * 2} if bars else None,
                name="retriever only",
                legendgroup="retriever only",
                showlegend=i == 0,
                hovertext=_hover(row, "ndcg10", ".4f") * 2,
                hoverinfo="text",
            )
        )
    title = f"{dataset}: NDCG@10 per first stage (dashed = retriever only; bars = 95% interval where regenerated)"
    if reranked.empty and (d["source"] != "published").any():
        fig.add_annotation(
            text=f"No reranked result regenerated for {dataset} yet: add --reranker to python -m eval retrieval.",
            x=0.5, y=1.08, xref="paper", yref="paper", showarrow=False,
        )  # fmt: skip
    elif reranked.empty:
        fig.add_annotation(
            text="Reranked per-embedder scores were only published as images; regenerate them with the retrieval eval.",
            x=0.5, y=1.08, xref="paper", yref="paper", showarrow=False,
        )  # fmt: skip
    fig.update_layout(
        title=title,
        barmode="group",
        yaxis={"title": "NDCG@10"},
        template="plotly_white",
        height=480,
        legend={"orientation": "h", "y": -0.25},
    )
    return fig


@safe
def speed_bars(df: pd.DataFrame, hardware: str) -> go.Figure:
    """Pairs/s on one hardware, fastest first; Ettin highlighted; replica measurements labelled.

    Args:
        df: The leaderboard's ``speed`` frame.
        hardware: Which hardware.
    """
    d = df[df["hardware"] == hardware]
    if d.empty:
        return message_figure(f"No speed results for {hardware}.", hardware)
    d = d.sort_values("pairs_per_s", ascending=False).drop_duplicates("model").sort_values("pairs_per_s")
    colors = [ETTIN_COLOR if f == "Ettin" else (TEACHER_COLOR if f == "teacher" else OTHER_COLOR) for f in d["family"]]
    labels = [
        _short(m) + (f" [{lab}]" if lab not in ("published", "regenerated") else "") for m, lab in zip(d["model"], d["label"])
    ]
    fig = go.Figure(
        go.Bar(
            x=d["pairs_per_s"],
            y=labels,
            orientation="h",
            marker={"color": colors},
            hovertext=_hover(d, "pairs_per_s", ",.1f"),
            hoverinfo="text",
        )
    )
    fig.update_layout(
        title=f"Throughput on {hardware} (pairs/s, higher is better)",
        xaxis={"title": "pairs / second", "type": "log"},
        template="plotly_white",
        height=max(360, 24 * len(d) + 120),
        margin={"l": 260},
    )
    return fig


def pareto_front(points: pd.DataFrame, x: str = "pairs_per_s", y: str = "ndcg10") -> pd.DataFrame:
    """Rows not dominated by another row (higher ``x`` and higher ``y`` are better), sorted by ``x``."""
    d = points.dropna(subset=[x, y]).sort_values([x, y], ascending=[False, False])
    keep, best = [], -math.inf
    for idx, r in d.iterrows():
        if r[y] > best:
            keep.append(idx)
            best = r[y]
    return d.loc[keep].sort_values(x)


@safe
def pareto(quality: pd.DataFrame, speed: pd.DataFrame, benchmark: str, hardware: str) -> go.Figure:
    """Quality (NDCG@10 on ``benchmark``) vs speed (pairs/s on ``hardware``) with the Pareto front.

    Args:
        quality: The ``quality`` frame.
        speed: The ``speed`` frame.
        benchmark: Quality benchmark.
        hardware: Speed hardware.
    """
    cols = ["model", "family", "ndcg10", "source", "provenance"] + [c for c in ("ndcg10_low", "ndcg10_high", "interval") if c in quality]
    q = quality[quality["benchmark"] == benchmark][cols]
    s = speed[speed["hardware"] == hardware].sort_values("pairs_per_s", ascending=False).drop_duplicates("model")
    s = s[["model", "pairs_per_s", "params", "label", "provenance"]]
    d = q.merge(s, on="model", suffixes=("", "_speed"))
    if d.empty:
        return message_figure(f"No model has both {benchmark} quality and {hardware} speed.", "Quality vs speed")
    d = d.assign(provenance=d["provenance"] + " || speed: " + d["provenance_speed"])
    front = pareto_front(d)
    fig = go.Figure()
    for name, g, color, labelled in (
        ("Ettin", d[d["family"] == "Ettin"], ETTIN_COLOR, True),
        ("teacher", d[d["family"] == "teacher"], TEACHER_COLOR, True),
        ("others (hover for names)", d[~d["family"].isin(["Ettin", "teacher"])], OTHER_COLOR, False),
    ):
        if g.empty:
            continue
        fig.add_trace(
            go.Scatter(
                x=g["pairs_per_s"],
                y=g["ndcg10"],
                mode="markers+text" if labelled else "markers",
                text=[_label(m) for m in g["model"]] if labelled else None,
                textposition="top center",
                textfont={"size": 10},
                name=name,
                marker={"color": color, "size": 11},
                error_y=_error_y(g),
                hovertext=_hover(g, "ndcg10", ".4f"),
                hoverinfo="text",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=front["pairs_per_s"],
            y=front["ndcg10"],
            mode="lines",
            line={"dash": "dot", "color": "black"},
            name="Pareto front",
            hoverinfo="skip",
        )
    )
    fig.update_layout(
        title=f"Quality ({benchmark}) vs speed ({hardware})",
        xaxis={"title": "pairs / second (log scale)", "type": "log"},
        yaxis={"title": "NDCG@10"},
        template="plotly_white",
        height=500,
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


@safe
def ablation_figure(df: pd.DataFrame) -> go.Figure:
    """Pairs/s per Ettin size and attention/precision configuration (grouped bars), one group per size."""
    if df.empty:
        return message_figure("No ablation rows.")
    fig = go.Figure()
    sizes = list(dict.fromkeys(df["size"]))
    for (config, hw, source), g in df.groupby(["config", "hardware", "source"], sort=False):
        g = g.set_index("size").reindex(sizes).dropna(subset=["pairs_per_s"]).reset_index().assign(model=lambda x: x["size"])
        fig.add_trace(
            go.Bar(
                x=g["size"],
                y=g["pairs_per_s"],
                name=f"{config} · {hw}" + (" (regen.)" if source == "regenerated" else ""),
                hovertext=_hover(g, "pairs_per_s", ",.0f"),
                hoverinfo="text",
            )
        )
    fig.update_layout(
        title="Attention / precision ablation (pairs/s)",
        barmode="group",
        yaxis={"title": "pairs / second", "type": "log"},
        template="plotly_white",
        height=440,
    )
    return fig
