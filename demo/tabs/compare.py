"""The Compare sizes tab: one query, every chosen reranker over the same candidates, streamed size by size with time and
agreement per size, and a Stop button."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import gradio as gr

from demo import texts
from demo.search.outcomes import CompareOutcome
from demo.search.params import MAX_K, PRECISIONS
from demo.search.playground import Playground
from demo.sources.choices import RANDOM_BADGE, default_first_stage
from demo.sources.user_corpus import example_queries
from demo.tabs import components as checked
from demo.tabs import stale
from demo.tabs.guard import StopFlags, Stopped, guarded_stream
from demo.tabs.search import K_WHAT, RUN_ANYWAY_WHAT, CorpusInputs, corpus_choices, corpus_for, first_stage_keys
from demo.views.compare_figures import compare_figure, compare_table

__all__ = ["NO_RERANKERS_NOTE", "STOPPING_NOTE", "TABLE_HEADERS", "build", "reranker_state", "shown_table", "status_text"]

NO_RERANKERS_NOTE = (
    "⚠️ **No rerankers to compare yet.** Build a model on the Search tab first (or start the app with "
    "`--models-dir models` after `python -m ettin replica --size all --out models`); this tab picks it up when you "
    "come back."
)
STOPPING_NOTE = "**Stop** pressed: a size already running finishes, no other size starts."
RESULT_IDS = ("compare-status", "compare-table", "compare-plot")
"""What a changed query or setting marks as earlier results; a new comparison replaces them as it streams, so its
start unmarks them (:mod:`demo.tabs.stale`) and scrolls to its progress when that is off-screen."""
_START_JS = f"() => {{ ({stale.mark_current_js(RESULT_IDS)})(); return ({stale.start_js((), 'compare-stopped')})(); }}"
TABLE_WIDTHS = ["17%", "7%", "9%", "7%", "6%", "6%", "6%", "6%", "36%"]  # the top-5 titles get the most room
TABLE_HEADERS = {"reranker": "Reranker", "parameters": "Parameters", "status": "Status", "dtype": "Runs in",
                 "rerank_s": "Rerank (s)", "pairs_per_s": "Pairs/s", "overlap@5": "Top-5 overlap",
                 "kendall_tau": "Kendall τ", "top-5": "Top 5 titles"}  # fmt: skip
"""The table's columns as people read them (what :func:`compare_table` names them -> header, with units)."""


def shown_table(outcome: CompareOutcome):
    """:func:`compare_table` for the page and ``/compare``: readable headers, and blank (never ``nan``) where a size
    has not run or the reference has not run yet (the status column says which)."""
    frame = compare_table(outcome).rename(columns=TABLE_HEADERS)
    return frame.astype(object).where(frame.notna(), None)


def _precision_text(outcome: CompareOutcome) -> str:
    settings = outcome.settings
    if settings is None:
        return f"Precision **{outcome.precision}**"
    cap = f", at most {settings.max_length} tokens per pair" if settings.max_length else ""
    return f"Precision **{outcome.precision}** → {settings.dtype} on {settings.device} ({settings.reason}){cap}"


def status_text(outcome: CompareOutcome) -> str:
    """The Markdown above the comparison: progress, precision, the agreement reference (and why it changed), replica
    warning and skipped sizes."""
    n_done = len(outcome.rows) + len(outcome.skipped)
    if outcome.complete:
        progress = f"{len(outcome.rows)} of {len(outcome.choices)} size(s) ran."
    elif outcome.stopped:
        not_run = ", ".join(outcome.pending)
        progress = f"**Stopped** after {n_done} of {len(outcome.choices)} size(s); not run: {not_run}."
    else:
        progress = f"{n_done} of {len(outcome.choices)} size(s) finished; running **{outcome.pending[0]}**…"
    lines = [
        f"Top {len(outcome.candidates)} of **{outcome.first_stage}** reranked by each size, smallest first. {progress} "
        f"Agreement is measured against **{outcome.reference or '—'}**"
        + ("" if outcome.reference_note else " (the largest size selected)")
        + ". Throughput is measured live on this machine.",
        "",
        _precision_text(outcome) + ".",
    ]
    if outcome.reference_note:
        lines += ["", f"⚠️ {outcome.reference_note}"]
    if any(c.random_init for c in outcome.choices):
        lines += ["", f"⚠️ Replicas carry **{RANDOM_BADGE}**: their agreement numbers only show that random models "
                      "disagree."]  # fmt: skip
    lines += [f"- skipped {s}" for s in outcome.skipped]
    lines += [f"- {r.choice.key}: {r.warning}" for r in outcome.rows if getattr(r, "warning", "")]
    return "\n".join(lines)


