"""The Search tab: retrieve, rerank and show what moved, over the bundled sample, full SciFact or the user's own
documents; with a first-run panel when there is no reranker, a Stop button, live estimates and a code snippet."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from demo import firstrun, texts
from demo.choices import NO_RERANKER, RANDOM_BADGE, RerankerChoice, default_first_stage
from demo.figures import movement_figure
from demo.frames import movement_frame, ranking_code, results_frame, results_html, results_table, timings_frame
from demo.guard import StopFlags, guard
from demo.playground import MAX_K, MAX_TOP_N, JudgedQuery, Playground, SearchOutcome, judged_metrics, judged_query
from demo.user_corpus import (
    MAX_DOCUMENTS,
    MAX_UPLOAD_BYTES,
    CorpusInputError,
    example_queries,
    parse_pasted,
    parse_upload,
    sample_corpus,
)

__all__ = [
    "PRECISION_CHOICES",
    "SEARCH_SLOTS",
    "CorpusInputs",
    "build",
    "corpus_choices",
    "corpus_for",
    "estimate_markdown",
    "judged_text",
    "model_link",
    "model_name_for_code",
    "status_text",
]

PRECISION_CHOICES = ["auto", "bf16", "fp32"]
SEARCH_SLOTS = 4
"""Searches run at once. More than the CPU's cores on purpose: a search whose corpus waits for the embedding queue
(:mod:`demo.fair`) holds a slot while it waits, and must not keep a BM25 or already-embedded search from starting."""
HUB_URL = "https://huggingface.co/"


@dataclass
class CorpusInputs:
    """The components other tabs read the corpus from: the corpus radio and the session's documents."""

    mode: gr.Radio
    documents: gr.State


def _full_scifact_available() -> bool:
    import demo.user_corpus

    return hasattr(demo.user_corpus, "scifact_corpus")


def corpus_choices() -> list[str]:
    """The corpus radio's choices: the sample, full SciFact (when the app ships it) and the user's documents."""
    return [texts.SAMPLE] + ([texts.FULL_SCIFACT] if _full_scifact_available() else []) + [texts.MINE]


def corpus_for(mode: str, user_corpus: Any):
    """The corpus a request searches: the user's documents when chosen (and loaded), full SciFact, else the sample."""
    if mode == texts.MINE:
        if user_corpus is None:
            raise CorpusInputError("no documents of yours are loaded: paste or upload them and press 'Use these documents'")
        return user_corpus
    if mode == texts.FULL_SCIFACT:
        from demo.user_corpus import scifact_corpus  # the lead's shipped full corpus

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


def _verdict(outcome: SearchOutcome, before: float, after: float) -> str:
    """One plain sentence: did the reranker help on this query?"""
    change = after - before
    direction = "raised" if change > 0 else "lowered"
    moved = "did not change NDCG@10" if abs(change) < 1e-9 else f"{direction} NDCG@10 by {abs(change):.4f}"
    if outcome.choice is not None and outcome.choice.random_init:
        return (f"**No: a random replica does not help.** {outcome.choice.key} has random weights, so it reorders the "
                f"candidates at random; that it {moved} here is chance, not skill.")
    if abs(change) < 1e-9:
        return "The reranker did not change NDCG@10 on this query."
    return f"The reranker {'helped' if change > 0 else 'hurt'} on this query: it {moved}."


def judged_text(outcome: SearchOutcome, judged: JudgedQuery, corpus_ids: set[str]) -> str:
    """The judged query's NDCG@10 and recall, first stage vs reranked, and whether the reranker helped (Markdown)."""
    metrics = judged_metrics(outcome.result, judged)
    n = len(outcome.result.candidates)
    depth = min(n, 100)
    in_corpus = len(judged.relevant & corpus_ids)
    lines = [
        f"**SciFact judges this query (id {judged.query_id})**: {in_corpus} of its {len(judged.relevant)} relevant "
        "document(s) are in this corpus.",
        "",
        f"| order | NDCG@10 | Recall@10 | Recall@{depth} |",
        "|---|---|---|---|",
    ]
    for name, m in metrics.items():
        lines.append(f"| {name} | {m['ndcg_at_10']:.4f} | {m['recall_at_10']:.4f} | {m['recall_at_100']:.4f} |")
    lines.append("")
    if "reranked" in metrics:
        lines.append(_verdict(outcome, metrics["first stage"]["ndcg_at_10"], metrics["reranked"]["ndcg_at_10"]))
        lines.append(f"Recall@{depth} is the same for both orders: a reranker only reorders the {n} candidates.")
    return "\n".join(lines)


