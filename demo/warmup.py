"""Warm the app up, so the first search does not pay for imports and loading: before it serves (``python app.py``), or
in the background once it serves (``--serve-before-warm-up``).

Loads what the Search tab starts with — the default first stage over the bundled sample (whose embeddings ship with the
project, so nothing is embedded) and the default reranker when it is a local folder, timed once so estimates have a
measured rate, and compiled when the app compiles and waits for the warm-up — in a daemon thread. A search that arrives
meanwhile simply waits for the same cached objects; a failure is logged and left for the search itself to report.
"""

from __future__ import annotations

import logging
import threading
import time

__all__ = ["start_warm_up", "warm_up"]

logger = logging.getLogger("ettin.app")


def warm_up(play, first_stage: str, reranker: str | None, compile: bool = False) -> float:
    """Load ``first_stage`` over the bundled sample and ``reranker`` into ``play``'s caches; returns the seconds it took.

    Args:
        play: The app's :class:`demo.playground.Playground`.
        first_stage: The first stage the Search tab selects at start.
        reranker: The reranker it selects (``None`` or ``"none"``: no reranker).
        compile: Also compile the reranker when ``play`` compiles; only before the app serves (nothing else may run a
            model during a compile).
    """
    from demo.user_corpus import sample_corpus

    t0 = time.perf_counter()
    stage = play.first_stage(first_stage, sample_corpus())
    stage.search("warm up", 1)  # the first query pays for lazy imports and kernels
    choice = play.reranker_choice(reranker)
    if choice is not None and choice.local:  # never a Hub download at start-up
        # after the first stage: a model class loaded after a compile changes a registry the compiled graph guards
        # (transformers' output-capturing registry), and the reranker would then run eagerly
        play.compile_reranker(choice) if compile else play.reranker(choice)
    return time.perf_counter() - t0


def start_warm_up(play, first_stage: str, reranker: str | None, compile: bool = False) -> threading.Thread:
    """Run :func:`warm_up` in a daemon thread and return the thread (``compile`` only when the app waits for it)."""

    def run() -> None:
        try:
            seconds = warm_up(play, first_stage, reranker, compile)
            logger.info("warmed up %s and %s in %.1f s", first_stage, reranker, seconds)
        except Exception:  # noqa: BLE001 - the first search reports the same failure to its user
            logger.warning("warm-up failed; the first search will load the models itself", exc_info=True)

    thread = threading.Thread(target=run, name="ettin-warm-up", daemon=True)
    thread.start()
    return thread
