"""The playground's models: which reranker or first stage a key from the UI or the API names, and loading them (first
stages built once per corpus and kept; rerankers from the runtime's bounded cache, in the precision asked for)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from demo.search.fair import EmbeddingQueue
from demo.search.params import ProgressFn, validate_precision
from demo.search.throughput import TYPICAL_TOKENS, app_max_length, config_cost, pair_cost
from demo.sources.choices import NO_RERANKER, FirstStageChoice, RerankerChoice
from ettin import registry
from ettin.cache import BoundedCache
from ettin.corpus import Corpus
from ettin.errors import UserError
from ettin.pipeline import BM25FirstStage, DenseFirstStage, EmbeddingStore
from ettin.runtime import INTERACTIVE_BATCH, INTERACTIVE_MAX_LENGTH, ModelLoadError, RuntimeSettings, best_settings

__all__ = [
    "APP_EMBEDDINGS_MAX_BYTES",
    "BM25_CACHED",
    "DENSE_CACHED",
    "SAMPLE_MIN_PAIRS",
    "SAMPLE_SECONDS",
    "LoadingMixin",
    "compiled_state",
    "loaded_cost",
    "SAMPLE_TIMINGS",
    "sample_pairs",
]

BM25_CACHED = 8  # BM25 indexes kept, one per corpus
APP_EMBEDDINGS_MAX_BYTES = 1 << 30  # corpus embeddings the app keeps on disk
DENSE_CACHED = 4  # (embedder, corpus) first stages kept
SAMPLE_SECONDS = 4.0  # about how long timing a model on sample pairs may take (when an estimate says it is slow)
SAMPLE_MIN_PAIRS = 4  # pairs timed at least
SAMPLE_TIMINGS = 2
"""Timed runs of the sample batch; the fastest counts (a burst of other work during one run must not book a slow rate
that every estimate then scales)."""
_TIMING_LOCK = threading.Lock()


class LoadingMixin:
    """Lookups and loading for :class:`~demo.search.playground.Playground`.

    Uses the playground's ``rerankers`` and ``first_stages`` (what is offered), ``models_dir``, its first-stage caches
    ``_bm25`` and ``_dense``, its ``_embeddings`` store and ``embedding_queue``, and (to time a reranker on sample
    pairs) ``throughput`` from :class:`~demo.search.budget.BudgetMixin`.
    """

    models_dir: Path | None
    rerankers: list[RerankerChoice]
    first_stages: list[FirstStageChoice]
    _bm25: BoundedCache[BM25FirstStage]
    _dense: BoundedCache[DenseFirstStage]
    _embeddings: EmbeddingStore
    embedding_queue: EmbeddingQueue

    # ---- lookups -----------------------------------------------------------------------------------------------------

    def reranker_choice(self, key: str | None) -> RerankerChoice | None:
        """The choice for a key the UI or API sent (``none`` or empty: no reranker).

        Raises:
            ModelLoadError: a key that is not offered (never interpreted as a path).
        """
        if key is None or not str(key).strip() or str(key).strip().lower() == NO_RERANKER:
            return None
        key = str(key).strip()
        for c in self.rerankers:
            if key in (c.key, c.label):
                return c
        offered = ", ".join(c.key for c in self.rerankers) or "none (build replicas with `python -m ettin replica --size all --out models` and start the app with --models-dir models)"
        raise ModelLoadError(f"unknown reranker {key[:80]!r}; available: {offered}")

    def first_stage_key(self, key: str | None) -> str:
        """The offered first stage for a key or label the UI or API sent.

        Raises:
            ModelLoadError: nothing given, or a first stage that is not offered.
        """
        if key is None or not str(key).strip():
            raise ModelLoadError("no first stage given: choose an embedder or bm25")
        key = str(key).strip()
        for c in self.first_stages:
            if key in (c.key, c.label):
                return c.key
        raise ModelLoadError(
            f"unknown embedder {key[:80]!r}; available here: {', '.join(c.key for c in self.first_stages)}"
        )

    # ---- loading -----------------------------------------------------------------------------------------------------

    def first_stage(self, key: str, corpus: Corpus, progress: ProgressFn | None = None):
        """The first stage ``key`` over ``corpus``: a BM25 index, the embedded corpus, or the hybrid of the two (the
        same kept BM25 index and embeddings, fused by RRF), each built once and kept."""
        from ettin.hybrid import HybridFirstStage, hybrid_embedder

        key = self.first_stage_key(key)
        if key == registry.BM25.id:
            return self._bm25.get(corpus.fingerprint, lambda: BM25FirstStage(corpus))
        dense = hybrid_embedder(key)
        if dense is not None:
            return HybridFirstStage(self.first_stage(registry.BM25.id, corpus), self.first_stage(dense, corpus, progress))
        return self._dense.get((key, corpus.fingerprint), lambda: self._embed(key, corpus, progress))

    def _embed(self, key: str, corpus: Corpus, progress: ProgressFn | None) -> DenseFirstStage:
        """The dense first stage over ``corpus``; a corpus not embedded yet waits for the embedding queue's one slot
        and must finish within its time budget (:class:`demo.search.fair.EmbeddingQueue`)."""
        from ettin.runtime import cached_embedder

        if progress:
            progress(0.0, f"loading {key}")
        embedder = cached_embedder(key, allow_local=False)
        if self._embeddings.has(embedder, corpus):  # bundled, or embedded before: nothing to queue for
            return DenseFirstStage(embedder, corpus, store=self._embeddings)
        with self.embedding_queue.slot(len(corpus), progress) as embed_progress:
            return DenseFirstStage(embedder, corpus, store=self._embeddings, progress=embed_progress)

    @staticmethod
    def reranker_settings(precision: str = "auto", choice: RerankerChoice | None = None) -> RuntimeSettings:
        """The runtime settings a reranker runs with in the app: ``precision`` on the best device, capped at
        :data:`~ettin.runtime.INTERACTIVE_MAX_LENGTH` tokens per pair, or at the length ``choice`` was trained and
        evaluated with when that is shorter (its card's: the protocol its test score holds for).

        Raises:
            InputError: a precision not in :data:`~demo.search.params.PRECISIONS`.
        """
        max_length = app_max_length(choice) if choice is not None else INTERACTIVE_MAX_LENGTH
        return best_settings(precision=validate_precision(precision), max_length=max_length)

    def reranker(self, choice: RerankerChoice, precision: str = "auto"):
        """The loaded model for ``choice`` in ``precision``; the first time on this machine (no rate stored for it in
        this precision), also timed on sample pairs so estimates have its rate (:meth:`_time_sample`).

        Raises:
            InputError: a precision not in :data:`~demo.search.params.PRECISIONS`.
            ModelLoadError: the model cannot be loaded.
        """
        from ettin.runtime import cached_reranker

        settings = self.reranker_settings(precision, choice)
        roots = [self.models_dir] if self.models_dir else None
        model = cached_reranker(choice.spec, settings=settings, allow_local=choice.local, local_roots=roots)
        if self.throughput(precision).measured(choice) is None:
            with _TIMING_LOCK:  # one timing at a time: two at once would each measure half the machine
                if self.throughput(precision).measured(choice) is None:
                    self._time_sample(choice, precision, model)
        return model

    def _time_sample(self, choice: RerankerChoice, precision: str, model) -> None:
        """Time ``model`` on sample pairs as a search runs them: one batch of up to :data:`~ettin.runtime.INTERACTIVE_BATCH`
        pairs of the bundled sample's documents (fewer for a model estimated slow, so it takes about
        :data:`SAMPLE_SECONDS`), scored once untimed, then timed :data:`SAMPLE_TIMINGS` times, the fastest counting: the
        first call pays for first-call setup, which on a CPU includes the kernels compiled for the batch's shape
        (oneDNN; a two-pair warm-up left that in the timing, and a size scaled from it was estimated more than 2x too
        slow); stored for the next start."""
        book = self.throughput(precision)
        guess = book.estimate(choice, 1)  # scaled from the sizes timed here, if any
        n = INTERACTIVE_BATCH
        if guess is not None:
            n = int(min(INTERACTIVE_BATCH, max(SAMPLE_MIN_PAIRS, guess.pairs_per_s * SAMPLE_SECONDS)))
        pairs = sample_pairs(n)
        model.score_pairs(pairs, batch_size=INTERACTIVE_BATCH)
        seconds = min(_timed(model, pairs) for _ in range(SAMPLE_TIMINGS))
        details = {"device": model.settings.device, "dtype": model.settings.dtype}
        book.record(choice, len(pairs), seconds, cost=pair_cost(choice) or loaded_cost(model, choice), sample=True,
                    details=details)  # fmt: skip


def _timed(model, pairs: list[tuple[str, str]]) -> float:
    t0 = time.perf_counter()
    model.score_pairs(pairs, batch_size=INTERACTIVE_BATCH)
    return time.perf_counter() - t0


def sample_pairs(n: int) -> list[tuple[str, str]]:
    """``n`` (query, document) pairs as a search reranks them: an example claim with the bundled sample's documents
    (SciFact abstracts), or, where those cannot be read, text of a similar length."""
    from demo.sources.user_corpus import example_queries, sample_corpus

    try:
        corpus, query = sample_corpus(), example_queries()[0]
        return [(query, corpus.document_text(i % len(corpus))) for i in range(n)]
    except (OSError, UserError, IndexError):
        return [("a claim about cells", "a document about cells and proteins in the human body " * 20)] * n


def loaded_cost(model, choice: RerankerChoice) -> float | None:
    """FLOPs per pair of a loaded model, from its transformers config (a model whose shape nothing else tells, e.g. a
    reranker trained here)."""
    try:
        config = model.model.config.to_dict()
    except AttributeError:
        return None
    return config_cost(config, min(TYPICAL_TOKENS, app_max_length(choice)))


def compiled_state(model) -> str | None:
    """The state of ``model``'s compiled encoder, ``None`` when it has none (or no model)."""
    from ettin.runtime import compiled_forward

    forward = compiled_forward(model.model) if model is not None else None
    return forward.state if forward is not None else None
