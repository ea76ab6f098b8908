"""The Reproduce tab: the command behind every figure, and one per regenerated retrieval result."""

from __future__ import annotations

import gradio as gr

from demo import texts
from demo.board.store import BoardStore
from ettin import registry
from ettin.published import published

__all__ = ["build", "reproduce_commands", "reproduce_markdown"]


def reproduce_commands() -> str:
    """The command behind every figure, as a Markdown table; model ids come from the registry, never typed here."""
    embedders = " ".join(registry.EMBEDDERS)
    rerankers = " ".join(m.hub_id for m in registry.RERANKERS.values())
    rows = [
        ("all leaderboard tables (CSV + JSON, intervals, comparisons)", "python -m eval leaderboard --out eval/results/leaderboard",
         "seconds"),
        ("MTEB(eng, v2) Retrieval: top-100 of the six embedders, reranked by the six sizes (the post's main table)",
         f'python -m eval mteb --benchmark "MTEB(eng, v2)" --embedders {embedders} --rerankers {rerankers}',
         "online (downloads data and models); meant for a GPU"),
        ("NanoBEIR, BM25 top-100 reranked", f"python -m eval nanobeir --reranker {registry.RERANKERS['17m'].hub_id}",
         "online; one size per run"),
        ("bundled SciFact, BM25 top-100, offline, with a 17m replica",
         "python -m ettin replica --size 17m --out models/17m && python -m eval retrieval --first-stage bm25 --reranker models/17m",
         "300 queries x 100 pairs through the replica; its scores are random: this checks the pipeline, not quality"),
        ("bundled SciFact, all-MiniLM-L6-v2 first stage, offline",
         "python -m eval retrieval --first-stage sentence-transformers/all-MiniLM-L6-v2",
         "embeds all 5,183 documents first: minutes on a 2-core CPU (cached afterwards)"),
        ("the offline distillation proof run", "python -m train scifact", "tens of minutes on 2 CPU cores"),
        ("speed per hardware and the bf16/FA2 ablation", "python -m eval speed --models 17m,32m,68m",
         "offline: add --replica"),
        ("this app with local models", "python app.py --models-dir models", "ETTIN_MODELS_DIR=models works too"),
        ("this app's latency and load numbers", "python -m demo load --models-dir models --out eval/results/app/load.json", ""),
    ]  # fmt: skip
    lines = [f"| {what} | `{command}` | {note} |" for what, command, note in rows]
    return "| figure | command | note |\n|---|---|---|\n" + "\n".join(lines)


def _regenerated_commands(embedders) -> str:
    """A table of the regenerated per-embedder results and the command behind each ("" when there are none)."""
    rows = embedders[embedders["source"] == "regenerated"]
    if rows.empty:
        return ""
    lines = [
        f"| {r.dataset}/{r.split} | {r.first_stage} | {_reranker(r.reranker)} | {r.ndcg10:.4f} | "
        f"{_interval(r)} | `{r.command}` |"
        for r in rows.itertuples()
    ]
    return ("**Regenerated retrieval results and the command for each:**\n\n"
            "| dataset | first stage | reranker | NDCG@10 | 95% interval | command |\n|---|---|---|---|---|---|\n"
            + "\n".join(lines))  # fmt: skip


def _reranker(value) -> str:
    """The reranker cell: ``— (first stage alone)`` for none (``None``, ``""`` or NaN: never ``nan``)."""
    return value if isinstance(value, str) and value else "— (first stage alone)"


def _interval(row) -> str:
    low, high = getattr(row, "ndcg10_low", None), getattr(row, "ndcg10_high", None)
    if low is None or high is None or low != low or high != high:  # NaN: a schema-1 file without per-query data
        return "—"
    return f"[{low:.4f}, {high:.4f}]"


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
        commands=reproduce_commands(),
        regenerated=_regenerated_commands(board.embedders),
    )


def build(store: BoardStore, reloaded, blocks: gr.Blocks) -> None:
    """Lay out the Reproduce tab; its text is written at page load (the board is built in the background) and again
    after ``reloaded`` (the leaderboard's reload event)."""
    with gr.Tab("Reproduce", id="reproduce"):
        markdown = gr.Markdown("Reading the results store…")
    blocks.load(lambda: reproduce_markdown(store), None, markdown, api_name=False)
    reloaded.then(lambda: reproduce_markdown(store), None, markdown, api_name=False)