def reranker_state(play: Playground, selected: list[str] | None) -> tuple[list[tuple[str, str]], list[str], str]:
    """The rerankers offered now as (label, key), the selection (the user's, where still offered, else the local
    models) and the note that says why Compare is disabled (empty when it is not)."""
    offered = [(c.label, c.key) for c in play.rerankers]
    keys = {key for _, key in offered}
    kept = [key for key in selected or [] if key in keys]
    local = [c.key for c in play.rerankers if not c.key.startswith("cross-encoder/")]
    default = local or [c.key for c in play.rerankers[:1]]
    return offered, kept or default, "" if offered else NO_RERANKERS_NOTE


def _compare_handler(play: Playground, stops: StopFlags):
    """The Compare button's handler: the comparison streamed size by size; Stop lets the running size finish and starts
    no other."""

    def compare(query, mode, user_corpus, embedder, rerankers, k, precision, run_anyway=False,
                request: gr.Request = None, progress=gr.Progress()):  # fmt: skip
        session = request.session_hash if request is not None else None
        check = stops.start(session)
        if check.flag.is_set():  # type: ignore[attr-defined] - Stop pressed while this waited in the queue: run nothing
            stops.finish(session, check)
            return
        streaming = False

        def report(frac: float, desc: str) -> None:
            if not streaming:
                check()  # Stop pressed while the first stage embeds the corpus: give up there (later: between sizes)
            progress(frac, desc=desc)

        try:
            stream = play.compare_stream(query, corpus_for(mode, user_corpus), embedder, rerankers or None, int(k),
                                         progress=report, precision=precision,
                                         run_anyway=bool(run_anyway))  # fmt: skip
            for outcome in guarded_stream(stream):
                streaming = True
                try:
                    check()
                except Stopped:  # pressed while this size ran: show it, run no other
                    stream.close()
                    outcome = dataclasses.replace(outcome, stopped=not outcome.complete)
                yield status_text(outcome), shown_table(outcome), compare_figure(outcome)
                if outcome.stopped:
                    return
        finally:
            stops.finish(session, check)

    return compare


@dataclass
class _Handlers:
    """The tab's event handlers, made once per app by :func:`_handlers`."""

    compare: Callable[..., Iterator[tuple]]
    arm: Callable[..., None]
    stop: Callable[..., str]
    refresh_rerankers: Callable[..., tuple]


def _handlers(play: Playground, stops: StopFlags) -> _Handlers:
    """Compare, the arming before it queues, Stop and the reranker refresh, over ``play`` and the tab's ``stops``."""

    def arm(request: gr.Request = None) -> None:
        stops.arm(request.session_hash if request is not None else None)

    def stop(request: gr.Request = None) -> str:
        running = stops.stop(request.session_hash if request is not None else None)
        return STOPPING_NOTE if running else "Nothing was running."

    def refresh_rerankers(selected):
        offered, value, note = reranker_state(play, selected)
        return gr.update(choices=offered, value=value), gr.update(interactive=bool(offered)), note

    return _Handlers(_compare_handler(play, stops), arm, stop, refresh_rerankers)


@dataclass
class _CompareView:
    """The tab's components that handlers read or write."""

    tab: gr.Tab
    models_note: gr.Markdown
    query: gr.Textbox
    mode: gr.Radio
    embedder: gr.Dropdown
    k: gr.Slider
    precision: gr.Radio
    rerankers: gr.CheckboxGroup
    run_anyway: gr.Checkbox
    button: gr.Button
    stop_btn: gr.Button
    stopped: gr.Markdown
    status: gr.Markdown
    chart: gr.Plot
    table: gr.Dataframe


def _settings_row(play: Playground, first_stage: str | None, choices: list[str]) -> tuple:
    """The query with its examples, and the corpus, first stage, K and precision beside it."""
    with gr.Row():
        with gr.Column(scale=2):
            query = checked.Textbox(label="Query", lines=2, elem_id="compare-query", param="query", what="the query")
            gr.Examples(list(example_queries()), inputs=[query], label="Example queries (SciFact claims)")
        with gr.Column(scale=1):
            mode = checked.Radio(choices, value=texts.SAMPLE, label="Corpus", elem_id="compare-corpus", param="mode",
                                 what="the corpus")  # fmt: skip
            embedder = checked.Dropdown([(c.label, c.key) for c in play.first_stages],
                                        value=default_first_stage(play.first_stages, first_stage), label="First stage",
                                        param="embedder", what="the first stage",
                                        choices_now=lambda: first_stage_keys(play))  # fmt: skip
            k = checked.Slider(1, MAX_K, value=20, step=1, label="K (documents reranked by every size)", param="k",
                               what=K_WHAT)  # fmt: skip
            precision = checked.Radio(list(PRECISIONS), value="auto", label="Precision", param="precision",
                                      what="precision", info="auto: bf16 where the hardware computes it natively, else fp32")
    return query, mode, embedder, k, precision


