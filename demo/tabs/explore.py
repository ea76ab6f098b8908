"""The Explore tab: pick two regenerated results (a reranker and its first stage, or two first stages), see which queries
changed — a histogram, wins/ties/losses, a table sorted by change — and, for one query, both rankings with the judged
relevant documents marked."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from demo.board import explore
from demo.board.figures import change_histogram
from demo.tabs import components as checked
from demo.tabs.guard import guard
from eval.leaderboard.figures import message_figure

__all__ = ["INTRO", "build"]

INTRO = """### Which queries did it help?
A mean NDCG@10 hides what happened to each query. Pick a comparison of two regenerated results on the same queries — a
reranker against its first stage alone, or one first stage against another — to see every query's NDCG@10 change. Click a
query in the table (or pick it below) to see both top-10 rankings, with the documents the dataset judges relevant marked.
"""
NO_RESULTS = (
    "No regenerated result with per-query scores yet. Write some with `python -m eval retrieval --first-stage bm25` "
    "(add `--reranker 17m` for a reranked one), then reload this page."
)
TABLE_COLUMNS = {"query_id": "query id", "query": "query", "ndcg10_before": "NDCG@10 before",
                 "ndcg10_after": "NDCG@10 after", "change": "change"}  # fmt: skip


class ExploreState:
    """The comparisons of one results store, read again when the page loads."""

    def __init__(self, results_dir: str | Path | None) -> None:
        self.results_dir = results_dir
        self.by_label: dict[str, explore.Comparison] = {}

    def reload(self) -> list[str]:
        """Read the store again; returns the comparisons' labels."""
        self.by_label = {c.label: c for c in explore.comparisons(self.results_dir)}
        return list(self.by_label)

    def get(self, label: str | None) -> explore.Comparison:
        """The comparison called ``label`` (the store is read again when it is not known yet).

        Raises:
            ExploreError: naming the parameter and the comparisons offered.
        """
        if not label or label not in self.by_label:
            self.reload()
        if label not in self.by_label:
            offered = ", ".join(repr(known) for known in list(self.by_label)[:12]) or "none yet"
            raise explore.ExploreError(f"label: {str(label)[:80]!r} is not one of the comparisons offered ({offered}); "
                                       "reload the page if the results store changed")  # fmt: skip
        return self.by_label[label]


def _query_table(changes):
    view = changes.assign(query=changes["query"].str.slice(0, 140)).rename(columns=TABLE_COLUMNS)
    return view.style.format("{:.4f}", subset=["NDCG@10 before", "NDCG@10 after"]).format("{:+.4f}", subset=["change"])


def _ranking_table(frame):
    """A ranking with its judged-relevant rows shaded green."""
    shade = "background-color: #d9f2d9; font-weight: 600"
    return frame.style.apply(lambda row: [shade if row["relevant"] else ""] * len(row), axis=1)


def build(results_dir: str | Path | None, blocks: gr.Blocks) -> None:
    """Lay out the Explore tab and wire comparison, query table, query picker and page load.

    Args:
        results_dir: The results store (default ``eval/results``).
        blocks: The app (its page load lists the comparisons).
    """
    state = ExploreState(results_dir)

    @guard
    def listed():
        labels = state.reload()
        if not labels:
            return gr.update(choices=[], value=None), NO_RESULTS
        return gr.update(choices=labels, value=labels[0]), ""

    @guard
    def chosen(label):
        if not label:
            return NO_RESULTS, message_figure("No comparison chosen."), None, gr.update(choices=[], value=None)
        comparison = state.get(label)
        dataset = explore.dataset_for(comparison)
        changes = explore.query_changes(comparison, dataset.queries if dataset else None)
        before, after = comparison.names
        figure = change_histogram(changes, f"NDCG@10 change per query: {after} vs {before}")
        queries = [(f"{q} ({c:+.3f})", q) for q, c in zip(changes["query_id"], changes["change"])]
        first = queries[0][1] if queries else None
        summary = explore.summary_markdown(comparison, changes)
        return summary, figure, _query_table(changes), gr.update(choices=queries, value=first)

    @guard
    def detail(label, query_id):
        if not label:
            return "", None, None, ""
        comparison = state.get(label)  # an unknown comparison is refused even with no query chosen
        if not query_id:
            return "", None, None, ""
        try:
            got = explore.query_detail(comparison, str(query_id), explore.dataset_for(comparison))
        except KeyError:
            message = f"query_id: query {str(query_id)[:40]!r} is not in this comparison: pick one from the list"
            raise explore.ExploreError(message) from None
        before, after = comparison.names
        return (got.header, gr.update(value=_ranking_table(got.before), label=f"Before: {before}"),
                gr.update(value=_ranking_table(got.after), label=f"After: {after}"), got.missed)

    def clicked(evt: gr.SelectData):
        row = evt.row_value or []
        return str(row[0]) if row else gr.update()

    with gr.Tab("Explore", id="explore"):
        gr.Markdown(INTRO)
        choice = checked.Dropdown([], label="Comparison (baseline → system)", elem_id="explore-choice", param="label",
                                  what="the comparison", choices_now="any", nullable=True)  # fmt: skip
        summary = gr.Markdown(elem_id="explore-summary")
        histogram = gr.Plot(label="Per-query NDCG@10 change", elem_id="explore-histogram")
        table = gr.Dataframe(label="Queries by NDCG@10 change, biggest gain first (click one; sort: ⋮ in a column header)",
                             interactive=False, wrap=True, max_height=420, elem_id="explore-queries",
                             column_widths=["9%", "55%", "12%", "12%", "12%"])
        query = checked.Dropdown([], label="Query", elem_id="explore-query", param="query_id", what="the query id",
                                 choices_now="any", nullable=True)  # fmt: skip
        header = gr.Markdown(elem_id="explore-header")
        with gr.Row(elem_id="explore-rankings"):
            before = gr.Dataframe(label="Before", interactive=False, wrap=True, column_widths=["12%", "63%", "25%"],
                                  elem_id="explore-before")
            after = gr.Dataframe(label="After", interactive=False, wrap=True, column_widths=["12%", "63%", "25%"],
                                 elem_id="explore-after")
        missed = gr.Markdown(elem_id="explore-missed")

    blocks.load(listed, None, [choice, summary], api_name=False)
    detail_outputs = [header, before, after, missed]
    # .then: a new comparison whose first query has the same id as before leaves the query unchanged (no change event)
    choice.change(chosen, choice, [summary, histogram, table, query], api_name="explore").then(
        detail, [choice, query], detail_outputs, api_name=False)
    table.select(clicked, None, query, api_name=False)
    query.change(detail, [choice, query], detail_outputs, api_name="explore_query")
