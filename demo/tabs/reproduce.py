"""The Reproduce tab: the command behind every figure, and one per regenerated retrieval result."""

from __future__ import annotations

import gradio as gr

from demo import texts
from demo.board import BoardStore
from ettin.published import published

__all__ = ["build", "reproduce_markdown"]


def _regenerated_commands(embedders) -> str:
    """A table of the regenerated per-embedder results and the command behind each ("" when there are none)."""
    rows = embedders[embedders["source"] == "regenerated"]
    if rows.empty:
        return ""
    lines = [
        f"| {r.dataset}/{r.split} | {r.first_stage} | {r.reranker or 'retriever only'} | {r.ndcg10:.4f} | `{r.command}` |"
        for r in rows.itertuples()
    ]
    return ("**Regenerated retrieval results and the command for each:**\n\n"
            "| dataset | first stage | reranker | NDCG@10 | command |\n|---|---|---|---|---|\n" + "\n".join(lines))


def reproduce_markdown(store: BoardStore) -> str:
    """The tab's Markdown for the board as it is now."""
    board, source = store.board, published().source
    return texts.REPRODUCE.format(
        title=source.title,
        url=source.url,
        date=source.date,
        n_quality=int((board.quality["source"] == "regenerated").sum()),
        n_speed=int((board.speed["source"] == "regenerated").sum()),
        refused=board.refused_random_init,
        commands=texts.REPRODUCE_COMMANDS,
        regenerated=_regenerated_commands(board.embedders),
    )


def build(store: BoardStore, reloaded) -> None:
    """Lay out the Reproduce tab; its text is rebuilt after ``reloaded`` (the leaderboard's reload event)."""
    with gr.Tab("Reproduce", id="reproduce"):
        markdown = gr.Markdown(reproduce_markdown(store))
    reloaded.then(lambda: reproduce_markdown(store), None, markdown, api_name=False)
