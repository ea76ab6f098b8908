"""The Search tab: retrieve, rerank and show what moved, over the bundled sample, full SciFact or the user's own
documents; with a first-run panel when there is no reranker, a Stop button, live estimates and a code snippet.

:func:`build` lays the tab out in named parts (:func:`_layout`) and wires (:func:`_wire`) the handlers :func:`_handlers`
makes; the Markdown around the results is :mod:`demo.views.search_text`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from demo import texts
from demo.search.judged import judged_query
from demo.search.params import MAX_K, MAX_TOP_N, PRECISIONS
from demo.search.playground import Playground
from demo.sources import firstrun
from demo.sources.choices import NO_RERANKER, RANDOM_BADGE, default_first_stage
from demo.sources.user_corpus import (
    MAX_DOCUMENTS,
    MAX_UPLOAD_BYTES,
    CorpusInputError,
    example_queries,
    parse_pasted,
    parse_upload,
    sample_corpus,
)
from demo.tabs import components as checked
from demo.tabs import stale
from demo.tabs.guard import StopFlags, guard
from demo.views.figures import movement_figure
from demo.views.frames import movement_frame, ranking_code, results_frame, results_html, results_table, timings_frame
from demo.views.search_text import judged_text, model_name_for_code, status_text

__all__ = ["K_WHAT", "PRECISION_CHOICES", "RUN_ANYWAY_WHAT", "SEARCH_SLOTS", "TOP_N_WHAT", "CorpusInputs", "build",
           "corpus_choices", "corpus_for", "first_stage_keys", "load_documents"]  # fmt: skip

PRECISION_CHOICES = list(PRECISIONS)
K_WHAT, TOP_N_WHAT = "K (first-stage depth)", "the number of results"  # as demo.search.params.check_params names them
RUN_ANYWAY_WHAT = "the run-anyway switch (run past the time limit)"
SEARCH_SLOTS = 4
"""Searches run at once. More than the CPU's cores on purpose: a search whose corpus waits for the embedding queue
(:mod:`demo.search.fair`) holds a slot while it waits, and must not keep a BM25 or already-embedded search from
starting."""

RESULT_IDS = ("results-view", "search-status")
"""What a changed query or setting marks as earlier results (:mod:`demo.tabs.stale`)."""


@dataclass
class CorpusInputs:
    """The components other tabs read the corpus from: the corpus radio and the session's documents."""

    mode: gr.Radio
    documents: gr.State


def _full_scifact_available() -> bool:
    import demo.sources.user_corpus

    return hasattr(demo.sources.user_corpus, "scifact_corpus")


def corpus_choices() -> list[str]:
    """The corpus radio's choices: the sample, full SciFact (when the app ships it) and the user's documents."""
    return [texts.SAMPLE] + ([texts.FULL_SCIFACT] if _full_scifact_available() else []) + [texts.MINE]


def first_stage_keys(play: Playground) -> list[str]:
    """The first stages offered now, by key (what the embedder dropdowns allow)."""
    return [c.key for c in play.first_stages]


def corpus_for(mode: str, user_corpus: Any):
    """The corpus a request searches: the user's documents when chosen (and loaded), full SciFact, else the sample."""
    if mode == texts.MINE:
        if user_corpus is None:
            raise CorpusInputError("no documents of yours are loaded: paste or upload them and press 'Use these documents'")
        return user_corpus
    if mode == texts.FULL_SCIFACT:
        from demo.sources.user_corpus import scifact_corpus  # the lead's shipped full corpus

        return scifact_corpus()
    return sample_corpus()


@guard
def load_documents(pasted: str | None, upload: str | None):
    """Parse pasted or uploaded documents into the session's corpus, and switch the corpus choice to them (the file
    when both are given; the message then says the pasted text was not used)."""
    also_pasted = bool(pasted and pasted.strip())
    ignored = texts.FILE_WINS if also_pasted else ""
    if upload:
        path = Path(upload)
        try:
            size = path.stat().st_size
            if size > MAX_UPLOAD_BYTES:
                raise CorpusInputError(f"the file has {size / 2**20:.1f} MB; the limit is {MAX_UPLOAD_BYTES // 2**20} MB")
            parsed = parse_upload(path.name, path.read_bytes())
        except CorpusInputError as exc:
            raise CorpusInputError(f"{exc}{ignored}") from None
        return parsed.corpus, f"✅ {parsed.summary()}{ignored}", texts.MINE
    if not also_pasted:
        raise CorpusInputError("nothing to load: paste documents (one per line) or upload a .txt, .jsonl or .csv file")
    parsed = parse_pasted(pasted)
    return parsed.corpus, f"✅ {parsed.summary()}", texts.MINE


