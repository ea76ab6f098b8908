"""The Leaderboard tab: published and regenerated numbers (regenerated ones with intervals, rank ranges and gains) with
filters that apply to every figure and table, sortable tables and CSV/JSON export."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr

from demo.board.store import BoardStore
from demo.board.tables import ABLATION_TABLE, EMBEDDER_TABLE, QUALITY_TABLE, SPEED_TABLE, board_table, table_legend
from demo.tabs import components as checked
from demo.tabs.guard import guard
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


def _offered(store: BoardStore, frame: str, column: str) -> Callable[[], list]:
    """The values of ``column`` in the current board's ``frame`` (asked at each request: a reload may add some)."""
    return lambda: list(dict.fromkeys(getattr(store.board, frame)[column]))


def _filters(store: BoardStore) -> Filters:
    """The filter row; the three dropdowns get their choices at page load (:func:`_offered_now`): the board is built
    in the background, so that the app serves before it."""
    benchmarks, hardwares = _offered(store, "quality", "benchmark"), _offered(store, "speed", "hardware")
    datasets = _offered(store, "embedders", "dataset")
    families = [*lb.MAIN_FAMILIES, lb.OTHERS]
    with gr.Row():
        row = [
            checked.CheckboxGroup(families, value=families, label="Family (none ticked = all)", param="families",
                                  what="the families"),
            checked.Number(0, label="min parameters (M)", minimum=0, param="min_m",
                           what="the smallest parameter count (millions)"),
            checked.Number(5000, label="max parameters (M)", minimum=0, param="max_m",
                           what="the largest parameter count (millions)"),
            checked.CheckboxGroup(SOURCES, value=SOURCES, label="Source (none ticked = all)", param="sources",
                                  what="the sources"),
        ]  # fmt: skip
    with gr.Row():
        benchmark = checked.Dropdown([], value=None, label="Quality benchmark", param="benchmark", nullable=True,
                                     what="the quality benchmark", choices_now=benchmarks, enum_in_api=False)
        hardware = checked.Dropdown([], value=None, label="Hardware", param="hardware", nullable=True,
                                    what="the hardware", choices_now=hardwares, enum_in_api=False)
        dataset = checked.Dropdown([], value=None, label="Per-embedder dataset", param="dataset", nullable=True,
                                   what="the per-embedder dataset", choices_now=datasets, enum_in_api=False)
    return Filters(*row, benchmark, hardware, dataset)


def _defaults(board: lb.Leaderboard) -> tuple[str | None, str | None, str | None]:
    """The benchmark, hardware and dataset shown first: the first offered, a regenerated dataset where there is one."""

    def first(values) -> str | None:
        return next(iter(dict.fromkeys(values)), None)

    regenerated = board.embedders.loc[board.embedders["source"] == "regenerated", "dataset"]
    return (first(board.quality["benchmark"]), first(board.speed["hardware"]),
            first(regenerated) or first(board.embedders["dataset"]))  # fmt: skip


def _offered_now(store: BoardStore) -> tuple:
    """The three dropdowns' choices and first values, from the board as it is now (at page load, after a reload)."""
    board = store.board
    columns = ((board.quality, "benchmark"), (board.speed, "hardware"), (board.embedders, "dataset"))
    return tuple(gr.update(choices=list(dict.fromkeys(frame[column])), value=value)
                 for (frame, column), value in zip(columns, _defaults(board)))  # fmt: skip


def _statistics_note(board: lb.Leaderboard) -> str:
    stats = board.statistics
    if not stats:
        return ""
    return (
        f"Regenerated rows: NDCG@10 with a {round(100 * stats['confidence_level'])}% bootstrap interval "
        f"({stats['n_resamples']:,} resamples of the queries, seed {stats['seed']}, {stats['library']}); a reranker's gain "
        "over its first stage with the paired bootstrap (the same resampled queries for both). Rank ranges "
        f"(\"2–4\"): systems a {stats['test']} does not separate after {stats['correction']}'s correction over the pairs "
        f"shown (alpha {stats['alpha']}) share ranks. Published rows have no interval: the post gives none, so they are "
        "ranked by their mean alone."
    )


