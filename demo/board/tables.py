"""The leaderboard's tables as sortable styled frames: which columns each table shows, under which header, and how its
values are formatted (moved here from the search's :mod:`demo.views.frames`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ABLATION_TABLE", "EMBEDDER_TABLE", "QUALITY_TABLE", "SPEED_TABLE", "board_table"]

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