def _models_note(play: Playground) -> str:
    """Where the rerankers come from, as a sentence; empty while the first-run panel says it."""
    if play.models_dir:
        return f"Rerankers from the models folder `{firstrun.shown_path(play.models_dir)}`. "
    return "" if firstrun.needs_first_run(play) else f"{texts.NO_MODELS_NOTE}. "


def _reranker_choices(play: Playground) -> list[tuple[str, str]]:
    return [("none (retriever only)", NO_RERANKER)] + [(c.label, c.key) for c in play.rerankers]


@dataclass
class _Handlers:
    """The tab's event handlers, made once per app by :func:`_handlers`."""

    estimate: Callable[..., str]
    search: Callable[..., tuple]
    stop: Callable[..., str]
    build_replica: Callable[..., tuple]
    on_page_load: Callable[[], tuple]


def _search_handler(play: Playground, stops: StopFlags):
    """The Search button's handler: one search, given up at its next step once Stop is pressed."""

    @guard
    def search(query, mode, user_corpus, embedder, reranker, k, top_n, precision="auto", normalise=False,
               run_anyway=False, request: gr.Request = None, progress=gr.Progress()):  # fmt: skip
        session = request.session_hash if request is not None else None
        check = stops.start(session)

        def report(frac: float, desc: str) -> None:
            check()  # Stop pressed: give up here (between stages and embedding batches)
            progress(frac, desc=desc)

        try:
            corpus = corpus_for(mode, user_corpus)
            outcome = play.search(query, corpus, embedder, reranker, int(k), int(top_n), progress=report,
                                  precision=precision or "auto", run_anyway=bool(run_anyway))  # fmt: skip
        finally:
            stops.finish(session, check)
        judged = judged_query(outcome.result.query) if mode != texts.MINE else None
        relevant = judged.relevant if judged else None
        judged_md = judged_text(outcome, judged, set(corpus.ids)) if judged and outcome.result.candidates else ""
        reranked = outcome.choice is not None and bool(outcome.result.candidates)
        code = (ranking_code(outcome, model_name_for_code(outcome.choice, play.models_dir)) if reranked
                else "# no reranker ran: the results are the first stage's order")  # fmt: skip
        return (
            status_text(outcome, len(corpus), relevant, judged_md),
            results_html(outcome, relevant, bool(normalise)),
            results_table(results_frame(outcome, relevant), bool(normalise)),
            code,
            timings_frame(outcome),
            movement_figure(movement_frame(outcome), int(top_n)),
        )

    return search


def _handlers(play: Playground, stops: StopFlags) -> _Handlers:
    """Estimate, search, stop, first-run build and page load, over ``play`` and the tab's ``stops``."""

    @guard
    def estimate(reranker: str, k: float, precision: str = "auto") -> str:
        return play.estimate_text(reranker, int(k), precision or "auto")

    def stop(request: gr.Request = None) -> str:
        # a running search gives up at its next step; a queued one is dropped by Gradio (cancels=) before it starts
        stops.stop(request.session_hash if request is not None else None)
        return texts.STOPPED

    @guard
    def build_replica(size=firstrun.FIRST_SIZE, progress=gr.Progress()):
        choice = firstrun.build_first_reranker(play, progress=lambda f, d: progress(f, desc=d), size=size)
        return (
            gr.update(choices=_reranker_choices(play), value=choice.key),
            gr.update(visible=False),
            f"Built **{choice.key}** ({RANDOM_BADGE}); it is selected below. Press Search.",
        )

    def on_page_load():
        default = play.rerankers[0].key if play.rerankers else NO_RERANKER
        first_run_shown = gr.update(visible=firstrun.needs_first_run(play))
        return (gr.update(choices=_reranker_choices(play), value=default), first_run_shown, first_run_shown,
                play.estimate_text(default, 30))  # fmt: skip

    return _Handlers(estimate, _search_handler(play, stops), stop, build_replica, on_page_load)