def _select(store: BoardStore, families, min_m, max_m, sources, benchmark, hardware, dataset) -> dict:
    """Every frame after the filters (ranked again over the rows left), and the figures drawn from them."""
    board = store.board
    first_benchmark, first_hardware, first_dataset = _defaults(board)
    benchmark, hardware, dataset = benchmark or first_benchmark, hardware or first_hardware, dataset or first_dataset
    kw = store.filter_kwargs(families, min_m, max_m, sources)
    q = lb.ranked(lb.filter_frame(board.quality, **kw), board.comparisons)
    s = lb.filter_frame(board.speed, **kw)
    e = lb.ranked(lb.filter_frame(board.embedders, **kw), board.comparisons)
    a = lb.filter_frame(board.ablation, **kw)
    shown = {
        "quality": q[q["benchmark"] == benchmark].sort_values("ndcg10", ascending=False),
        "speed": s[s["hardware"] == hardware].sort_values("pairs_per_s", ascending=False),
        "embedders": e[e["dataset"] == dataset],
        "ablation": a,
    }
    notes = "".join(f"\n- {n}" for n in board.notes)  # only when there is something to note
    counts = (
        f"**After filters: {len(shown['quality'])} quality rows on {benchmark} ({len(q)} over all benchmarks), "
        f"{len(shown['embedders'])} per-embedder rows on {dataset}, {len(shown['speed'])} speed rows on {hardware}, "
        f"{len(a)} ablation rows.**"
    )
    figs = [
        figures.quality_vs_params(q, benchmark),
        figures.pareto(q, s, benchmark, hardware),
        figures.speed_bars(s, hardware),
        figures.embedder_bars(e, dataset),
    ]
    text = f"{counts} {_statistics_note(board)}" + (f"\n\nNotes:{notes}" if notes else "")
    return {**shown, "figures": figs, "notes": text}


@dataclass
class _Handlers:
    """The tab's event handlers, made once per app by :func:`_handlers`."""

    update: Callable[..., tuple]
    api_update: Callable[..., tuple]
    reload: Callable[..., tuple]


def _handlers(store: BoardStore) -> _Handlers:
    """What the page shows after the filters, the /leaderboard endpoint's answer, and the reload, over ``store``."""

    @guard
    def update(families, min_m, max_m, sources, benchmark, hardware, dataset):
        """What the page shows: figures, formatted sortable tables, the ablation, counts and notes (last)."""
        got = _select(store, families, min_m, max_m, sources, benchmark, hardware, dataset)
        return (
            *got["figures"],
            board_table(got["quality"], QUALITY_TABLE),
            board_table(got["embedders"], EMBEDDER_TABLE),
            board_table(got["speed"], SPEED_TABLE, sort_by="pairs_per_s"),
            board_table(got["ablation"], ABLATION_TABLE, sort_by=None),
            figures.ablation_figure(got["ablation"]),
            got["notes"],
        )

    @guard
    def api_update(families, min_m, max_m, sources, benchmark, hardware, dataset):
        """The /leaderboard endpoint: the four figures, the quality and speed frames as data, and the notes."""
        got = _select(store, families, min_m, max_m, sources, benchmark, hardware, dataset)
        return (*got["figures"], got["quality"], got["speed"], got["notes"])

    @guard
    def reload(families, min_m, max_m, sources, benchmark, hardware, dataset):
        store.reload()
        return update(families, min_m, max_m, sources, benchmark, hardware, dataset)

    return _Handlers(update, api_update, reload)


@dataclass
class _BoardView:
    """The tab's components that handlers read or write."""

    filters: Filters
    notes: gr.Markdown
    plots: list[gr.Plot]
    tables: list[gr.Dataframe]
    outputs: list
    export_btn: gr.Button
    reload_btn: gr.Button
    files: gr.File
    refresh: gr.Button


