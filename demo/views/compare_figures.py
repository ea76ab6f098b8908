"""The Compare tab's table and chart, pure ``CompareOutcome -> DataFrame / Figure``: per size, its rerank time, live
throughput and agreement with the reference, filled in size by size while a comparison streams."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from demo.search.budget import format_seconds
from demo.sources.choices import RANDOM_BADGE
from demo.views.agreement import agreement
from eval.leaderboard import format_params
from eval.leaderboard.figures import message_figure, safe

if TYPE_CHECKING:
    import pandas as pd

    from demo.search.outcomes import CompareOutcome

__all__ = ["OVERLAP_DEPTH", "compare_figure", "compare_table", "size_status"]

OVERLAP_DEPTH = 5  # agreement's overlap is of the top 5
TIME_COLOR = "#1f77b4"
OVERLAP_COLOR = "#ff7f0e"
TAU_COLOR = "#2ca02c"
SKIPPED_COLOR = "#7f7f7f"


def size_status(outcome: CompareOutcome, key: str) -> str:
    """Where one selected size stands: ``done`` (``reference`` added for the reference), ``running…``, ``waiting``,
    ``not run (stopped)`` or ``skipped: <reason>``."""
    skipped = {s.partition(": ")[0]: s.partition(": ")[2] for s in outcome.skipped}
    if key in skipped:
        return f"skipped: {skipped[key]}"
    if key in outcome.pending:
        if outcome.stopped:
            return "not run (stopped)"
        return "running…" if key == outcome.pending[0] else "waiting"
    return "done (reference)" if key == outcome.reference else "done"


def _agreements(outcome: CompareOutcome) -> dict[str, tuple[float, float]]:
    """Reranker key -> (overlap@5, Kendall tau) against the reference, once the reference has run."""
    ref = outcome.reference_row()
    if ref is None:
        return {}
    return {r.choice.key: agreement(r.top, r.scores, ref.top, ref.scores, OVERLAP_DEPTH) for r in outcome.rows}


def _dtype_text(row) -> str:
    """The dtype a size ran in, with ", compiled" when its compiled encoder ran the whole rerank; the backend and its
    precision when an export ran it (e.g. ``OpenVINO fp32``)."""
    if row is None or row.settings is None:
        return ""
    runtime = getattr(row, "runtime", None)
    if runtime and not runtime.startswith("torch"):
        return runtime
    return row.settings.dtype + (", compiled" if row.compiled == "ready" else "")


def compare_table(outcome: CompareOutcome) -> pd.DataFrame:
    """One row per selected size, smallest first: parameters (``17.6M``), status, dtype, rerank time, live pairs/s,
    overlap@5 and Kendall tau against the reference (empty until it has run) and the full titles of its top 5."""
    import pandas as pd

    rows = {r.choice.key: r for r in outcome.rows}
    agree = _agreements(outcome)
    records = []
    for choice in outcome.choices or [r.choice for r in outcome.rows]:
        row = rows.get(choice.key)
        overlap, tau = agree.get(choice.key, (math.nan, math.nan))
        records.append(
            {
                "reranker": choice.key + (f" ({RANDOM_BADGE})" if choice.random_init else ""),
                "parameters": format_params(row.parameters if row is not None else choice.parameters),
                "status": size_status(outcome, choice.key),
                "dtype": _dtype_text(row),
                "rerank_s": round(row.seconds, 3) if row else math.nan,
                "pairs_per_s": round(row.pairs_per_s, 1) if row else math.nan,
                f"overlap@{OVERLAP_DEPTH}": round(overlap, 3),
                "kendall_tau": round(tau, 3),
                f"top-{OVERLAP_DEPTH}": _numbered(row.titles[:OVERLAP_DEPTH]) if row else "",
            }
        )
    return pd.DataFrame.from_records(records)


def _numbered(titles: list[str]) -> str:
    """``1. title`` lines (Markdown line breaks: the table shows this column as Markdown), ``*``, ``_`` and ``<``
    escaped so a title is shown as written."""
    escaped = [t.replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_").replace("<", "&lt;") for t in titles]
    return "<br>".join(f"{i}. {t}" for i, t in enumerate(escaped, 1))


def _agreement_pending(outcome: CompareOutcome, measured: bool) -> str:
    if measured:
        return ""
    return " (stopped before it ran)" if outcome.stopped else " (when it has run)"


def _axis_label(outcome: CompareOutcome, choice) -> str:
    row = next((r for r in outcome.rows if r.choice.key == choice.key), None)
    params = format_params(row.parameters if row is not None else choice.parameters)
    return f"{choice.key}<br>{params}" if params else choice.key


def _skipped_estimates(outcome: CompareOutcome) -> dict[str, object]:
    """Skipped size -> its skip line, for the sizes skipped on an estimate (lines that carry ``estimate_s``, see
    :class:`demo.search.budget.SkipNote`)."""
    return {s.partition(": ")[0]: s for s in outcome.skipped if getattr(s, "estimate_s", None) is not None}


def _skipped_trace(outcome: CompareOutcome, labels: dict[str, str]) -> go.Scatter | None:
    """A marker on the time axis's floor for each size skipped on its estimate, labelled with the estimate and the K
    that fits (the whole reason on hover), so its slot says why it is empty."""
    skipped = _skipped_estimates(outcome)
    if not skipped:
        return None
    keys = [k for k in labels if k in skipped]

    def text(note) -> str:
        fits = f"<br>K ≤ {note.fits} fits" if note.fits else "<br>no K fits"
        return f"skipped<br>est. {format_seconds(note.estimate_s)} s{fits}"

    return go.Scatter(
        x=[labels[k] for k in keys], y=[0] * len(keys), mode="markers+text", name="skipped (estimated time)",
        marker={"symbol": "x", "size": 12, "color": SKIPPED_COLOR}, text=[text(skipped[k]) for k in keys],
        textposition="top center", textfont={"color": SKIPPED_COLOR}, hoverinfo="text",
        hovertext=[str(skipped[k]) for k in keys],
    )  # fmt: skip


def _bar_text(row) -> str:
    """A bar's label: its time, with ⚠️ for a size run anyway above the limit (the hover says so)."""
    return f"{row.seconds:.2f} s" + (" ⚠️" if getattr(row, "warning", "") else "")


