"""The tables the app shows, as pandas frames: search results, rank movement, latency breakdown, all-sizes comparison,
the judged-query metrics of a search, and the leaderboard's tables as sortable styled frames."""

from __future__ import annotations

from typing import TYPE_CHECKING

from demo.agreement import kendall_tau, overlap_at_k
from demo.choices import RANDOM_BADGE

if TYPE_CHECKING:
    import pandas as pd

    from demo.playground import CompareOutcome, SearchOutcome

__all__ = [
    "ABLATION_TABLE",
    "EMBEDDER_TABLE",
    "QUALITY_TABLE",
    "SPEED_TABLE",
    "board_table",
    "compare_frame",
    "movement_frame",
    "results_frame",
    "timings_frame",
]

# (frame column, header shown) of the leaderboard tables; "rank" shows rank_best's rank range, params as 17.6M / 1.00B
QUALITY_TABLE = [("rank_best", "rank"), ("model", "model"), ("family", "family"), ("params", "params"),
                 ("ndcg10", "NDCG@10"), ("ndcg10_low", "95% low"), ("ndcg10_high", "95% high"), ("tied_with", "tied with"),
                 ("source", "source"), ("note", "note")]  # fmt: skip
EMBEDDER_TABLE = [("rank_best", "rank"), ("first_stage", "first stage"), ("reranker", "reranker"), ("params", "params"),
                  ("ndcg10", "NDCG@10"), ("ndcg10_low", "95% low"), ("ndcg10_high", "95% high"),
                  ("gain", "gain"), ("gain_low", "gain low"), ("gain_high", "gain high"),
                  ("gain_p_holm", "p Holm"), ("tied_with", "tied with"), ("n_queries", "queries"),
                  ("source", "source")]  # fmt: skip
SPEED_TABLE = [("model", "model"), ("family", "family"), ("size", "size"), ("params", "params"),
               ("pairs_per_s", "pairs/s"), ("config", "config"), ("batch_size", "batch size"), ("source", "source"),
               ("label", "label")]  # fmt: skip
ABLATION_TABLE = [("hardware", "hardware"), ("size", "size"), ("params", "params"), ("config", "config"),
                  ("pairs_per_s", "pairs/s"), ("peak_gb", "peak GB"), ("source", "source"), ("label", "label")]  # fmt: skip
_SCORES = {"ndcg10", "ndcg10_low", "ndcg10_high", "gain", "gain_low", "gain_high"}

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


def board_table(df: pd.DataFrame, columns: list[tuple[str, str]], sort_by: str | None = "ndcg10"):
    """A leaderboard frame as a pandas Styler the app's table sorts by value but shows formatted.

    Values stay numbers (so a click on a header sorts numerically); the Styler only changes what is shown: the rank as
    its range ("2–4"), parameters as 17.6M / 1.00B, scores with 4 decimals and "—" where there is no interval.

    Args:
        df: A ranked quality or embedders frame.
        columns: (frame column, header) pairs to show, in order.
        sort_by: The column the rows start sorted by (descending); None keeps the frame's order.
    """
    import pandas as pd

    from eval.leaderboard import format_params

    d = df.sort_values(sort_by, ascending=False) if sort_by is not None and sort_by in df else df
    d = d.reset_index(drop=True)
    present = [(c, h) for c, h in columns if c in d]
    view = pd.DataFrame({h: d[c] for c, h in present})
    if "reranker" in d:
        view[dict(present).get("reranker", "reranker")] = d["reranker"].fillna("— (first stage alone)")
    styler = view.style
    for column, header in present:
        if column in _SCORES:
            styler = styler.format("{:+.4f}" if column.startswith("gain") else "{:.4f}", subset=[header], na_rep="—")
        elif column == "gain_p_holm":
            styler = styler.format("{:.3g}", subset=[header], na_rep="—")
        elif column == "params":
            styler = styler.format(format_params, subset=[header])
        elif column in ("pairs_per_s", "peak_gb"):
            styler = styler.format("{:,.1f}", subset=[header], na_rep="—")
    if "rank_best" in d and "rank" in d:
        for i, text in enumerate(d["rank"]):
            styler = styler.format(lambda _, text=text: text, subset=pd.IndexSlice[[i], ["rank"]])
    return styler
