"""Figures are pure functions of data frames: checked without Gradio."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import pytest

from eval import leaderboard as lb
from eval.leaderboard import figures


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """Published data only (an empty results store), so the committed data points do not change the figures' shapes."""
    return lb.build_leaderboard(tmp_path_factory.mktemp("empty-results"))


def _traces(fig: go.Figure, name: str) -> list:
    return [t for t in fig.data if t.name == name]


def test_quality_vs_params_log_x_ettin_line_and_teacher_star(board):
    fig = figures.quality_vs_params(board.quality, "MTEB(eng, v2) Retrieval")
    assert fig.layout.xaxis.type == "log"
    (ettin,) = _traces(fig, "Ettin rerankers")
    assert "lines" in ettin.mode and len(ettin.x) == 6
    assert list(ettin.x) == sorted(ettin.x)
    (teacher,) = _traces(fig, "teacher (mxbai-rerank-large-v2)")
    assert list(teacher.marker.symbol) == ["star"] and teacher.y[0] == 0.6115
    assert all("source: published" in h for h in ettin.hovertext)


def test_regenerated_points_are_open_markers():
    q = lb.published_quality().head(0)
    q = pd.concat([q, pd.DataFrame([{"benchmark": "b", "model": "cross-encoder/ettin-reranker-17m-v1", "family": "Ettin",
                                     "size": "17m", "params": 1.7e7, "ndcg10": 0.5, "source": "regenerated", "note": "",
                                     "provenance": "regenerated 2026"}])])
    fig = figures.quality_vs_params(q, "b")
    assert list(fig.data[0].marker.symbol) == ["circle-open"]
    assert "regenerated 2026" in fig.data[0].hovertext[0]


def test_speed_bars_sorted_and_replica_labelled(board):
    fig = figures.speed_bars(board.speed, "H100 (bf16)")
    bar = fig.data[0]
    assert list(bar.x) == sorted(bar.x) and max(bar.x) == 7517
    speed = pd.concat([board.speed, board.speed.head(1).assign(hardware="X", label=lb.REPLICA_LABEL, source="regenerated")])
    fig = figures.speed_bars(speed, "X")
    assert lb.REPLICA_LABEL in fig.data[0].y[0]


def test_pareto_front_is_non_dominated():
    pts = pd.DataFrame({"model": list("abcde"), "pairs_per_s": [10, 100, 50, 1000, 20], "ndcg10": [0.9, 0.7, 0.6, 0.5, 0.95]})
    front = figures.pareto_front(pts)
    assert list(front["model"]) == ["e", "b", "d"]


def test_pareto_figure(board):
    fig = figures.pareto(board.quality, board.speed, "MTEB(eng, v2) Retrieval", "CPU i7-13700K")
    (front,) = _traces(fig, "Pareto front")
    assert len(front.x) >= 2 and fig.layout.xaxis.type == "log"


def test_embedder_bars_with_only_published_retriever_scores_explain_the_gap(board):
    fig = figures.embedder_bars(board.embedders, "MTEB(eng, v2) Retrieval")
    dashed = [t for t in fig.data if t.line and t.line.dash == "dash"]
    assert len(dashed) == 6
    assert any("only published as images" in a.text for a in fig.layout.annotations)


def test_embedder_bars_with_regenerated_rows():
    rows = [
        {"dataset": "scifact", "first_stage": "bm25", "reranker": None, "ndcg10": 0.66},
        {"dataset": "scifact", "first_stage": "bm25", "reranker": "r/17m", "ndcg10": 0.70},
        {"dataset": "scifact", "first_stage": "minilm", "reranker": "r/17m", "ndcg10": 0.72},
    ]
    df = pd.DataFrame(rows).assign(source="regenerated", provenance="p", split="test")
    fig = figures.embedder_bars(df, "scifact")
    bars = [t for t in fig.data if isinstance(t, go.Bar)]
    assert len(bars) == 1 and list(bars[0].y) == [0.70, 0.72]


def test_ablation_figure(board):
    fig = figures.ablation_figure(board.ablation)
    assert len(fig.data) == 4 and all(len(t.x) == 6 for t in fig.data)


@pytest.mark.parametrize(
    "call",
    [
        lambda: figures.quality_vs_params(pd.DataFrame({"x": [1]}), "b"),
        lambda: figures.speed_bars(None, "h"),
        lambda: figures.pareto(pd.DataFrame(), pd.DataFrame(), "b", "h"),
    ],
)
def test_a_failing_figure_renders_a_message(call):
    fig = call()
    assert isinstance(fig, go.Figure)
    assert "could not be drawn" in fig.layout.annotations[0].text


def test_empty_selection_renders_a_message(board):
    fig = figures.quality_vs_params(board.quality.head(0), "NanoBEIR")
    assert "No NanoBEIR results" in fig.layout.annotations[0].text
