"""The parameters a search or a comparison takes, their bounds and their checks: depths, result counts, precision and
the compile mode, and the app's time limit on a rerank; and the checks every API parameter's payload passes first (a
number in its range, one or some of the allowed choices, a flag, a text), each refusal naming the parameter and what it
allows (:mod:`demo.tabs.components` runs them before Gradio's own preprocessing)."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
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
    "ParameterError",
    "check_choice",
    "check_choices",
    "check_flag",
    "check_number",
    "check_params",
    "check_text",
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


class ParameterError(InputError):
    """An API parameter's payload of the wrong type or outside what it allows; the message starts with the parameter's
    name (as the REST routes' messages do) and says what it allows."""


def shown(value: Any) -> str:
    """``value`` as a refusal quotes it: ``null``, ``NaN``, ``inf``, a short repr, or the type of a container."""
    if value is None:
        return "null"
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (list, tuple, dict, set)):
        return f"a {'list' if isinstance(value, (tuple, set)) else type(value).__name__}"
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


def _refuse(param: str, what: str, allows: str, value: Any) -> ParameterError:
    return ParameterError(f"{param}: {what} must be {allows}, not {shown(value)}")


def _listed(values: Sequence[Any], most: int = 12) -> str:
    items = [repr(v) for v in values[:most]] + ([f"… ({len(values) - most} more)"] if len(values) > most else [])
    return ", ".join(items) or "(none offered now)"


def check_number(value: Any, param: str, what: str, low: float | None = None, high: float | None = None,
                 whole: bool = False, nullable: bool = False) -> float | int | None:  # fmt: skip
    """``value`` when it is a finite number within ``[low, high]`` (a whole one when ``whole``; ``None`` when
    ``nullable``).

    Raises:
        ParameterError: a wrong type (a string, a bool, a list, null), NaN, inf, a fraction or a number out of range.
    """
    if value is None and nullable:
        return None
    if whole and low is not None and high is not None:
        try:
            return whole_number(value, what, int(low), int(high))
        except InputError as exc:
            raise ParameterError(f"{param}: {exc}") from None
    bounds = f" between {low:g} and {high:g}" if low is not None and high is not None else (
        f" of {low:g} or more" if low is not None else (f" of {high:g} or less" if high is not None else ""))
    allows = f"a finite number{bounds}" + (" (or null: none)" if nullable else "")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _refuse(param, what, allows, value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise _refuse(param, what, allows, value)
    return value


def check_choice(value: Any, param: str, what: str, allowed: Sequence[Any], nullable: bool = False) -> Any:
    """``value`` when it is one of ``allowed`` (or ``None`` when ``nullable``).

    Raises:
        ParameterError: anything else (a list, a number for a text choice, an unknown name), listing the allowed ones.
    """
    if value is None and nullable:
        return None
    if isinstance(value, (list, tuple, dict, set, bool)) or value is None or value not in list(allowed):
        raise _refuse(param, what, f"one of {_listed(list(allowed))}", value)
    return value


def check_choices(value: Any, param: str, what: str, allowed: Sequence[Any]) -> list[Any]:
    """``value`` when it is a list of ``allowed`` items (an empty list too).

    Raises:
        ParameterError: not a list (a string, null, a number), or an item not allowed, listing the allowed ones.
    """
    allows = f"a list of {_listed(list(allowed))}"
    if not isinstance(value, list):
        raise _refuse(param, what, allows, value)
    for item in value:
        if isinstance(item, (list, tuple, dict, set, bool)) or item is None or item not in list(allowed):
            raise ParameterError(f"{param}: {what} must be {allows}; {shown(item)} is not one of them")
    return value


def check_flag(value: Any, param: str, what: str) -> bool:
    """``value`` when it is ``True`` or ``False`` (never a string such as ``"false"``, which Python reads as true).

    Raises:
        ParameterError: anything else.
    """
    if not isinstance(value, bool):
        raise _refuse(param, what, "true or false", value)
    return value


def check_text(value: Any, param: str, what: str, nullable: bool = False) -> str | None:
    """``value`` when it is a string (or ``None`` when ``nullable``): never a list or a number turned into text.

    Raises:
        ParameterError: anything else.
    """
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise _refuse(param, what, "a text (a JSON string)" + (" or null" if nullable else ""), value)
    return value