def _bar_hover(key: str, row) -> str:
    text = f"{key}: {row.seconds:.3f} s, {row.pairs_per_s:,.1f} pairs/s"
    return text + ("<br>run anyway: estimated above the time limit" if getattr(row, "warning", "") else "")


@safe
def compare_figure(outcome: CompareOutcome) -> go.Figure:
    """Rerank time per size (bars) next to agreement with the reference (overlap@5 and Kendall tau), every selected size
    on the x axis from the start so the chart fills in as sizes finish; a size skipped on its estimate is marked as
    skipped with that estimate; a message figure before any size has finished or been skipped."""
    choices = outcome.choices or [r.choice for r in outcome.rows]
    if not outcome.rows and not _skipped_estimates(outcome):
        waiting = ", ".join(outcome.pending) or "none"
        return message_figure(f"Waiting for the first size to finish (to run: {waiting}).", "Rerank time and agreement")
    labels = {c.key: _axis_label(outcome, c) for c in choices}
    order = [labels[c.key] for c in choices]
    agree = _agreements(outcome)
    fig = make_subplots(
        rows=1, cols=2, horizontal_spacing=0.12,
        subplot_titles=(f"Rerank time for {len(outcome.candidates)} documents (s)",
                        f"Agreement with {outcome.reference or '—'}" + _agreement_pending(outcome, bool(agree))),
    )  # fmt: skip
    # every selected size is on both axes from the start (a size not run yet has no bar and no point)
    rows = {r.choice.key: r for r in outcome.rows}
    keys = [c.key for c in choices]
    fig.add_trace(
        go.Bar(
            x=order, y=[rows[k].seconds if k in rows else None for k in keys], marker_color=TIME_COLOR,
            name="rerank time", text=[_bar_text(rows[k]) if k in rows else "" for k in keys],
            textposition="outside", hoverinfo="text",
            hovertext=[_bar_hover(k, rows[k]) if k in rows else f"{k}: not run" for k in keys],
        ),
        row=1, col=1,
    )  # fmt: skip
    skipped = _skipped_trace(outcome, labels)
    if skipped is not None:
        fig.add_trace(skipped, row=1, col=1)
    for name, index, color in ((f"overlap@{OVERLAP_DEPTH}", 0, OVERLAP_COLOR), ("Kendall tau", 1, TAU_COLOR)):
        fig.add_trace(
            go.Scatter(
                x=order, y=[agree[k][index] if k in agree else None for k in keys], mode="lines+markers", name=name,
                marker={"size": 10, "color": color}, line={"color": color}, connectgaps=True,
            ),
            row=1, col=2,
        )  # fmt: skip
    for col in (1, 2):
        fig.update_xaxes(type="category", categoryorder="array", categoryarray=order, row=1, col=col)
    top = max((r.seconds for r in outcome.rows), default=0.0)
    fig.update_yaxes(title_text="seconds", range=[0, top * 1.25 if top > 0 else 1], row=1, col=1)
    fig.update_yaxes(title_text="agreement", range=[-1.05, 1.1], row=1, col=2)
    fig.update_layout(template="plotly_white", height=380, margin={"l": 60, "r": 20, "t": 60, "b": 60},
                      legend={"orientation": "h", "y": -0.25})  # fmt: skip
    return fig
