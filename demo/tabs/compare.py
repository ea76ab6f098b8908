"""The Compare sizes tab: one query, every chosen reranker over the same candidates, time and agreement per size."""

from __future__ import annotations

import gradio as gr

from demo import texts
from demo.choices import RANDOM_BADGE, default_first_stage
from demo.frames import compare_frame
from demo.guard import guard
from demo.playground import MAX_K, CompareOutcome, Playground
from demo.tabs.search import CorpusInputs, corpus_for

__all__ = ["build", "status_text"]


def status_text(outcome: CompareOutcome) -> str:
    """The Markdown above the comparison: what ran, the agreement reference, replica warning, skipped sizes."""
    lines = [
        f"Top {len(outcome.candidates)} of **{outcome.first_stage}** reranked by {len(outcome.rows)} model(s); agreement "
        f"is measured against the largest that ran: **{outcome.reference or '—'}**. Throughput is measured live on this "
        "machine."
    ]
    if any(r.choice.random_init for r in outcome.rows):
        lines.append(f"⚠️ Replicas carry **{RANDOM_BADGE}**: their agreement numbers only show that random models disagree.")
    lines += [f"- skipped {s}" for s in outcome.skipped]
    return "\n".join(lines)


def build(play: Playground, corpus: CorpusInputs, first_stage: str | None = None) -> None:
    """Lay out the Compare sizes tab and wire its button (the corpus is the one chosen on the Search tab).

    Args:
        play: The playground that runs the comparison.
        corpus: The Search tab's corpus components.
        first_stage: First stage selected at start.
    """

    @guard
    def compare(query, mode, user_corpus, embedder, rerankers, k, progress=gr.Progress()):
        out = play.compare(query, corpus_for(mode, user_corpus), embedder, rerankers or None, int(k),
                           progress=lambda frac, desc: progress(frac, desc=desc))
        return status_text(out), compare_frame(out)

    with gr.Tab("Compare sizes", id="compare"):
        gr.Markdown(texts.COMPARE_HELP)
        with gr.Row():
            query = gr.Textbox(label="Query", lines=2, scale=2)
            with gr.Column(scale=1):
                embedder = gr.Dropdown([(c.label, c.key) for c in play.first_stages],
                                       value=default_first_stage(play.first_stages, first_stage), label="First stage")
                k = gr.Slider(1, MAX_K, value=20, step=1, label="K")
        rerankers = gr.CheckboxGroup(
            [(c.label, c.key) for c in play.rerankers],
            value=[c.key for c in play.rerankers if not c.key.startswith("cross-encoder/")],
            label="Rerankers (corpus: as chosen on the Search tab)",
        )
        button = gr.Button("Compare", variant="primary")
        status = gr.Markdown()
        table = gr.Dataframe(label="Per reranker", wrap=True, interactive=False)
    button.click(compare, [query, corpus.mode, corpus.documents, embedder, rerankers, k], [status, table],
                 api_name="compare", concurrency_limit=1)
