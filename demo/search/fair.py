"""Fair sharing of the app's one heavy first-stage job: embedding a corpus nobody has embedded yet.

Embedding a large upload takes a minute or more on a small CPU. :class:`EmbeddingQueue` gives that work its own slot (one
corpus at a time, whoever asked first) and its own time budget, so it can never hold the machine for long, and it reports
honest, live progress: documents done, the rate measured so far and the time left at that rate. Searches over corpora
already embedded (the bundled ones ship their embeddings) and BM25 searches never pass through it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ettin.pipeline import InputError

__all__ = ["DEFAULT_MAX_EMBED_SECONDS", "EmbeddingQueue", "EmbedProgress"]

DEFAULT_MAX_EMBED_SECONDS = float(os.environ.get("ETTIN_MAX_EMBED_SECONDS", "90"))

EmbedProgress = Callable[[int, int], None]
"""``(documents done, documents in all)``, as :class:`ettin.pipeline.EmbeddingStore` reports it."""

ReportFn = Callable[[float, str], None]


class EmbeddingQueue:
    """One corpus embedding at a time, each within ``max_seconds``.

    Args:
        max_seconds: The budget of one corpus's embedding. A run whose measured rate projects past it stops at its next
            report with a message saying how many documents would fit; waiting for the slot counts against it too.
        clock: Seconds, monotonic (a fake in tests).
    """

    def __init__(self, max_seconds: float = DEFAULT_MAX_EMBED_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.max_seconds = max_seconds
        self._clock = clock
        self._slot = threading.Lock()
        self._waiting = 0
        self._count = threading.Lock()

    @contextmanager
    def slot(self, n_documents: int, report: ReportFn | None = None) -> Iterator[EmbedProgress]:
        """Wait for the embedding slot (within the budget), then yield the progress callback the embedding must call.

        Raises:
            InputError: the slot stayed busy for the whole budget, or the measured rate projects past it.
        """
        report = report or (lambda fraction, text: None)
        with self._count:
            self._waiting += 1
            ahead = self._waiting - 1
        try:
            if ahead or self._slot.locked():
                report(0.0, f"waiting for another user's corpus to finish embedding ({ahead + 1} ahead of you)")
            if not self._slot.acquire(timeout=self.max_seconds):
                raise InputError(
                    f"another corpus has been embedding for over {self.max_seconds:.0f} s; try again in a minute, "
                    "or choose BM25 as the first stage (it needs no embedding)"
                )
        finally:
            with self._count:
                self._waiting -= 1
        try:
            yield self._progress(n_documents, report)
        finally:
            self._slot.release()

    def _progress(self, n_documents: int, report: ReportFn) -> EmbedProgress:
        started = self._clock()
        report(0.0, f"embedding {n_documents:,} documents (measuring the speed…)")

        def progress(done: int, total: int) -> None:
            elapsed = max(self._clock() - started, 1e-9)
            rate = done / elapsed
            left = (total - done) / rate if rate > 0 else float("inf")
            if elapsed + left > self.max_seconds and done < total:
                fits = int(rate * self.max_seconds)
                raise InputError(
                    f"embedding {total:,} documents would take about {elapsed + left:,.0f} s at the {rate:,.0f} documents/s "
                    f"measured so far; the limit is {self.max_seconds:,.0f} s — use at most about {fits:,} documents "
                    "(or shorter ones), or choose BM25 as the first stage"
                )
            report(done / max(total, 1), f"embedding: {done:,}/{total:,} documents, {rate:,.0f}/s, about {left:,.0f} s left")

        return progress
