"""The leaderboard's tables as sortable styled frames: which columns each table shows, under which header (readable
words with units, never the frame's raw column names), how its values are formatted, and the legend that explains the
headers and the blanks (moved here from the search's :mod:`demo.views.frames`).

The frames and the files ``python -m eval leaderboard`` writes keep their column names (``pairs_per_s``, ``ndcg10_low``
…); only what the app shows is renamed here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ABLATION_TABLE",
    "BLANK",
    "EMBEDDER_TABLE",
    "QUALITY_TABLE",
    "SPEED_TABLE",
    "SYSTEM_LEGEND",
    "board_table",
    "table_legend",
]

BLANK = "—"
"""What a cell without a value shows (never ``nan``); :func:`table_legend` says why a column can be blank."""
SYSTEM_LEGEND = (
    "A system is a first stage that retrieves the top 100 and a reranker that reorders them; "
    "`bm25 » student-scifact` reads *BM25 retrieves, student-scifact reranks*; a first stage alone is shown by its "
    "name."
)

# (frame column, header shown) of the leaderboard tables; "rank" shows rank_best's rank range, params as 16.9M / 1.03B
QUALITY_TABLE = [("rank_best", "Rank"), ("model", "Model"), ("family", "Family"), ("params", "Parameters"),
                 ("ndcg10", "NDCG@10"), ("ndcg10_low", "95% CI low"), ("ndcg10_high", "95% CI high"),
                 ("tied_with", "Tied with"), ("source", "Source"), ("note", "Note")]  # fmt: skip
EMBEDDER_TABLE = [("rank_best", "Rank"), ("first_stage", "First stage"), ("reranker", "Reranker"),
                  ("params", "Parameters"), ("ndcg10", "NDCG@10"), ("ndcg10_low", "95% CI low"),
                  ("ndcg10_high", "95% CI high"), ("gain", "Gain"), ("gain_low", "Gain CI low"),
                  ("gain_high", "Gain CI high"), ("gain_p_holm", "p (Holm)"), ("tied_with", "Tied with"),
                  ("n_queries", "Queries"), ("source", "Source")]  # fmt: skip
SPEED_TABLE = [("model", "Model"), ("family", "Family"), ("size", "Ettin size"), ("params", "Parameters"),
               ("pairs_per_s", "Pairs per second"), ("config", "Configuration"), ("batch_size", "Batch size"),
               ("source", "Source"), ("label", "Measured on")]  # fmt: skip
ABLATION_TABLE = [("hardware", "Hardware"), ("size", "Ettin size"), ("params", "Parameters"),
                  ("config", "Configuration"), ("pairs_per_s", "Pairs per second"), ("peak_gb", "Peak memory (GB)"),
                  ("source", "Source"), ("label", "Measured on")]  # fmt: skip
_SCORES = {"ndcg10", "ndcg10_low", "ndcg10_high", "gain", "gain_low", "gain_high"}
_NUMBERS = {*_SCORES, "gain_p_holm", "params", "pairs_per_s", "peak_gb", "n_queries", "batch_size"}
_FIRST_STAGE_ALONE = f"{BLANK} (first stage alone)"

# header -> what it means and why it can be blank (the legend under each table)
_EXPLAINED = {
    "Rank": "systems no significance test separates share a rank range (2–4)",
    "Parameters": f"the registry's exact count for Ettin models, the post's for the others; {BLANK}: no count known "
                  "(a first stage alone, or a reranker trained here)",
    "NDCG@10": "mean over the queries, 0–1, higher is better",
    "95% CI low": f"bounds of the 95% bootstrap confidence interval; {BLANK}: published rows (the post gives none) or "
                  "results without per-query scores",
    "Gain": f"NDCG@10 over the first stage alone, with its paired 95% interval; {BLANK}: not a reranked system",
    "p (Holm)": f"paired test of the gain, Holm-corrected over the rows shown; {BLANK}: no gain to test",
    "Tied with": "the systems no test separates from this one",
    "Queries": f"queries averaged; {BLANK}: published rows (the post does not say)",
    "Ettin size": f"{BLANK}: not an Ettin reranker",
    "Pairs per second": "(query, document) pairs scored per second, higher is faster",
    "Batch size": f"{BLANK}: published rows (the post does not say)",
    "Peak memory (GB)": f"peak accelerator memory; {BLANK}: not measured",
}  # fmt: skip


def table_legend(columns: list[tuple[str, str]], systems: bool = False) -> str:
    """The Markdown legend of one table: what its headers mean and why a cell can show ``—``.

    Args:
        columns: The table's (frame column, header) pairs (:data:`QUALITY_TABLE` …).
        systems: Also explain ``first stage » reranker`` (:data:`SYSTEM_LEGEND`).
    """
    headers = [h for _, h in columns]
    parts = [f"**{h}**: {_EXPLAINED[h]}" for h in headers if h in _EXPLAINED]
    text = "; ".join(parts) + "."
    return f"{SYSTEM_LEGEND} {text}" if systems else text


def _frame_view(df: pd.DataFrame, columns: list[tuple[str, str]]) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """The columns shown, under their headers, with text blanks filled (numbers stay numbers, for sorting)."""
    import pandas as pd

    present = [(c, h) for c, h in columns if c in df]
    view = pd.DataFrame({h: df[c] for c, h in present})
    for column, header in present:
        if column == "reranker":
            view[header] = df[column].where(df[column].notna() & (df[column] != ""), _FIRST_STAGE_ALONE)
        elif column in _NUMBERS:
            view[header] = pd.to_numeric(df[column], errors="coerce")
        elif column != "rank_best":
            view[header] = df[column].astype(object).where(df[column].notna(), BLANK)
    return view, present


def board_table(df: pd.DataFrame, columns: list[tuple[str, str]], sort_by: str | None = "ndcg10"):
    """A leaderboard frame as a pandas Styler the app's table sorts by value but shows formatted.

    Values stay numbers (so a click on a header sorts numerically); the Styler only changes what is shown: the rank as
    its range ("2–4"), parameters as 16.9M / 1.03B, scores with 4 decimals and :data:`BLANK` wherever there is no value
    (never ``nan``).

    Args:
        df: A ranked quality or embedders frame, or a speed or ablation frame.
        columns: (frame column, header) pairs to show, in order.
        sort_by: The column the rows start sorted by (descending); None keeps the frame's order.
    """
    import pandas as pd

    from eval.leaderboard import format_params

    d = df.sort_values(sort_by, ascending=False) if sort_by is not None and sort_by in df else df
    d = d.reset_index(drop=True)
    view, present = _frame_view(d, columns)
    styler = view.style.format(na_rep=BLANK)
    for column, header in present:
        if column in _SCORES:
            styler = styler.format("{:+.4f}" if column.startswith("gain") else "{:.4f}", subset=[header], na_rep=BLANK)
        elif column == "gain_p_holm":
            styler = styler.format("{:.3g}", subset=[header], na_rep=BLANK)
        elif column == "params":
            styler = styler.format(lambda v: format_params(v) or BLANK, subset=[header])
        elif column in ("pairs_per_s", "peak_gb"):
            styler = styler.format("{:,.1f}", subset=[header], na_rep=BLANK)
        elif column in ("n_queries", "batch_size"):
            styler = styler.format("{:,.0f}", subset=[header], na_rep=BLANK)
    rank = dict(present).get("rank_best")
    if rank is not None and "rank" in d:
        for i, text in enumerate(d["rank"]):
            styler = styler.format(lambda _, text=text: text or BLANK, subset=pd.IndexSlice[[i], [rank]])
    return styler
