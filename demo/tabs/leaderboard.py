"""The Leaderboard tab: published and regenerated numbers with filters, figures, sortable tables and CSV/JSON export."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from demo.board import BoardStore
from demo.guard import guard
from eval import leaderboard as lb
from eval.leaderboard import figures

__all__ = ["build"]

SOURCES = ["published", "regenerated"]


@dataclass
class Filters:
    """The filter components, in the order the handlers take them."""

    families: gr.CheckboxGroup
    min_m: gr.Number
    max_m: gr.Number
    sources: gr.CheckboxGroup
    benchmark: gr.Dropdown
    hardware: gr.Dropdown
    dataset: gr.Dropdown

    def all(self) -> list:
        """Every filter (the leaderboard's inputs)."""
        return [self.families, self.min_m, self.max_m, self.sources, self.benchmark, self.hardware, self.dataset]

    def rows(self) -> list:
        """The filters that select rows (the export's inputs)."""
        return [self.families, self.min_m, self.max_m, self.sources]


def _filters(store: BoardStore) -> Filters:
    board = store.board
    benchmarks = list(dict.fromkeys(board.quality["benchmark"]))
    hardwares = list(dict.fromkeys(board.speed["hardware"]))
    datasets = list(dict.fromkeys(board.embedders["dataset"]))
    families = [*lb.MAIN_FAMILIES, lb.OTHERS]
    with gr.Row():
        row = [
            gr.CheckboxGroup(families, value=families, label="Family (none ticked = all)"),
            gr.Number(0, label="min parameters (M)", minimum=0),
            gr.Number(5000, label="max parameters (M)", minimum=0),
            gr.CheckboxGroup(SOURCES, value=SOURCES, label="Source (none ticked = all)"),
        ]
    with gr.Row():
        benchmark = gr.Dropdown(benchmarks, value=benchmarks[0], label="Quality benchmark")
        hardware = gr.Dropdown(hardwares, value=hardwares[0], label="Hardware")
        dataset = gr.Dropdown(datasets, value=datasets[0], label="Per-embedder dataset")
    return Filters(*row, benchmark, hardware, dataset)


def build(store: BoardStore, blocks: gr.Blocks):
    """Lay out the Leaderboard tab and wire filters, refresh, export and reload.

    Args:
        store: The leaderboard data.
        blocks: The app (its page load draws the figures).

    Returns:
        The reload event, so that other tabs can refresh after it (``.then``).
    """

    @guard
    def update(families, min_m, max_m, sources, benchmark, hardware, dataset):
        board, q, s = store.filtered(families, min_m, max_m, sources)
        notes = "\n".join(f"- {n}" for n in board.notes) or "- all result files read"
        return (
            figures.quality_vs_params(q, benchmark),
            figures.pareto(q, s, benchmark, hardware),
            figures.speed_bars(s, hardware),
            figures.embedder_bars(board.embedders, dataset),
            q[q["benchmark"] == benchmark].sort_values("ndcg10", ascending=False),
            s[s["hardware"] == hardware].sort_values("pairs_per_s", ascending=False),
            f"**{len(q)} quality rows, {len(s)} speed rows after filters.** Notes:\n{notes}",
        )

    @guard
    def reload(*filters):
        store.reload()
        return update(*filters)

    with gr.Tab("Leaderboard", id="leaderboard"):
        filters = _filters(store)
        notes = gr.Markdown()
        outputs = [
            gr.Plot(label="Quality vs parameters", elem_id="quality-plot"),
            gr.Plot(label="Quality vs speed", elem_id="pareto-plot"),
            gr.Plot(label="Speed", elem_id="speed-plot"),
            gr.Plot(label="Per embedder", elem_id="embedder-plot"),
            gr.Dataframe(label="Quality on the chosen benchmark (click a header to sort)", interactive=False, wrap=True),
            gr.Dataframe(label="Speed on the chosen hardware", interactive=False, wrap=True),
            notes,
        ]
        gr.Markdown("### bf16 / FlashAttention-2 ablation (pairs/s and peak GB per configuration)")
        gr.Dataframe(store.board.ablation, interactive=False, wrap=True)
        gr.Plot(figures.ablation_figure(store.board.ablation))
        with gr.Row():
            export_btn = gr.Button("Download filtered tables (CSV + JSON)")
            reload_btn = gr.Button("Reload results store")
        files = gr.File(label="Downloads", file_count="multiple", interactive=False)
        refresh = gr.Button(visible=False)  # the /leaderboard endpoint

    for comp in filters.all():
        comp.change(update, filters.all(), outputs, api_name=False)
    refresh.click(update, filters.all(), outputs, api_name="leaderboard")
    blocks.load(update, filters.all(), outputs, api_name=False)
    export_btn.click(guard(store.export), filters.rows(), files, api_name="export")
    return reload_btn.click(reload, filters.all(), outputs, api_name="reload")
