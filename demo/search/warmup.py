"""Warm the app up, so the first search does not pay for imports and loading: before it serves (``python app.py``), or
in the background once it serves (the default; ``--warm-up-first`` waits for it).

Loads what the Search tab starts with — the default first stage over the bundled sample (whose embeddings ship with the
project, so nothing is embedded) and the default reranker when it is a local folder, timed once so estimates have a
measured rate, and compiled when the app compiles and waits for the warm-up — in a daemon thread; then, unless it was
compiled, a faster backend for that reranker is built and swapped in in the background
(:meth:`~demo.search.accelerating.AccelerateMixin.accelerate`). A search that arrives meanwhile simply waits for the same
cached objects; a failure is logged and left for the search itself to report.

The playground's own parts, compiling the start-up reranker and saying so to a search that waits for the warm-up,
are :class:`WarmUpMixin`. How long the last warm-up took is kept in the cache folder (:data:`WARM_UP_FILE`), so that
note can say how long the wait is.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from pathlib import Path

from demo.sources.choices import RerankerChoice
from ettin.runtime import INTERACTIVE_BATCH

__all__ = ["WARM_UP_FILE", "WarmUpMixin", "last_warm_up_seconds", "start_warm_up", "warm_up"]

logger = logging.getLogger("ettin.app")

WARM_UP_FILE = "app-warm-up.json"
"""In the cache folder: the seconds the last completed warm-up took on this machine, and what it loaded."""


def _warm_up_record() -> Path:
    from ettin.paths import cache_dir

    return cache_dir() / WARM_UP_FILE


def last_warm_up_seconds() -> float | None:
    """Seconds the last completed warm-up took here (``None``: none recorded, or the record is unreadable)."""
    try:
        seconds = float(json.loads(_warm_up_record().read_text(encoding="utf-8"))["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _record_warm_up(seconds: float, first_stage: str, reranker: str | None) -> None:
    from ettin.io import write_json_atomic
    from ettin.provenance import now_iso

    try:
        write_json_atomic(_warm_up_record(), {"seconds": round(seconds, 2), "first_stage": first_stage,
                                              "reranker": reranker, "date": now_iso()})  # fmt: skip
    except OSError:  # a read-only cache only loses the next start's wait estimate
        logger.warning("could not record the warm-up time in %s", _warm_up_record(), exc_info=True)


def _warm_up_pairs(n: int = INTERACTIVE_BATCH) -> list[tuple[str, str]]:
    """Pairs of different lengths (so batches are padded, as a search's are) that compile a reranker's shapes."""
    return [("warm up query", "a document about cells and proteins " * (4 + 6 * i)) for i in range(n)]


class WarmUpMixin:
    """Compiling the start-up reranker, for :class:`~demo.search.playground.Playground`.

    Uses the playground's ``compile`` mode (``on``, ``off`` or ``auto``) and ``reranker`` from
    :class:`~demo.search.loading.LoadingMixin`.
    """

    compile: str
    warming: threading.Thread | None
    warming_since: float | None = None
    """``time.monotonic()`` when the warm-up started (:func:`start_warm_up`)."""

    def starting_note(self) -> str:
        """While the start-up warm-up runs, what a search that waits for it is told (``""`` once it has ended): the
        wait happens once per start, how long it has run, and how long the last one took here."""
        warming, since = self.warming, self.warming_since
        if warming is None or not warming.is_alive() or since is None:
            return ""
        note = (f" — the app started {time.monotonic() - since:.0f} s ago and is still loading its start-up models "
                "(once per start)")  # fmt: skip
        last = last_warm_up_seconds()
        return note + (f"; that took {last:.0f} s at the last start on this machine" if last is not None else "")

    def compile_reranker(self, choice: RerankerChoice, precision: str = "auto") -> str | None:
        """Load ``choice`` and compile its encoder when this playground compiles: only before the app serves, since
        nothing else may run a model during a compile (:mod:`ettin.runtime.compiled`). Then no later call compiles.

        Returns:
            The compiled encoder's state (``ready`` or ``failed``), or ``None`` when nothing was compiled.
        """
        from ettin.runtime import compile_encoder, compiler_missing_reason, no_more_compiling

        model = self.reranker(choice, precision)
        if self.compile == "off" or (self.compile == "auto" and compiler_missing_reason(model.settings.device)):
            return None
        forward = compile_encoder(model, _warm_up_pairs(), batch_size=INTERACTIVE_BATCH)
        no_more_compiling()
        return forward.state if forward is not None else None


def warm_up(play, first_stage: str, reranker: str | None, compile: bool = False) -> float:
    """Load ``first_stage`` over the bundled sample and ``reranker`` into ``play``'s caches; returns the seconds it took.

    Args:
        play: The app's :class:`demo.search.playground.Playground`.
        first_stage: The first stage the Search tab selects at start.
        reranker: The reranker it selects (``None`` or ``"none"``: no reranker).
        compile: Also compile the reranker when ``play`` compiles; only before the app serves (nothing else may run a
            model during a compile).
    """
    from demo.sources.user_corpus import sample_corpus

    t0 = time.perf_counter()
    stage = play.first_stage(first_stage, sample_corpus())
    stage.search("warm up", 1)  # the first query pays for lazy imports and kernels
    choice = play.reranker_choice(reranker)
    if choice is not None and choice.local:  # never a Hub download at start-up
        # after the first stage: a model class loaded after a compile changes a registry the compiled graph guards
        # (transformers' output-capturing registry), and the reranker would then run eagerly
        compiled = play.compile_reranker(choice) if compile else None
        if compiled != "ready":
            play.reranker(choice)
            play.accelerate(choice)  # in the background: returns at once
    return time.perf_counter() - t0


def start_warm_up(play, first_stage: str, reranker: str | None, compile: bool = False) -> threading.Thread:
    """Run :func:`warm_up` in a daemon thread and return the thread (``compile`` only when the app waits for it); it is
    also ``play.warming``, which ``play.close()`` waits for."""

    def run() -> None:
        try:
            seconds = warm_up(play, first_stage, reranker, compile)
            logger.info("warmed up %s and %s in %.1f s", first_stage, reranker, seconds)
            _record_warm_up(seconds, first_stage, reranker)
        except Exception:  # noqa: BLE001 - the first search reports the same failure to its user
            logger.warning("warm-up failed; the first search will load the models itself", exc_info=True)

    thread = play.warming = threading.Thread(target=run, name="ettin-warm-up", daemon=True)
    play.warming_since = time.monotonic()
    thread.start()
    return thread