@dataclass
class _SearchView:
    """The tab's components that handlers read or write, in the order they are laid out."""

    query: gr.Textbox
    search_btn: gr.Button
    stop_btn: gr.Button
    estimate_md: gr.Markdown
    k: gr.Slider
    top_n: gr.Slider
    normalise: gr.Checkbox
    run_anyway: gr.Checkbox
    corpus_mode: gr.Radio
    embedder: gr.Dropdown
    first_run: gr.Column
    first_run_size: gr.Dropdown
    first_run_btn: gr.Button
    first_run_status: gr.Markdown
    reranker: gr.Dropdown
    precision: gr.Radio
    pasted: gr.Textbox
    upload: gr.File
    load_btn: gr.Button
    corpus_status: gr.Markdown
    progress_box: gr.Markdown
    status: gr.Markdown
    results_view: gr.HTML
    results: gr.Dataframe
    code: gr.Code
    timings: gr.Dataframe
    movement: gr.Plot
    details: gr.Row
    examples: gr.Column


def _query_column(play: Playground, default_reranker: str) -> tuple:
    """The query, Search and Stop, the estimate, K, the number of results, the 0–1 switch and Run anyway."""
    with gr.Column(scale=2, min_width=300):
        query = checked.Textbox(label="Query", placeholder="Ask a question or paste a claim…", lines=2, max_lines=6,
                                param="query", what="the query")  # fmt: skip
        with gr.Row(elem_id="search-actions"):
            search_btn = gr.Button("Search", variant="primary", elem_id="search-btn", scale=3, min_width=120)
            stop_btn = gr.Button("Stop", variant="stop", elem_id="stop-btn", scale=1, min_width=70)
        estimate_md = gr.Markdown(play.estimate_text(default_reranker, 30), elem_id="estimate")
        with gr.Row():  # here, not below both columns: the results start higher on a wide screen
            k = checked.Slider(1, MAX_K, value=30, step=1, label="K: first-stage depth (documents reranked)",
                               elem_id="k-slider", min_width=220, param="k", what=K_WHAT)  # fmt: skip
            top_n = checked.Slider(1, MAX_TOP_N, value=10, step=1, label="Results to show", min_width=220,
                                   param="top_n", what=TOP_N_WHAT)  # fmt: skip
        normalise = checked.Checkbox(False, label="Also show scores as 0–1 (sigmoid of the raw score)",
                                     elem_id="normalise", param="normalise", what="the 0–1 scores switch")  # fmt: skip
        run_anyway = checked.Checkbox(False, label=f"Run anyway when estimated above the {play.max_rerank_seconds:g} s "
                                      "limit (otherwise refused before it starts)", elem_id="run-anyway",
                                      param="run_anyway", what=RUN_ANYWAY_WHAT)  # fmt: skip
    return query, search_btn, stop_btn, estimate_md, k, top_n, normalise, run_anyway


def _choices_column(play: Playground, first_stage: str | None, stage_choices: list, default_reranker: str) -> tuple:
    """The corpus, first stage, first-run panel, reranker and precision."""
    with gr.Column(scale=1, min_width=260):
        corpus_mode = checked.Radio(corpus_choices(), value=texts.SAMPLE, label="Corpus", param="mode",
                                    what="the corpus")  # fmt: skip
        embedder = checked.Dropdown(stage_choices, value=default_first_stage(play.first_stages, first_stage),
                                    label="First stage (embedder or BM25)", param="embedder", what="the first stage",
                                    choices_now=lambda: first_stage_keys(play))  # fmt: skip
        # next to the reranker it fills, and below the query: on a phone, Search stays on the first screen
        with gr.Column(visible=firstrun.needs_first_run(play), elem_id="first-run", variant="panel") as first_run:
            gr.Markdown(texts.FIRST_RUN.format(folder=firstrun.shown_path(firstrun.target_folder(play))))
            first_run_size = checked.Dropdown(firstrun.size_choices(), value=firstrun.FIRST_SIZE, label="Size",
                                              elem_id="first-run-size", param="size", what="the replica size")
            first_run_btn = gr.Button("Build this replica", variant="primary", elem_id="first-run-btn")
        first_run_status = gr.Markdown(elem_id="first-run-status", visible=firstrun.needs_first_run(play))
        reranker = checked.Dropdown(_reranker_choices(play), value=default_reranker, label="Reranker",
                                    elem_id="reranker", param="reranker", what="the reranker",
                                    choices_now=lambda: [key for _, key in _reranker_choices(play)])  # fmt: skip
        precision = checked.Radio(PRECISION_CHOICES, value="auto", label="Precision", elem_id="precision",
                                  info="auto: bf16 on CUDA and on CPUs with native bf16, else fp32",
                                  param="precision", what="precision")  # fmt: skip
    return corpus_mode, embedder, first_run, first_run_size, first_run_btn, first_run_status, reranker, precision


