"""The parameters a search or a comparison takes, their bounds and their checks: depths, result counts, precision and
the compile mode, and the app's time limit on a rerank."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ettin.pipeline import InputError, whole_number
from ettin.runtime import COMPILE_MODES

__all__ = [
    "COMPILE_MODES",
    "DEFAULT_MAX_RERANK_SECONDS",
    "MAX_K",
    "MAX_TOP_N",
    "PRECISIONS",
    "ProgressFn",
    "check_params",
    "compile_mode",
    "validate_precision",
]

MAX_K = 200
MAX_TOP_N = 50
DEFAULT_MAX_RERANK_SECONDS = float(os.environ.get("ETTIN_MAX_RERANK_SECONDS", "60"))
PRECISIONS = ("auto", "bf16", "fp32")  # what a reranker may be asked to run in (ettin.runtime.best_settings)

ProgressFn = Callable[[float, str], None]


def validate_precision(precision: Any) -> str:
    """``precision`` when it is one of :data:`PRECISIONS`.

    Raises:
        InputError: anything else, naming the allowed values.
    """
    if not isinstance(precision, str) or precision.strip().lower() not in PRECISIONS:
        shown = repr(precision)[:40]
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, not {shown}")
    return precision.strip().lower()


def compile_mode(value: str | None = None) -> str:
    """The compile mode asked for (``value``, else ``$ETTIN_COMPILE``, else ``auto``), checked.

    Raises:
        InputError: a value not in :data:`COMPILE_MODES`, naming the allowed ones.
    """
    mode = (value if value is not None else os.environ.get("ETTIN_COMPILE", "auto")).strip().lower()
    if mode not in COMPILE_MODES:
        raise InputError(f"compile must be one of {', '.join(COMPILE_MODES)} (--compile or $ETTIN_COMPILE), not {mode[:40]!r}")
    return mode


def check_params(k: Any, top_n: Any) -> tuple[int, int]:
    """``k`` (first-stage depth, 1 to :data:`MAX_K`) and ``top_n`` (results, 1 to :data:`MAX_TOP_N`), whole numbers.

    Raises:
        InputError: either is not a whole number within its bounds.
    """
    return whole_number(k, "K (first-stage depth)", 1, MAX_K), whole_number(top_n, "the number of results", 1, MAX_TOP_N)
