"""The search playground behind the app: search and all-sizes compare over a corpus, with time estimates and bounds.

No Gradio here: the app's tabs call these methods and turn their results into components. Every refusal is an
:class:`~ettin.pipeline.InputError` (bad parameters, too slow) or :class:`~ettin.runtime.ModelLoadError` (unknown or
unloadable model) with a message meant for the user.

:class:`Playground` holds the state and composes one part per job: :class:`~demo.search.loading.LoadingMixin` (lookups
and loading), :class:`~demo.search.budget.BudgetMixin` (rates, estimates, the time limit),
:class:`~demo.search.searching.SearchMixin` (one search), :class:`~demo.search.comparing.CompareMixin` (the streamed
comparison), :class:`~demo.search.warmup.WarmUpMixin` (compiling the start-up reranker) and
:class:`~demo.search.accelerating.AccelerateMixin` (building a faster backend in the background). Whether the reranker
helped a judged query is :mod:`demo.search.judged`; the parameters and their checks are :mod:`demo.search.params`.
"""

from __future__ import annotations

import threading
from pathlib import Path

from demo.search.accelerating import AccelerateMixin, backend_mode
from demo.search.budget import BudgetMixin
from demo.search.comparing import CompareMixin
from demo.search.fair import EmbeddingQueue
from demo.search.loading import APP_EMBEDDINGS_MAX_BYTES, BM25_CACHED, DENSE_CACHED, LoadingMixin
from demo.search.params import DEFAULT_MAX_RERANK_SECONDS, compile_mode
from demo.search.searching import SearchMixin
from demo.search.throughput import ThroughputBook
from demo.search.warmup import WarmUpMixin
from demo.sources.choices import discover_rerankers, first_stage_choices
from ettin.cache import BoundedCache
from ettin.paths import cache_dir
from ettin.pipeline import BM25FirstStage, DenseFirstStage, EmbeddingStore

__all__ = ["Playground"]


class Playground(SearchMixin, CompareMixin, WarmUpMixin, AccelerateMixin, BudgetMixin, LoadingMixin):
    """Search and compare over a corpus, with models from the runtime's bounded cache.

    Args:
        models_dir: Folder of local rerankers (sub-folders); ``None`` for none.
        max_rerank_seconds: Refuse a rerank whose estimated time is above this.
        include_hub: Offer registry Hub ids (default: when not ``HF_HUB_OFFLINE``).
        include_trained: Offer the rerankers trained here and shipped (offline, first: the app's default); default:
            unless ``ETTIN_TRAINED_RERANKERS=0``.
        compile: ``on``, ``off`` or ``auto`` (default ``$ETTIN_COMPILE``, else auto): whether
            :meth:`compile_reranker` compiles (the app's start-up reranker, before it serves); auto does where the
            device has a compiler for ``torch.compile``.
        backend: ``auto``, ``onnxruntime``, ``openvino`` or ``torch`` (default ``$ETTIN_BACKEND``, else auto): the
            exported backend :meth:`accelerate` builds in the background (``torch``: none).

    Raises:
        InputError: a compile mode not in :data:`~demo.search.params.COMPILE_MODES`, or an unknown backend.
    """

    def __init__(
        self,
        models_dir: str | Path | None = None,
        max_rerank_seconds: float = DEFAULT_MAX_RERANK_SECONDS,
        include_hub: bool | None = None,
        compile: str | None = None,
        include_trained: bool | None = None,
        backend: str | None = None,
    ) -> None:
        self.models_dir = Path(models_dir).expanduser().resolve() if models_dir else None
        self.max_rerank_seconds = max_rerank_seconds
        self.include_hub = include_hub
        self.include_trained = include_trained
        self.compile = compile_mode(compile)
        self.backend = backend_mode(backend)
        self._builds: dict = {}  # (reranker spec, precision) -> its background BackendBuild
        self._build_lock = threading.Lock()  # guards _builds
        self._serial_builds = threading.Lock()  # held by the build that runs: one at a time
        self.warming: threading.Thread | None = None  # the background warm-up (demo.search.warmup.start_warm_up)
        self._throughput: dict[str, ThroughputBook] = {}  # one per precision, so bf16 and fp32 rates never mix
        self._bm25: BoundedCache[BM25FirstStage] = BoundedCache(BM25_CACHED)
        # keyed by (embedder, corpus): a hit skips re-hashing the embedder's weights for the embedding-store key
        self._dense: BoundedCache[DenseFirstStage] = BoundedCache(DENSE_CACHED)
        # every user corpus is embedded once and kept on disk, within a bound (least recently used files go first)
        self._embeddings = EmbeddingStore(cache_dir() / "app-embeddings", max_disk_bytes=APP_EMBEDDINGS_MAX_BYTES)
        self.embedding_queue = EmbeddingQueue()  # one corpus embedding at a time, within its own time budget
        self.refresh()

    def close(self, timeout: float | None = 60.0) -> None:
        """Stop this playground's background work, waiting up to ``timeout`` seconds for each part: the warm-up ends
        (loading cannot be cut short), then every backend build is cancelled and none starts after (the app's close:
        no thread or child process of it outlives the app)."""
        warming = self.warming
        if warming is not None and warming.ident is not None:
            warming.join(timeout)
        self.stop_builds(timeout)

    def refresh(self) -> None:
        """Discover the offered rerankers and first stages again."""
        self.rerankers = discover_rerankers(self.models_dir, self.include_hub, self.include_trained)
        self.first_stages = first_stage_choices(self.include_hub)