def model_link(choice: RerankerChoice | None) -> str:
    """Markdown naming the reranker with a link to its model card (for a replica: the card of the model it copies)."""
    if choice is None:
        return ""
    if not choice.local:
        return f"[{choice.key}]({HUB_URL}{choice.key}) (model card)"
    from ettin.replica import read_metadata

    meta = read_metadata(choice.spec) or {}
    of = meta.get("replica_of")
    if of:
        return f"`{choice.key}`, a replica of [{of}]({HUB_URL}{of}) (model card)"
    return f"`{choice.key}` (a local folder; its README.md, if any, is its card)"


def model_name_for_code(choice: RerankerChoice, models_dir: Path | None) -> str:
    """What ``CrossEncoder(...)`` loads in the shown snippet: the Hub id, or ``<models folder>/<name>`` (never a full
    machine path)."""
    if not choice.local:
        return choice.key
    return f"{models_dir.name}/{choice.key}" if models_dir else choice.key


COMPILED_TEXT = {"ready": ", compiled", "failed": " (compiling failed: runs uncompiled)"}


def _precision_text(outcome: SearchOutcome) -> str:
    settings = getattr(outcome, "settings", None)
    if settings is None:
        return ""
    why = f", {settings.reason}" if settings.reason else ""
    return f" in **{settings.dtype}** on {settings.device}{why}{COMPILED_TEXT.get(getattr(outcome, 'compiled', None), '')}"


def status_text(outcome: SearchOutcome, n_documents: int, relevant: set[str] | None, judged: str = "") -> str:
    """The Markdown above the results: replica warning, what ran (with the precision used and a link to the model card)
    and how long it took, judged-query metrics, notes."""
    lines = []
    if outcome.choice is not None and outcome.choice.random_init:
        lines += [f"⚠️ **{outcome.choice.key}: {RANDOM_BADGE}** (a replica: real speed, random scores)", ""]
    result, t = outcome.result, outcome.timings
    lines.append(
        f"{len(result.candidates)} candidates from **{result.first_stage}** over {n_documents:,} documents"
        + (f", reranked by **{result.reranker}**{_precision_text(outcome)}" if result.reranker else " (no reranker)")
        + f" — search {t['total_s'] * 1000:,.0f} ms (rerank {t['rerank_s'] * 1000:,.0f} ms), setup {t['setup_s']:.1f} s"
    )
    if outcome.choice is not None:
        lines += ["", f"Model: {model_link(outcome.choice)}. {texts.SCORE_HELP}"]
    if judged:
        lines += ["", judged, ""]
    lines += [f"- {n}" for n in outcome.notes if RANDOM_BADGE not in n]
    if relevant is not None:
        lines.append("- ✓ marks documents SciFact judges relevant to this query")
    return "\n".join(lines)


def estimate_markdown(play: Playground, key: str | None, k: int, precision: str = "auto") -> str:
    """A one-line estimate of the rerank time: measured here for this model, precision and (nearest) K; before that,
    scaled from another measured size; before any measurement, a prior from the blog's CPU rate and this machine's
    cores (never raises)."""
    from ettin.errors import UserError

    try:
        choice = play.reranker_choice(key)
        if choice is None:
            return "No reranker: first-stage results only."
        book = play.throughput(precision)
    except UserError as exc:
        return str(exc)
    k = int(k)
    badge = f" **{RANDOM_BADGE}**." if choice.random_init else ""
    loaded = book.rate(choice.key) is not None
    seconds, how = book.estimate(choice, k)
    if seconds is None:
        seconds, how = book.prior(choice, k)
    load = "" if loaded else " The first search also loads the model (a few seconds more)."
    if seconds is None:
        return f"Rerank time for {k} documents: measured on the first search.{load}{badge}"
    bound = " — **above the limit, lower K**" if seconds > play.max_rerank_seconds else ""
    return f"Estimated rerank time for {k} documents: **{seconds:,.1f} s** ({how}){bound}.{load}{badge}"


