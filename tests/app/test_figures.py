"""The search tab's figure (moved here from tests/eval/test_figures.py with ``movement_figure``)."""

from __future__ import annotations

import pandas as pd

from demo.views import figures


def test_movement_figure_colours_up_and_down():
    df = pd.DataFrame({"title": ["a", "b", "c"], "first_stage_rank": [3, 1, 2], "final_rank": [1, 2, 3], "shown": True})
    fig = figures.movement_figure(df, top_n=3)
    colours = [t.line.color for t in fig.data]
    assert colours == [figures.UP_COLOR, figures.DOWN_COLOR, figures.DOWN_COLOR]
    assert fig.layout.yaxis.autorange == "reversed"


def test_movement_figure_messages_instead_of_raising():
    empty = pd.DataFrame(columns=["title", "first_stage_rank", "final_rank", "shown"])
    assert "No candidates" in figures.movement_figure(empty).layout.annotations[0].text
    broken = figures.movement_figure(pd.DataFrame({"x": [1]}))  # missing columns: a message figure, not an error
    assert broken.layout.annotations and not broken.data
