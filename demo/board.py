"""The leaderboard data the app shows: the current board from the results store, its filters, export and reload."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from eval import leaderboard as lb

__all__ = ["BoardStore"]


class BoardStore:
    """The leaderboard built from one results store, rebuilt on :meth:`reload`.

    Args:
        results_dir: The results store (default: ``eval/results``).
    """

    def __init__(self, results_dir: str | Path | None = None) -> None:
        self.results_dir = Path(results_dir) if results_dir else lb.DEFAULT_RESULTS_DIR
        self.board = lb.build_leaderboard(self.results_dir)
        self._downloads = Path(tempfile.mkdtemp(prefix="ettin-app-"))

    def reload(self) -> None:
        """Read the results store again."""
        self.board = lb.build_leaderboard(self.results_dir)  # one assignment: readers see the old or the new board

    def filtered(self, families: list[str] | None, min_m: Any, max_m: Any, sources: list[str] | None) -> tuple[Any, Any, Any]:
        """The board and its quality and speed frames after the filters (none ticked or empty = no filter).

        Args:
            families: Families to keep.
            min_m: Smallest parameter count in millions (``None`` or ``""``: no bound).
            max_m: Largest parameter count in millions.
            sources: ``published`` and/or ``regenerated``.
        """
        board = self.board
        kw = {
            "families": families or None,
            "min_params": None if min_m in (None, "") else float(min_m) * 1e6,
            "max_params": None if max_m in (None, "") else float(max_m) * 1e6,
            "sources": sources or None,
        }
        return board, lb.filter_frame(board.quality, **kw), lb.filter_frame(board.speed, **kw)

    def export(self, families: list[str] | None, min_m: Any, max_m: Any, sources: list[str] | None) -> list[str]:
        """Write the filtered quality and speed tables and the ablation as CSV and JSON into a fresh folder.

        Returns:
            The six file paths.
        """
        board, quality, speed = self.filtered(families, min_m, max_m, sources)
        folder = Path(tempfile.mkdtemp(dir=self._downloads))
        files = []
        for name, df in (("quality", quality), ("speed", speed), ("ablation", board.ablation)):
            csv_path, json_path = folder / f"ettin_{name}.csv", folder / f"ettin_{name}.json"
            df.to_csv(csv_path, index=False)
            json_path.write_text(lb.frame_to_json(df), encoding="utf-8")
            files += [str(csv_path), str(json_path)]
        return files
