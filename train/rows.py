"""The trainer's rows: a training table's needed columns, memory-mapped, a seeded sample of them, and the seeded row hold-out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from train.tables import TrainDataError, read_dataset

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "TRAIN_COLUMNS",
    "load_training_table",
    "sample_rows",
    "training_rows",
    "holdout_rows",
    "holdout_mask",
    "holdout_dataset",
]

TRAIN_COLUMNS = ("query", "document", "score")


def load_training_table(path: str, max_rows: int | None = None, seed: int = 12, columns: Sequence[str] = TRAIN_COLUMNS):
    """The ``columns`` of a training file or folder as a memory-mapped ``datasets.Dataset`` (other columns are never read).

    See :func:`train.tables.read_dataset`: memory stays flat however many rows there are. ``max_rows`` keeps a seeded
    random sample of that many rows (in file order), never the first rows.

    Raises:
        TrainDataError: unreadable file, missing columns, no rows, ``max_rows`` below 1.
    """
    import datasets

    dataset = read_dataset(path, columns)
    if "score" in columns and dataset.features["score"] != datasets.Value("float32"):
        dataset = dataset.cast_column("score", datasets.Value("float32"))
    if max_rows is not None:
        if max_rows < 1:
            raise TrainDataError("--max-rows must be at least 1")
        if dataset.num_rows > max_rows:
            dataset = dataset.select(sample_rows(dataset.num_rows, max_rows, seed))
    if dataset.num_rows == 0:
        raise TrainDataError(f"{path}: no training rows")
    return dataset


def sample_rows(num_rows: int, size: int, seed: int) -> list[int]:
    """A seeded random sample of ``size`` of ``num_rows`` row positions, in ascending order."""
    return np.sort(np.random.default_rng(seed).choice(num_rows, size=size, replace=False)).tolist()


def holdout_rows(table: pa.Table, n: int, seed: int = 12) -> tuple[pa.Table, pa.Table | None]:
    """``(training rows, n held-out rows)``: a seeded random draw of ``n`` rows for the trainer's ``eval_dataset`` (as the
    post passes one); ``(table, None)`` when ``n`` is 0.

    Raises:
        TrainDataError: ``n`` negative, or not fewer than the rows.
    """
    import pyarrow as pa

    if n == 0:
        return table, None
    held = holdout_mask(table.num_rows, n, seed)
    return table.filter(pa.array(~held)), table.filter(pa.array(held))


def holdout_mask(num_rows: int, n: int, seed: int = 12) -> np.ndarray:
    """The seeded draw of :func:`holdout_rows`: a boolean mask with ``n`` of ``num_rows`` rows set.

    Raises:
        TrainDataError: ``n`` negative, or not fewer than the rows.
    """
    if n < 0 or n >= num_rows:
        raise TrainDataError(f"--eval-rows {n}: need 0 <= N < the {num_rows:,} training rows")
    held = np.zeros(num_rows, dtype=bool)
    held[np.random.default_rng(seed).choice(num_rows, size=n, replace=False)] = True
    return held


def training_rows(path: str, loss_name: str, max_rows: int | None = None, seed: int = 12):
    """The trainer's rows, memory-mapped: teacher-scored pairs (``mse``), label pairs (``bce``) or one list per query
    (listwise)."""
    columns = TRAIN_COLUMNS if loss_name == "mse" else ("query", "document", "label") if loss_name == "bce" else ("query", "docs", "labels")
    return load_training_table(path, max_rows, seed=seed, columns=columns)


def holdout_dataset(rows: Any, n: int, seed: int) -> tuple[Any, Any]:
    """``(training rows, n held-out rows)`` of a ``datasets.Dataset`` (the draw of :func:`holdout_mask`; ``fit --eval-rows``)."""
    if n == 0:
        return rows, None
    held = holdout_mask(rows.num_rows, n, seed)
    return rows.select(np.flatnonzero(~held)), rows.select(np.flatnonzero(held))
