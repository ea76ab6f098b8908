"""The search's figure, pure ``DataFrame -> Figure``: where the reranker took the final top from (a slope chart), in the
colours (up, down, same) that the Explore view's histogram (:mod:`demo.board.figures`) uses too."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from eval.leaderboard.figures import message_figure, safe

__all__ = ["DOWN_COLOR", "SAME_COLOR", "UP_COLOR", "movement_figure"]

UP_COLOR = "#2ca02c"
DOWN_COLOR = "#d62728"
SAME_COLOR = "#7f7f7f"


def _hover(row: pd.Series, moved: int) -> str:
    arrow = f" (↑ {moved})" if moved > 0 else (f" (↓ {-moved})" if moved < 0 else " (=)")
    return f"{str(row['title'])[:80]}<br>first-stage rank {row['first_stage_rank']} → {row['final_rank']}" + arrow


@safe
def movement_figure(df: pd.DataFrame, top_n: int = 10) -> go.Figure:
    """Where the reranker took documents from: a slope chart from first-stage rank to final rank.

    Args:
        df: One row per candidate with ``first_stage_rank``, ``final_rank``, ``title`` and optionally ``reranked``.
        top_n: Documents whose final rank is at most this are drawn.

    Returns:
        One line per document, green when it moved up, red down, grey unchanged; a message figure when empty or when
        no reranker ran (``reranked`` all false), never flat lines.
    """
    if df.empty:
        return message_figure("No candidates to show.", "Rank movement")
    if "reranked" in df and not df["reranked"].any():
        return message_figure("No reranker ran, so nothing moved: pick a reranker to see what it changes.", "Rank movement")
    d = df[df["final_rank"] <= top_n].sort_values("final_rank")
    fig = go.Figure()
    for _, r in d.iterrows():
        moved = int(r["first_stage_rank"]) - int(r["final_rank"])
        color = UP_COLOR if moved > 0 else (DOWN_COLOR if moved < 0 else SAME_COLOR)
        fig.add_trace(
            go.Scatter(
                x=["first stage", "reranked"],
                y=[r["first_stage_rank"], r["final_rank"]],
                mode="lines+markers",
                line={"color": color, "width": 2},
                marker={"size": 8},
                showlegend=False,
                hovertext=_hover(r, moved),
                hoverinfo="text",
            )
        )
    fig.update_layout(
        title=f"Where the final top {min(top_n, len(d))} came from",
        yaxis={"title": "rank", "autorange": "reversed", "type": "log" if d["first_stage_rank"].max() > 30 else "linear"},
        template="plotly_white",
        height=380,
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
    )
    return fig
