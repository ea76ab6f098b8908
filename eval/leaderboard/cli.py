"""``python -m eval leaderboard``: print the leaderboard tables (published + regenerated, regenerated ones with intervals,
rank ranges and tied groups) and write them as CSV and JSON."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ettin.cli import verb
from eval.retrieval.store import DEFAULT_RESULTS_DIR

if TYPE_CHECKING:
    from eval.leaderboard.board import Leaderboard

__all__ = ["leaderboard"]


_HIDDEN = {"provenance", "rank_best", "rank_worst", "scope", "interval", "command"}


def _print(board: Leaderboard, top: int) -> None:
    import pandas as pd

    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.max_colwidth", 48):
        for name, df in board.tables().items():
            print(f"\n== {name} ({len(df)} rows) ==")
            hidden = _HIDDEN - ({"scope"} if "dataset" not in df else set())
            view = df[[c for c in df.columns if c not in hidden]]
            if "ndcg10" in view:
                view = view.sort_values(["ndcg10"], ascending=False)
            elif "pairs_per_s" in view:
                view = view.sort_values(["hardware", "pairs_per_s"], ascending=[True, False])
            print(view.head(top).to_string(index=False))
    _print_uncertainty(board)
    for note in board.notes:
        print(f"note: {note}")
    for err in board.errors:
        print(f"skipped: {err}")


def _print_uncertainty(board: Leaderboard) -> None:
    """Each regenerated system's NDCG@10 with its interval and rank range, and the tied groups."""
    regen = board.embedders[board.embedders["source"] == "regenerated"]
    if regen.empty:
        return
    stats = board.statistics
    print(f"\n== regenerated NDCG@10, {round(100 * stats['confidence_level'])}% bootstrap intervals "
          f"({stats['n_resamples']:,} resamples of the queries, seed {stats['seed']}; paired for gains); ranks: {stats['test']}, "
          f"{stats['correction']}-corrected, alpha {stats['alpha']} ==")
    for r in regen.sort_values(["scope", "ndcg10"], ascending=[True, False]).itertuples():
        interval = f"[{r.ndcg10_low:.4f}, {r.ndcg10_high:.4f}]" if r.ndcg10_low == r.ndcg10_low else "[no interval]"
        gain = ""
        if r.gain == r.gain:
            gain = f"  gain {r.gain:+.4f} [{r.gain_low:+.4f}, {r.gain_high:+.4f}] p_holm={r.gain_p_holm:.4g}"
        print(f"{r.scope:<18} rank {r.rank:<6} {r.ndcg10:.4f} {interval}  {r.system}{gain}")
    groups = board.tied_groups()
    for scope, found in groups.items():
        for names in found:
            print(f"tied ({scope}): {' | '.join(names)}")
    if not groups:
        print("tied groups: none (no two regenerated systems share one rank range)")


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results-dir", default=str(DEFAULT_RESULTS_DIR), help="results store (default: eval/results)")
    p.add_argument("--out", default=None,
                   help="folder to write quality/embedders/speed/ablation/comparisons .csv and .json")
    p.add_argument("--family", action="append", help="keep only this family (Ettin, teacher, an organisation); repeatable")
    p.add_argument("--top", type=int, default=30, help="rows printed per table")


@verb(
    "leaderboard",
    help="build the leaderboard tables (published + regenerated), print them, write CSV/JSON",
    arguments=_arguments,
    description="Published figures plus the results store; random-init quality results are refused. Regenerated results\n"
    "with per-query scores get 95% bootstrap intervals (queries resampled; paired for gains), paired t-tests between two systems on\n"
    "the queries both have (Holm-corrected) and rank ranges: systems no test separates share a range such as 2–4; rows\n"
    "without a test between them (no per-query scores) are ordered by their means.",
)
def leaderboard(args: argparse.Namespace) -> int:
    from eval.leaderboard.board import build_leaderboard, filter_frame, ranked, write_tables

    board = build_leaderboard(args.results_dir)
    if args.family:
        board.quality = ranked(filter_frame(board.quality, families=args.family), board.comparisons)
        board.embedders = ranked(filter_frame(board.embedders, families=args.family), board.comparisons)
        board.speed = filter_frame(board.speed, families=args.family)
        board.ablation = filter_frame(board.ablation, families=args.family)
    _print(board, args.top)
    if args.out:
        for path in write_tables(board, args.out):
            print(f"wrote {path}")
    return 0