def _documents_box() -> tuple:
    """The accordion where the user pastes or uploads their own documents."""
    with gr.Accordion("Use your own documents", open=False):
        gr.Markdown(texts.UPLOAD_HELP.format(max_documents=MAX_DOCUMENTS, max_mb=MAX_UPLOAD_BYTES // 2**20))
        pasted = checked.Textbox(label="Documents, one per line", lines=6, max_lines=12, param="pasted",
                                 what="the pasted documents", nullable=True)  # fmt: skip
        upload = checked.File(label="or upload", file_types=[".txt", ".jsonl", ".csv"], type="filepath", param="upload",
                              what="the uploaded documents", elem_id="search-upload")  # fmt: skip
        load_btn = gr.Button("Use these documents")
        corpus_status = gr.Markdown(elem_id="corpus-status")
    return pasted, upload, load_btn, corpus_status


def _result_views() -> tuple:
    """Progress, status, the results (rows, table, code), the latency breakdown and the rank movement."""
    progress_box = gr.Markdown(elem_id="search-progress")  # progress and errors show here, never over the results
    status = gr.Markdown(elem_id="search-status")
    results_view = gr.HTML(elem_id="results-view")
    with gr.Accordion("Results as a table (copy or download)", open=False):
        results = gr.Dataframe(wrap=True, elem_id="results", interactive=False, max_height=600, show_label=False)
    with gr.Accordion("Reproduce this ranking in Python (sentence-transformers)", open=False, elem_id="code-box"):
        code = gr.Code(language="python", show_label=False, elem_id="ranking-code", max_lines=30)
    with gr.Row(visible=False, elem_id="search-details") as details:  # shown with the first results: no placeholders
        timings = gr.Dataframe(label="Latency breakdown (seconds)", interactive=False, scale=1,
                               column_widths=["70%", "30%"], elem_id="timings")
        movement = gr.Plot(label="Rank movement", scale=1, elem_id="movement-plot")
    return progress_box, status, results_view, results, code, timings, movement, details


def _layout(play: Playground, first_stage: str | None) -> _SearchView:
    """The Search tab's components, laid out (inside ``gr.Blocks`` and ``gr.Tabs``)."""
    stage_choices = [(c.label, c.key) for c in play.first_stages]
    default_reranker = play.rerankers[0].key if play.rerankers else NO_RERANKER
    with gr.Tab("Search", id="search"):
        with gr.Row(equal_height=False):
            query_parts = _query_column(play, default_reranker)
            choice_parts = _choices_column(play, first_stage, stage_choices, default_reranker)
        query = query_parts[0]
        with gr.Column(elem_id="search-examples") as examples:  # SciFact claims: hidden over the user's documents
            gr.Examples(list(example_queries()), inputs=[query], label="Example queries (SciFact claims)")
        gr.Markdown(f"<small>{_models_note(play)}{texts.SAMPLE_NOTE}</small>", elem_classes="note")
        document_parts = _documents_box()
        result_parts = _result_views()
    return _SearchView(*query_parts, *choice_parts, *document_parts, *result_parts, examples)


def _wire(ui: _SearchView, h: _Handlers, documents: gr.State, blocks: gr.Blocks | None) -> None:
    """Wire first run, load-documents, estimate, search, stop and (with ``blocks``) the page load."""
    ui.first_run_btn.click(h.build_replica, ui.first_run_size, [ui.reranker, ui.first_run, ui.first_run_status],
                           api_name=False, concurrency_limit=1, show_progress_on=[ui.first_run_status])  # fmt: skip
    ui.load_btn.click(load_documents, [ui.pasted, ui.upload], [documents, ui.corpus_status, ui.corpus_mode],
                      api_name="load_documents", concurrency_limit=2)  # fmt: skip
    ui.upload.upload(load_documents, [ui.pasted, ui.upload], [documents, ui.corpus_status, ui.corpus_mode],
                     api_name=False, concurrency_limit=2)  # a dropped file is loaded: no second press  # fmt: skip
    ui.corpus_mode.change(lambda mode: gr.update(visible=mode != texts.MINE), ui.corpus_mode, ui.examples,
                          queue=False, api_name=False, show_progress="hidden")  # fmt: skip
    for comp in (ui.reranker, ui.k, ui.precision):
        comp.change(h.estimate, [ui.reranker, ui.k, ui.precision], ui.estimate_md,
                    api_name="estimate" if comp is ui.reranker else False, show_progress="hidden")  # fmt: skip
    inputs = [ui.query, ui.corpus_mode, documents, ui.embedder, ui.reranker, ui.k, ui.top_n, ui.precision, ui.normalise,
              ui.run_anyway]  # fmt: skip
    outputs = [ui.status, ui.results_view, ui.results, ui.code, ui.timings, ui.movement]
    # a new search clears an old "Stopped" on the client, registered before the search: Gradio's page sends a
    # trigger's handlers in order and sends the next only once a queued one has ended, so a server-side clearing
    # after the search ran after its Stop, and blanked the note
    for trigger in (ui.search_btn.click, ui.query.submit):
        trigger(None, None, ui.progress_box, js=stale.start_js(RESULT_IDS, "search-progress"), queue=False,
                api_name=False, show_progress="hidden")  # fmt: skip
    events = [
        trigger(h.search, inputs, outputs, api_name=name, concurrency_limit=SEARCH_SLOTS, concurrency_id="rerank",
                show_progress_on=[ui.progress_box])
        for trigger, name in ((ui.search_btn.click, "search"), (ui.query.submit, False))
    ]  # fmt: skip
    for event in events:
        event.success(None, None, None, js=stale.done_js(RESULT_IDS, "search-progress"), queue=False, api_name=False,
                      show_progress="hidden")  # fmt: skip
        event.success(lambda: gr.update(visible=True), None, ui.details, queue=False, api_name=False,
                      show_progress="hidden")  # fmt: skip
        event.then(h.estimate, [ui.reranker, ui.k, ui.precision], ui.estimate_md, api_name=False,
                   show_progress="hidden")  # fmt: skip
    for setting in (ui.query, ui.corpus_mode, ui.embedder, ui.reranker, ui.k, ui.top_n, ui.precision, ui.normalise):
        setting.change(None, None, None, js=stale.mark_stale_js(RESULT_IDS), queue=False, api_name=False,
                       show_progress="hidden")  # fmt: skip
    ui.stop_btn.click(h.stop, None, ui.progress_box, cancels=events, api_name=False, queue=False)
    if blocks is not None:
        blocks.load(h.on_page_load, None, [ui.reranker, ui.first_run, ui.first_run_status, ui.estimate_md],
                    api_name=False, show_progress="hidden")  # fmt: skip


def build(play: Playground, documents: gr.State, first_stage: str | None = None, blocks: gr.Blocks | None = None
          ) -> CorpusInputs:  # fmt: skip
    """Lay out the Search tab and wire first run, load-documents, estimate, search and stop.

    Args:
        play: The playground that runs searches.
        documents: The session's own documents (``gr.State``), shared with the Compare tab.
        first_stage: First stage selected at start (default: the packaged MiniLM when installed, else BM25).
        blocks: The app; when given, each new page refreshes the reranker list and the estimate.

    Returns:
        The corpus components the Compare tab reads.
    """
    handlers = _handlers(play, StopFlags())
    ui = _layout(play, first_stage)
    _wire(ui, handlers, documents, blocks)
    return CorpusInputs(ui.corpus_mode, documents)
