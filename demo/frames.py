"""The tables the app shows, as pandas frames: search results, rank movement, latency breakdown, all-sizes comparison."""

from __future__ import annotations

from typing import TYPE_CHECKING

from demo.agreement import kendall_tau, overlap_at_k
from demo.choices import RANDOM_BADGE

if TYPE_CHECKING:
    import pandas as pd

    from demo.playground import CompareOutcome, SearchOutcome

__all__ = ["compare_frame", "movement_frame", "results_frame", "timings_frame"]

RESULT_COLUMNS = ["rank", "first_stage_rank", "movement", "rerank_score", "first_stage_score", "doc_id", "relevant",
                  "title", "snippet"]  # fmt: skip


def _arrow(hit) -> str:
    """``↑ n`` / ``↓ n`` / ``=`` for a reranked hit, ``–`` when nothing was reranked."""
    if hit.rerank_rank is None:
        return "–"
    moved = hit.movement
    return "=" if moved == 0 else (f"↑ {moved}" if moved > 0 else f"↓ {-moved}")


def results_frame(outcome: SearchOutcome, relevant: set[str] | None = None) -> pd.DataFrame:
    """The search results: final rank, first-stage rank, movement, scores, title and snippet.

    Args:
        outcome: The search.
        relevant: Ids judged relevant to the query (fills the ``relevant`` column); ``None`` leaves it empty.
    """
    import pandas as pd

    records = [
        {
            "rank": h.final_rank,
            "first_stage_rank": h.first_stage_rank,
            "movement": _arrow(h),
            "rerank_score": None if h.rerank_score is None else round(h.rerank_score, 4),
            "first_stage_score": round(h.first_stage_score, 4),
            "doc_id": h.doc_id,
            "relevant": ("yes" if h.doc_id in relevant else "") if relevant is not None else "",
            "title": h.title,
            "snippet": h.text[:200] + ("…" if len(h.text) > 200 else ""),
        }
        for h in outcome.result.hits
    ]
    return pd.DataFrame.from_records(records, columns=RESULT_COLUMNS)


def movement_frame(outcome: SearchOutcome) -> pd.DataFrame:
    """Every reranked candidate: first-stage rank, final rank, whether it made the shown top."""
    import pandas as pd

    shown = {h.doc_id for h in outcome.result.hits}
    records = [
        {
            "doc_id": h.doc_id,
            "title": h.title or h.text[:60],
            "first_stage_rank": h.first_stage_rank,
            "final_rank": h.final_rank,
            "shown": h.doc_id in shown,
        }
        for h in outcome.result.candidates
    ]
    return pd.DataFrame.from_records(records, columns=["doc_id", "title", "first_stage_rank", "final_rank", "shown"])


def timings_frame(outcome: SearchOutcome) -> pd.DataFrame:
    """Seconds per stage of one search, setup first and the total (without setup) last."""
    import pandas as pd

    t = outcome.timings
    rows = [
        ("setup (load models, index/embed corpus)", t["setup_s"]),
        ("embed query", t["embed_query_s"]),
        ("first-stage search", t["search_s"]),
        ("rerank", t["rerank_s"]),
        ("search total (excl. setup)", t["total_s"]),
    ]
    return pd.DataFrame({"stage": [r[0] for r in rows], "seconds": [round(r[1], 4) for r in rows]})


def compare_frame(outcome: CompareOutcome, top: int = 5) -> pd.DataFrame:
    """One row per reranker: time, live pairs/s, top-``top`` titles, overlap@top and Kendall tau vs the reference."""
    import pandas as pd

    ref = next((r for r in outcome.rows if r.choice.key == outcome.reference), None)
    records = []
    for r in outcome.rows:
        overlap = tau = float("nan")
        if ref is not None:
            overlap = overlap_at_k(r.top, ref.top, top)
            shared = [d for d in outcome.candidates if d in r.scores and d in ref.scores]
            tau = kendall_tau([r.scores[d] for d in shared], [ref.scores[d] for d in shared])
        records.append(
            {
                "reranker": r.choice.key + (f" ({RANDOM_BADGE})" if r.choice.random_init else ""),
                "parameters": r.choice.parameters,
                "rerank_s": round(r.seconds, 3),
                "pairs_per_s": round(r.pairs_per_s, 1),
                f"overlap@{top}": round(overlap, 3),
                "kendall_tau": round(tau, 3),
                f"top-{top}": " | ".join(t[:60] for t in r.titles[:top]),
            }
        )
    return pd.DataFrame.from_records(records)
