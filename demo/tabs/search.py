"""The Search tab: retrieve, rerank and show what moved, over the bundled sample or the user's own documents."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from demo import texts
from demo.choices import NO_RERANKER, RANDOM_BADGE, default_first_stage
from demo.figures import movement_figure
from demo.frames import movement_frame, results_frame, timings_frame
from demo.guard import guard
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

__all__ = ["CorpusInputs", "build", "corpus_for", "judged_text", "status_text"]


@dataclass
class CorpusInputs:
    """The components other tabs read the corpus from: the Sample/Mine radio and the session's documents."""

    mode: gr.Radio
    documents: gr.State


def corpus_for(mode: str, user_corpus: Any):
    """The corpus a request searches: the user's documents when chosen (and loaded), else the bundled sample."""
    if mode == texts.MINE:
        if user_corpus is None:
            raise CorpusInputError("no documents of yours are loaded: paste or upload them and press 'Use these documents'")
        return user_corpus
    return sample_corpus()


@guard
def load_documents(pasted: str | None, upload: str | None):
    """Parse pasted or uploaded documents into the session's corpus, and switch the corpus choice to them."""
    if upload:
        path = Path(upload)
        size = path.stat().st_size
        if size > MAX_UPLOAD_BYTES:
            raise CorpusInputError(f"the file has {size / 2**20:.1f} MB; the limit is {MAX_UPLOAD_BYTES // 2**20} MB")
        parsed = parse_upload(path.name, path.read_bytes())
    elif pasted and pasted.strip():
        parsed = parse_pasted(pasted)
    else:
        raise CorpusInputError("nothing to load: paste documents (one per line) or upload a .txt, .jsonl or .csv file")
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


def status_text(outcome: SearchOutcome, n_documents: int, relevant: set[str] | None, judged: str = "") -> str:
    """The Markdown above the results: replica warning, what ran and how long it took, judged-query metrics, notes."""
    lines = []
    if outcome.choice is not None and outcome.choice.random_init:
        lines.append(f"⚠️ **{outcome.choice.key}: {RANDOM_BADGE}** (a replica: real speed, random scores)")
    result, t = outcome.result, outcome.timings
    lines.append(
        f"{len(result.candidates)} candidates from **{result.first_stage}** over {n_documents:,} documents"
        + (f", reranked by **{result.reranker}**" if result.reranker else " (no reranker)")
        + f" — search {t['total_s'] * 1000:,.0f} ms (rerank {t['rerank_s'] * 1000:,.0f} ms), setup {t['setup_s']:.1f} s"
    )
    if judged:
        lines += ["", judged, ""]
    lines += [f"- {n}" for n in outcome.notes if RANDOM_BADGE not in n]
    if relevant is not None:
        lines.append("- `relevant` marks documents SciFact judges relevant to this query")
    return "\n".join(lines)


def _models_note(play: Playground) -> str:
    if play.models_dir:
        return f"Rerankers from the models folder `{play.models_dir.name}`"
    return texts.NO_MODELS_NOTE


def build(play: Playground, documents: gr.State, first_stage: str | None = None) -> CorpusInputs:
    """Lay out the Search tab and wire load-documents, estimate and search.

    Args:
        play: The playground that runs searches.
        documents: The session's own documents (``gr.State``), shared with the Compare tab.
        first_stage: First stage selected at start (default: the packaged MiniLM when installed, else BM25).

    Returns:
        The corpus components the Compare tab reads.
    """

    @guard
    def estimate(reranker: str, k: float) -> str:
        return play.estimate_text(reranker, int(k))

    @guard
    def search(query, mode, user_corpus, embedder, reranker, k, top_n, progress=gr.Progress()):
        corpus = corpus_for(mode, user_corpus)
        outcome = play.search(query, corpus, embedder, reranker, int(k), int(top_n),
                              progress=lambda frac, desc: progress(frac, desc=desc))
        judged = judged_query(outcome.result.query) if mode != texts.MINE else None
        relevant = judged.relevant if judged else None
        judged_md = judged_text(outcome, judged, set(corpus.ids)) if judged and outcome.result.candidates else ""
        fig = movement_figure(movement_frame(outcome), int(top_n))
        return (status_text(outcome, len(corpus), relevant, judged_md), results_frame(outcome, relevant),
                timings_frame(outcome), fig)

    stage_choices = [(c.label, c.key) for c in play.first_stages]
    reranker_choices = [("none (retriever only)", NO_RERANKER)] + [(c.label, c.key) for c in play.rerankers]
    default_reranker = play.rerankers[0].key if play.rerankers else NO_RERANKER
    with gr.Tab("Search", id="search"):
        with gr.Row():
            with gr.Column(scale=2):
                query = gr.Textbox(label="Query", placeholder="Ask a question or paste a claim…", lines=2, max_lines=6)
                gr.Examples(list(example_queries()), inputs=[query], label="Example queries (SciFact claims)")
            with gr.Column(scale=1):
                corpus_mode = gr.Radio([texts.SAMPLE, texts.MINE], value=texts.SAMPLE, label="Corpus")
                embedder = gr.Dropdown(stage_choices, value=default_first_stage(play.first_stages, first_stage),
                                       label="First stage (embedder or BM25)")
                reranker = gr.Dropdown(reranker_choices, value=default_reranker, label="Reranker")
        with gr.Row():
            k = gr.Slider(1, MAX_K, value=30, step=1, label="K: first-stage depth (documents reranked)")
            top_n = gr.Slider(1, MAX_TOP_N, value=10, step=1, label="Results to show")
        estimate_md = gr.Markdown(play.estimate_text(default_reranker, 30), elem_id="estimate")
        gr.Markdown(f"<small>{_models_note(play)}. {texts.SAMPLE_NOTE}</small>")
        search_btn = gr.Button("Search", variant="primary", elem_id="search-btn")
        with gr.Accordion("Use your own documents", open=False):
            gr.Markdown(texts.UPLOAD_HELP.format(max_documents=MAX_DOCUMENTS, max_mb=MAX_UPLOAD_BYTES // 2**20))
            pasted = gr.Textbox(label="Documents, one per line", lines=6, max_lines=12)
            upload = gr.File(label="or upload", file_types=[".txt", ".jsonl", ".csv"], type="filepath")
            load_btn = gr.Button("Use these documents")
            corpus_status = gr.Markdown()
        status = gr.Markdown(elem_id="search-status")
        results = gr.Dataframe(label="Results", wrap=True, elem_id="results", interactive=False, max_height=600)
        with gr.Row():
            timings = gr.Dataframe(label="Latency breakdown (seconds)", interactive=False, scale=1,
                                   column_widths=["70%", "30%"], elem_id="timings")
            movement = gr.Plot(label="Rank movement", scale=1, elem_id="movement-plot")

    load_btn.click(load_documents, [pasted, upload], [documents, corpus_status, corpus_mode], api_name="load_documents",
                   concurrency_limit=2)
    for comp in (reranker, k):
        comp.change(estimate, [reranker, k], estimate_md, api_name=False if comp is k else "estimate",
                    show_progress="hidden")
    inputs = [query, corpus_mode, documents, embedder, reranker, k, top_n]
    outputs = [status, results, timings, movement]
    search_btn.click(search, inputs, outputs, api_name="search", concurrency_limit=2, concurrency_id="rerank").then(
        estimate, [reranker, k], estimate_md, api_name=False, show_progress="hidden")
    query.submit(search, inputs, outputs, api_name=False, concurrency_id="rerank").then(
        estimate, [reranker, k], estimate_md, api_name=False, show_progress="hidden")
    return CorpusInputs(corpus_mode, documents)
