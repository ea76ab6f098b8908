"""Progress bars: the one adapter between the project's ``progress(done, total)`` callbacks and tqdm."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["ProgressFn", "progress_bar", "progress_callback"]

ProgressFn = Callable[[int, int], None]
"""Called with (items done so far, items in all)."""


def progress_bar(*, show: bool = True, **kwargs: Any) -> Any:
    """A ``tqdm.auto`` bar (a no-op bar when ``show`` is false); use it as a context manager or close it."""
    from tqdm.auto import tqdm

    return tqdm(disable=not show, **kwargs)


@contextmanager
def progress_callback(total: int, desc: str, *, show: bool = True, unit: str = "doc", leave: bool = True) -> Iterator[ProgressFn]:
    """A tqdm bar driven by a ``progress(done, total)`` callback, closed when the block ends."""
    bar = progress_bar(show=show, total=total, desc=desc, unit=unit, leave=leave)

    def update(done: int, new_total: int) -> None:
        if new_total != bar.total:
            bar.total = new_total
        bar.n = done
        bar.refresh()

    try:
        yield update
    finally:
        bar.close()