def _models_note(play: Playground) -> str:
    """Where the rerankers come from, as a sentence; empty while the first-run panel says it."""
    if play.models_dir:
        return f"Rerankers from the models folder `{play.models_dir.name}`. "
    return "" if firstrun.needs_first_run(play) else f"{texts.NO_MODELS_NOTE}. "


def _reranker_choices(play: Playground) -> list[tuple[str, str]]:
    return [("none (retriever only)", NO_RERANKER)] + [(c.label, c.key) for c in play.rerankers]


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
    stops = StopFlags()

    @guard
    def estimate(reranker: str, k: float, precision: str = "auto") -> str:
        return estimate_markdown(play, reranker, int(k), precision or "auto")

    @guard
    def search(query, mode, user_corpus, embedder, reranker, k, top_n, precision="auto", normalise=False,
               request: gr.Request = None, progress=gr.Progress()):  # fmt: skip
        session = request.session_hash if request is not None else None
        check = stops.start(session)

        def report(frac: float, desc: str) -> None:
            check()  # Stop pressed: give up here (between stages and embedding batches)
            progress(frac, desc=desc)

        try:
            corpus = corpus_for(mode, user_corpus)
            outcome = play.search(query, corpus, embedder, reranker, int(k), int(top_n), progress=report,
                                  precision=precision or "auto")  # fmt: skip
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

    def stop(request: gr.Request = None) -> str:
        # a running search gives up at its next step; a queued one is dropped by Gradio (cancels=) before it starts
        stops.stop(request.session_hash if request is not None else None)
        return texts.STOPPED

    @guard
    def build_replica(progress=gr.Progress()):
        choice = firstrun.build_first_reranker(play, progress=lambda f, d: progress(f, desc=d))
        return (
            gr.update(choices=_reranker_choices(play), value=choice.key),
            gr.update(visible=False),
            f"Built **{choice.key}** ({RANDOM_BADGE}); it is selected below. Press Search.",
        )

    def on_page_load():
        default = play.rerankers[0].key if play.rerankers else NO_RERANKER
        first_run_shown = gr.update(visible=firstrun.needs_first_run(play))
        return (gr.update(choices=_reranker_choices(play), value=default), first_run_shown, first_run_shown,
                estimate_markdown(play, default, 30))  # fmt: skip

    stage_choices = [(c.label, c.key) for c in play.first_stages]
    default_reranker = play.rerankers[0].key if play.rerankers else NO_RERANKER
    with gr.Tab("Search", id="search"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=300):
                query = gr.Textbox(label="Query", placeholder="Ask a question or paste a claim…", lines=2, max_lines=6)
                with gr.Row(elem_id="search-actions"):
                    search_btn = gr.Button("Search", variant="primary", elem_id="search-btn", scale=3, min_width=120)
                    stop_btn = gr.Button("Stop", variant="stop", elem_id="stop-btn", scale=1, min_width=70)
                estimate_md = gr.Markdown(estimate_markdown(play, default_reranker, 30), elem_id="estimate")
                with gr.Row():  # here, not below both columns: the results start higher on a wide screen
                    k = gr.Slider(1, MAX_K, value=30, step=1, label="K: first-stage depth (documents reranked)",
                                  elem_id="k-slider", min_width=220)  # fmt: skip
                    top_n = gr.Slider(1, MAX_TOP_N, value=10, step=1, label="Results to show", min_width=220)
                normalise = gr.Checkbox(False, label="Also show scores as 0–1 (sigmoid of the raw score)",
                                        elem_id="normalise")  # fmt: skip
            with gr.Column(scale=1, min_width=260):
                corpus_mode = gr.Radio(corpus_choices(), value=texts.SAMPLE, label="Corpus")
                embedder = gr.Dropdown(stage_choices, value=default_first_stage(play.first_stages, first_stage),
                                       label="First stage (embedder or BM25)")
                # next to the reranker it fills, and below the query: on a phone, Search stays on the first screen
                with gr.Column(visible=firstrun.needs_first_run(play), elem_id="first-run", variant="panel") as first_run:
                    gr.Markdown(texts.FIRST_RUN.format(folder=f"{firstrun.target_folder(play).name}/{firstrun.FIRST_SIZE}"))
                    first_run_btn = gr.Button(f"Build the {firstrun.FIRST_SIZE} replica (about 10 s)", variant="primary",
                                              elem_id="first-run-btn")  # fmt: skip
                first_run_status = gr.Markdown(elem_id="first-run-status", visible=firstrun.needs_first_run(play))
                reranker = gr.Dropdown(_reranker_choices(play), value=default_reranker, label="Reranker",
                                       elem_id="reranker")  # fmt: skip
                precision = gr.Radio(PRECISION_CHOICES, value="auto", label="Precision", elem_id="precision",
                                     info="auto: bf16 on CUDA and on CPUs with native bf16, else fp32")  # fmt: skip
        gr.Examples(list(example_queries()), inputs=[query], label="Example queries (SciFact claims)")
        gr.Markdown(f"<small>{_models_note(play)}{texts.SAMPLE_NOTE}</small>", elem_classes="note")
        with gr.Accordion("Use your own documents", open=False):
            gr.Markdown(texts.UPLOAD_HELP.format(max_documents=MAX_DOCUMENTS, max_mb=MAX_UPLOAD_BYTES // 2**20))
            pasted = gr.Textbox(label="Documents, one per line", lines=6, max_lines=12)
            upload = gr.File(label="or upload", file_types=[".txt", ".jsonl", ".csv"], type="filepath")
            load_btn = gr.Button("Use these documents")
            corpus_status = gr.Markdown()
        progress_box = gr.Markdown(elem_id="search-progress")  # progress and errors show here, never over the results
        status = gr.Markdown(elem_id="search-status")
        results_view = gr.HTML(elem_id="results-view")
        with gr.Accordion("Results as a table (copy or download)", open=False):
            results = gr.Dataframe(wrap=True, elem_id="results", interactive=False, max_height=600, show_label=False)
        with gr.Accordion("Reproduce this ranking in Python (sentence-transformers)", open=False, elem_id="code-box"):
            code = gr.Code(language="python", show_label=False, elem_id="ranking-code", max_lines=30)
        with gr.Row():
            timings = gr.Dataframe(label="Latency breakdown (seconds)", interactive=False, scale=1,
                                   column_widths=["70%", "30%"], elem_id="timings")
            movement = gr.Plot(label="Rank movement", scale=1, elem_id="movement-plot")

    first_run_btn.click(build_replica, None, [reranker, first_run, first_run_status], api_name=False,
                        concurrency_limit=1, show_progress_on=[first_run_status])  # fmt: skip
    load_btn.click(load_documents, [pasted, upload], [documents, corpus_status, corpus_mode], api_name="load_documents",
                   concurrency_limit=2)
    for comp in (reranker, k, precision):
        comp.change(estimate, [reranker, k, precision], estimate_md, api_name="estimate" if comp is reranker else False,
                    show_progress="hidden")
    inputs = [query, corpus_mode, documents, embedder, reranker, k, top_n, precision, normalise]
    outputs = [status, results_view, results, code, timings, movement]
    # a new search clears an old "Stopped" on the client, registered before the search: Gradio's page sends a
    # trigger's handlers in order and sends the next only once a queued one has ended, so a server-side clearing
    # after the search ran after its Stop, and blanked the note
    for trigger in (search_btn.click, query.submit):
        trigger(None, None, progress_box, js="() => ''", queue=False, api_name=False, show_progress="hidden")
    events = [
        trigger(search, inputs, outputs, api_name=name, concurrency_limit=SEARCH_SLOTS, concurrency_id="rerank",
                show_progress_on=[progress_box])
        for trigger, name in ((search_btn.click, "search"), (query.submit, False))
    ]  # fmt: skip
    for event in events:
        event.then(estimate, [reranker, k, precision], estimate_md, api_name=False, show_progress="hidden")
    stop_btn.click(stop, None, progress_box, cancels=events, api_name=False, queue=False)
    if blocks is not None:
        blocks.load(on_page_load, None, [reranker, first_run, first_run_status, estimate_md], api_name=False,
                    show_progress="hidden")
    return CorpusInputs(corpus_mode, documents)