def _layout(play: Playground, first_stage: str | None, choices: list[str]) -> _CompareView:
    """The Compare sizes tab's components, laid out (inside ``gr.Blocks`` and ``gr.Tabs``)."""
    offered, selected, note = reranker_state(play, None)
    with gr.Tab("Compare sizes", id="compare") as tab:
        gr.Markdown(texts.COMPARE_HELP)
        models_note = gr.Markdown(note, elem_id="compare-models-note")
        query, mode, embedder, k, precision = _settings_row(play, first_stage, choices)
        rerankers = checked.CheckboxGroup(label="Rerankers", elem_id="compare-rerankers", choices=offered, value=selected,
                                          param="rerankers", what="the rerankers to compare",
                                          choices_now=lambda: [c.key for c in play.rerankers])  # fmt: skip
        run_anyway = checked.Checkbox(False, label=f"Run anyway: also run sizes estimated above the "
                                      f"{play.max_rerank_seconds:g} s limit (otherwise skipped, with the K that fits)",
                                      elem_id="compare-run-anyway", param="run_anyway", what=RUN_ANYWAY_WHAT)  # fmt: skip
        with gr.Row():
            button = gr.Button("Compare", variant="primary", elem_id="compare-btn", scale=3, interactive=bool(offered))
            stop_btn = gr.Button("Stop", variant="stop", elem_id="compare-stop", scale=1)
        stopped = gr.Markdown(elem_id="compare-stopped")  # the Stop button's note, and where the progress bar shows
        status = gr.Markdown(elem_id="compare-status")
        chart = gr.Plot(label="Rerank time and agreement per size", elem_id="compare-plot")
        table = gr.Dataframe(label="Per size", wrap=True, interactive=False, elem_id="compare-table",
                             datatype=["str"] * 4 + ["number"] * 4 + ["markdown"], column_widths=TABLE_WIDTHS)
    return _CompareView(tab, models_note, query, mode, embedder, k, precision, rerankers, run_anyway, button,
                        stop_btn, stopped, status, chart, table)  # fmt: skip


def _wire(ui: _CompareView, h: _Handlers, corpus: CorpusInputs, choices: list[str]) -> None:
    """Wire the refresh on tab select, the corpus shared with the Search tab, Compare and Stop."""
    ui.tab.select(h.refresh_rerankers, [ui.rerankers], [ui.rerankers, ui.button, ui.models_note], api_name=False,
                  show_progress="hidden")  # fmt: skip
    corpus.mode.change(lambda chosen: gr.update(value=chosen) if chosen in choices else gr.update(), corpus.mode,
                       ui.mode, api_name=False, show_progress="hidden")  # fmt: skip
    inputs = [ui.query, ui.mode, corpus.documents, ui.embedder, ui.rerankers, ui.k, ui.precision, ui.run_anyway]
    for trigger, api_name in ((ui.button.click, "compare"), (ui.query.submit, False)):
        # the clearing on the client, then the arming on the server, and only then (.then) the queued compare: see the
        # Search tab on why nothing may follow a queued handler on the same trigger
        trigger(None, None, ui.stopped, js=_START_JS, api_name=False, show_progress="hidden", queue=False)
        armed = trigger(h.arm, None, None, api_name=False, show_progress="hidden", queue=False)
        armed.then(h.compare, inputs, [ui.status, ui.table, ui.chart], api_name=api_name, concurrency_limit=1,
                   concurrency_id="compare", show_progress_on=[ui.stopped])  # fmt: skip
    # not cancels=: the running size finishes (a thread cannot be interrupted), then the stream ends with a final
    # "stopped" update instead of an error badge, and no other size starts
    ui.stop_btn.click(h.stop, None, ui.stopped, api_name=False, queue=False)
    for setting in (ui.query, ui.mode, ui.embedder, ui.rerankers, ui.k, ui.precision):
        setting.change(None, None, None, js=stale.mark_stale_js(RESULT_IDS), queue=False, api_name=False,
                       show_progress="hidden")  # fmt: skip


def build(play: Playground, corpus: CorpusInputs, first_stage: str | None = None) -> None:
    """Lay out the Compare sizes tab and wire Compare (streamed, size by size), Stop and the refresh on tab select.

    Args:
        play: The playground that runs the comparison.
        corpus: The Search tab's corpus components: the session's documents are shared, and a corpus chosen there is
            chosen here too (this tab has its own chooser).
        first_stage: First stage selected at start.
    """
    handlers = _handlers(play, StopFlags())
    choices = corpus_choices()
    ui = _layout(play, first_stage, choices)
    _wire(ui, handlers, corpus, choices)
