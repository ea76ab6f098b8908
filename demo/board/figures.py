"""The Explore view's figure, pure ``DataFrame -> Figure``: the histogram of per-query NDCG@10 changes, losses, ties and
wins in the search's movement colours (:mod:`demo.views.figures`)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from demo.views.figures import DOWN_COLOR, SAME_COLOR, UP_COLOR
from eval.leaderboard.figures import message_figure, safe

__all__ = ["change_histogram"]


@safe
def change_histogram(changes: pd.DataFrame, title: str = "", bin_size: float = 0.05) -> go.Figure:
    """Per-query NDCG@10 change (after − before) as a histogram: losses red, ties grey, wins green.

    Args:
        changes: One row per query with a ``change`` column.
        title: The figure's title.
        bin_size: Width of a bin.
    """
    if changes.empty:
        return message_figure("No query to show.", title)
    fig = go.Figure()
    change = changes["change"]
    for name, part, color in (
        ("losses", change[change < -1e-9], DOWN_COLOR),
        ("ties", change[change.abs() <= 1e-9], SAME_COLOR),
        ("wins", change[change > 1e-9], UP_COLOR),
    ):
        fig.add_trace(
            go.Histogram(
                x=part, name=f"{name} ({len(part)})", marker={"color": color},
                xbins={"start": -1.0 - bin_size / 2, "end": 1.0 + bin_size / 2, "size": bin_size},
                hovertemplate="change %{x:+.2f}: %{y} queries<extra></extra>",
            )
        )  # fmt: skip
    fig.add_vline(x=0, line={"color": "black", "dash": "dot"})
    fig.update_layout(
        title=title or "Per-query NDCG@10 change",
        barmode="overlay",
        xaxis={"title": "NDCG@10 after − before", "range": [-1.05, 1.05]},
        yaxis={"title": "queries"},
        template="plotly_white",
        height=360,
        legend={"orientation": "h", "y": -0.25},
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
    )
    return fig
