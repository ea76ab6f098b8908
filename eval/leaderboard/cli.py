"""``python -m eval leaderboard``: print the leaderboard tables (published + regenerated) and write them as CSV and JSON."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ettin.cli import verb
from eval.retrieval.store import DEFAULT_RESULTS_DIR

if TYPE_CHECKING:
    from eval.leaderboard.data import Leaderboard

__all__ = ["leaderboard"]


def _print(board: Leaderboard, top: int) -> None:
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_colwidth", 50):
        for name, df in board.tables().items():
            print(f"\n== {name} ({len(df)} rows) ==")
            cols = [c for c in df.columns if c != "provenance"]
            view = df[cols]
            if "ndcg10" in view:
                view = view.sort_values(["ndcg10"], ascending=False)
            elif "pairs_per_s" in view:
                view = view.sort_values(["hardware", "pairs_per_s"], ascending=[True, False])
            print(view.head(top).to_string(index=False))
    for note in board.notes:
        print(f"note: {note}")
    for err in board.errors:
        print(f"skipped: {err}")


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results-dir", default=str(DEFAULT_RESULTS_DIR), help="results store (default: eval/results)")
    p.add_argument("--out", default=None, help="folder to write quality/embedders/speed/ablation .csv and .json")
    p.add_argument("--family", action="append", help="keep only this family (Ettin, teacher, an organisation); repeatable")
    p.add_argument("--top", type=int, default=30, help="rows printed per table")


@verb(
    "leaderboard",
    help="build the leaderboard tables (published + regenerated), print them, write CSV/JSON",
    arguments=_arguments,
    description="Published figures plus the results store; random-init quality results are refused.",
)
def leaderboard(args: argparse.Namespace) -> int:
    from eval.leaderboard.data import build_leaderboard, filter_frame, write_tables

    board = build_leaderboard(args.results_dir)
    if args.family:
        board.quality = filter_frame(board.quality, families=args.family)
        board.speed = filter_frame(board.speed, families=args.family)
        board.embedders = filter_frame(board.embedders, families=args.family)
    _print(board, args.top)
    if args.out:
        for path in write_tables(board, args.out):
            print(f"wrote {path}")
    return 0
