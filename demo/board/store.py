"""The leaderboard data the app shows: the current board from the results store, its filters, export and reload."""

from __future__ import annotations

import math
import tempfile
import threading
from pathlib import Path
from typing import Any

from ettin.pipeline import InputError
from eval import leaderboard as lb

__all__ = ["BoardStore"]


def _millions(value: Any, what: str) -> float | None:
    """A filter bound given in millions as a parameter count (``None`` or ``""``: no bound)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number of millions (e.g. 150), not {str(value)[:40]!r}") from None
    if not math.isfinite(number) or number < 0:
        raise InputError(f"{what} must be a finite number of millions, 0 or more, not {number!r}")
    return number * 1e6


class BoardStore:
    """The leaderboard built from one results store, rebuilt on :meth:`reload`.

    The first build (its bootstrap intervals take seconds) runs in a background thread, started by :meth:`start` or
    :meth:`start_after` (the app: once it serves and has loaded its start-up models, so that the build slows neither its
    start nor its first search) or else by the first read of :attr:`board`, which waits for it; :meth:`close` waits for
    it to end.

    Args:
        results_dir: The results store (default: ``eval/results``).
    """

    def __init__(self, results_dir: str | Path | None = None) -> None:
        self.results_dir = Path(results_dir) if results_dir else lb.DEFAULT_RESULTS_DIR
        self._board: lb.Leaderboard | None = None
        self._failure: BaseException | None = None
        self._first_build = threading.Thread(target=self._build_first, name="ettin-leaderboard", daemon=True)
        self._starting = threading.Lock()
        self._scheduled: threading.Thread | None = None
        self._downloads = Path(tempfile.mkdtemp(prefix="ettin-app-"))

    def start(self) -> None:
        """Start the first build in the background (again: nothing)."""
        with self._starting:
            if self._first_build.ident is None:
                self._first_build.start()

    def _build_first(self) -> None:
        try:
            self._board = lb.build_leaderboard(self.results_dir)
        except BaseException as exc:  # noqa: BLE001 - raised again to whoever reads the board
            self._failure = exc

    def start_after(self, other: threading.Thread) -> None:
        """Start the first build once ``other`` has ended (the app: its warm-up, which the first search waits for);
        readers of :attr:`board` wait until then instead of starting it."""
        def later() -> None:
            other.join()
            self.start()

        self._scheduled = threading.Thread(target=later, name="ettin-leaderboard-after", daemon=True)
        self._scheduled.start()

    def close(self, timeout: float | None = 60.0) -> None:
        """Wait up to ``timeout`` seconds for the background threads to end (the wait for the warm-up, the first build),
        so that none outlives the app."""
        for thread in (self._scheduled, self._first_build):
            if thread is not None and thread.ident is not None:
                thread.join(timeout)

    def _wait_for_first_build(self) -> None:
        if self._scheduled is not None:
            self._scheduled.join()
        else:
            self.start()
        self._first_build.join()

    @property
    def board(self) -> lb.Leaderboard:
        """The current board (waits for the first build; raises what it raised)."""
        self._wait_for_first_build()
        if self._board is None:
            raise self._failure or RuntimeError("the leaderboard was not built")
        return self._board

    def reload(self) -> None:
        """Read the results store again."""
        self._wait_for_first_build()
        self._board = lb.build_leaderboard(self.results_dir)  # one assignment: readers see the old or the new board

    @staticmethod
    def filter_kwargs(families: list[str] | None, min_m: Any, max_m: Any, sources: list[str] | None) -> dict[str, Any]:
        """The filters as :func:`eval.leaderboard.filter_frame` arguments (none ticked or empty = no filter).

        Args:
            families: Families to keep.
            min_m: Smallest parameter count in millions (``None`` or ``""``: no bound).
            max_m: Largest parameter count in millions.
            sources: ``published`` and/or ``regenerated``.

        Raises:
            InputError: a bound that is not a finite, non-negative number (NaN would silently empty every table).
        """
        return {
            "families": families or None,
            "min_params": _millions(min_m, "the smallest parameter count"),
            "max_params": _millions(max_m, "the largest parameter count"),
            "sources": sources or None,
        }

    def filtered(self, families: list[str] | None, min_m: Any, max_m: Any, sources: list[str] | None) -> tuple[Any, ...]:
        """The board and its quality, speed and ablation frames after the filters (see :meth:`filter_kwargs`)."""
        board, kw = self.board, self.filter_kwargs(families, min_m, max_m, sources)
        return (board, lb.filter_frame(board.quality, **kw), lb.filter_frame(board.speed, **kw),
                lb.filter_frame(board.ablation, **kw))  # fmt: skip

    def export(self, families: list[str] | None, min_m: Any, max_m: Any, sources: list[str] | None) -> list[str]:
        """Write the filtered quality and speed tables and the ablation as CSV and JSON into a fresh folder.

        Returns:
            The six file paths.
        """
        _, quality, speed, ablation = self.filtered(families, min_m, max_m, sources)
        folder = Path(tempfile.mkdtemp(dir=self._downloads))
        files = []
        for name, df in (("quality", quality), ("speed", speed), ("ablation", ablation)):
            csv_path, json_path = folder / f"ettin_{name}.csv", folder / f"ettin_{name}.json"
            df.to_csv(csv_path, index=False)
            json_path.write_text(lb.frame_to_json(df), encoding="utf-8")
            files += [str(csv_path), str(json_path)]
        return files
