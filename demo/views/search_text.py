"""The Markdown a search shows around its results: what ran, with which precision, model card and timings; a judged
query's metrics with whether the reranker helped; and the live estimate of the rerank time. Pure text, no Gradio."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from demo import texts
from demo.search.judged import JudgedQuery, judged_metrics
from demo.sources.choices import RANDOM_BADGE, RerankerChoice

if TYPE_CHECKING:
    from demo.search.outcomes import SearchOutcome
    from demo.search.playground import Playground

__all__ = [
    "COMPILED_TEXT",
    "HUB_URL",
    "judged_text",
    "model_link",
    "model_name_for_code",
    "status_text",
]

HUB_URL = "https://huggingface.co/"


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
    runtime = getattr(outcome, "runtime", None)
    if runtime and not runtime.startswith("torch"):
        return f" on **{runtime}** ({settings.device}, an export that passed the correctness gate against torch fp32)"
    why = f", {settings.reason}" if settings.reason else ""
    where = f"; runtime: {runtime}" if runtime and runtime != "torch" else ""
    return (f" in **{settings.dtype}** on {settings.device}{why}"
            f"{COMPILED_TEXT.get(getattr(outcome, 'compiled', None), '')}{where}")


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