def _plots_and_tables() -> tuple[list[gr.Plot], list[gr.Dataframe]]:
    """The four figures, then the quality, per-embedder and speed tables."""
    plots = [
        gr.Plot(label="Quality vs parameters", elem_id="quality-plot"),
        gr.Plot(label="Quality vs speed", elem_id="pareto-plot"),
        gr.Plot(label="Speed", elem_id="speed-plot"),
        gr.Plot(label="Per embedder", elem_id="embedder-plot"),
    ]
    tables = []
    for label, elem_id, columns, systems in (
        ("Quality on the chosen benchmark (sort: ⋮ in a column header)", "quality-table", QUALITY_TABLE, False),
        ("Per first stage on the chosen dataset, with intervals and gains (sort: ⋮ in a column header)",
         "embedder-table", EMBEDDER_TABLE, True),
        ("Speed on the chosen hardware", "speed-table", SPEED_TABLE, False),
    ):  # fmt: skip
        tables.append(gr.Dataframe(label=label, interactive=False, wrap=True, elem_id=elem_id,
                                   elem_classes=["board-table"]))  # fmt: skip
        gr.Markdown(table_legend(columns, systems), elem_classes=["table-legend"])
    return plots, tables


def _layout(store: BoardStore) -> _BoardView:
    """The Leaderboard tab's components, laid out (inside ``gr.Blocks`` and ``gr.Tabs``)."""
    with gr.Tab("Leaderboard", id="leaderboard"):
        filters = _filters(store)
        notes = gr.Markdown(elem_id="leaderboard-notes")
        plots, tables = _plots_and_tables()
        gr.Markdown("### bf16 / FlashAttention-2 ablation (pairs/s and peak GB per configuration)")
        ablation = [gr.Dataframe(interactive=False, wrap=True, elem_id="ablation-table", elem_classes=["board-table"]),
                    gr.Plot(elem_id="ablation-plot")]
        gr.Markdown(table_legend(ABLATION_TABLE), elem_classes=["table-legend"])
        outputs = [*plots, *tables, *ablation, notes]
        with gr.Row():
            export_btn = gr.Button("Download filtered tables (CSV + JSON)")
            reload_btn = gr.Button("Reload results store")
        files = gr.File(label="Downloads", file_count="multiple", interactive=False)
        refresh = gr.Button(visible=False)  # the /leaderboard endpoint
    return _BoardView(filters, notes, plots, tables, outputs, export_btn, reload_btn, files, refresh)


def _wire(ui: _BoardView, h: _Handlers, store: BoardStore, blocks: gr.Blocks):
    """Wire the filters, the /leaderboard endpoint, the page load, export and reload; returns the reload event."""
    filters, outputs = ui.filters, ui.outputs
    for comp in filters.all():
        comp.change(h.update, filters.all(), outputs, api_name=False)
    api_outputs = [*ui.plots, ui.tables[0], ui.tables[2], ui.notes]
    ui.refresh.click(h.api_update, filters.all(), api_outputs, api_name="leaderboard")
    dropdowns = [filters.benchmark, filters.hardware, filters.dataset]
    blocks.load(guard(lambda: _offered_now(store)), None, dropdowns, api_name=False).then(
        h.update, filters.all(), outputs, api_name=False)  # fmt: skip
    ui.export_btn.click(guard(store.export), filters.rows(), ui.files, api_name="export")
    return ui.reload_btn.click(h.reload, filters.all(), outputs, api_name="reload")


def build(store: BoardStore, blocks: gr.Blocks):
    """Lay out the Leaderboard tab and wire filters, refresh, export and reload.

    Every filter applies to every figure and table (quality, per-embedder, speed, ablation) and to the row counts;
    ranks and Holm's correction are recomputed over the rows left.

    Args:
        store: The leaderboard data.
        blocks: The app (its page load draws the figures).

    Returns:
        The reload event, so that other tabs can refresh after it (``.then``).
    """
    handlers = _handlers(store)
    ui = _layout(store)
    return _wire(ui, handlers, store, blocks)
