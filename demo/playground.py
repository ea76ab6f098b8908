"""The search playground behind the app: search and all-sizes compare over a corpus, with time estimates and bounds.

No Gradio here: the app's tabs call these methods and turn their results into components. Every refusal is an
:class:`~ettin.pipeline.InputError` (bad parameters, too slow) or :class:`~ettin.runtime.ModelLoadError` (unknown or
unloadable model) with a message meant for the user.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from demo.choices import NO_RERANKER, RANDOM_BADGE, RerankerChoice, discover_rerankers, first_stage_choices
from demo.throughput import ThroughputBook, published_cpu_rate
from ettin import registry
from ettin.cache import BoundedCache
from ettin.corpus import Corpus
from ettin.pipeline import (
    BM25FirstStage,
    DenseFirstStage,
    EmbeddingStore,
    InputError,
    SearchResult,
    retrieve_and_rerank,
    validate_query,
    whole_number,
)
from ettin.paths import cache_dir
from ettin.runtime import ModelLoadError

__all__ = [
    "DEFAULT_MAX_RERANK_SECONDS",
    "MAX_K",
    "MAX_TOP_N",
    "CompareOutcome",
    "CompareRow",
    "JudgedQuery",
    "Playground",
    "ProgressFn",
    "SearchOutcome",
    "judged_metrics",
    "judged_query",
]

MAX_K = 200
MAX_TOP_N = 50
DEFAULT_MAX_RERANK_SECONDS = float(os.environ.get("ETTIN_MAX_RERANK_SECONDS", "60"))
BM25_CACHED = 8  # BM25 indexes kept, one per corpus
APP_EMBEDDINGS_MAX_BYTES = 1 << 30  # corpus embeddings the app keeps on disk
DENSE_CACHED = 4  # (embedder, corpus) first stages kept

ProgressFn = Callable[[float, str], None]


@dataclass(frozen=True)
class JudgedQuery:
    """A query the bundled SciFact test split judges: its id and the grades of its judged documents."""

    query_id: str
    grades: dict[str, int]

    @property
    def relevant(self) -> set[str]:
        return {d for d, g in self.grades.items() if g > 0}


def _normalised(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


@lru_cache(maxsize=1)
def _bundled_judgements() -> dict[str, JudgedQuery]:
    from ettin.corpus import scifact

    ds = scifact("test")
    return {_normalised(text): JudgedQuery(qid, dict(ds.qrels[qid])) for qid, text in ds.queries.items() if ds.qrels.get(qid)}


def judged_query(query: str) -> JudgedQuery | None:
    """The bundled SciFact test query with this text (spaces and case aside), or None when it is not one."""
    return _bundled_judgements().get(_normalised(query))


def judged_metrics(result: SearchResult, judged: JudgedQuery) -> dict[str, dict[str, float]]:
    """NDCG@10, Recall@10 and Recall@100 (of the K candidates) of the first-stage order and of the final order.

    Computed by :mod:`ettin.metrics` against the query's judgements. Both orders hold the same K candidates, so recall at
    depth K is the same for both: a reranker only reorders.

    Returns:
        ``{"first stage": {...}, "reranked": {...}}`` (``reranked`` only when a reranker ran).
    """
    from ettin.metrics import per_query_metrics, ranking_as_run

    orders = {"first stage": sorted(result.candidates, key=lambda h: h.first_stage_rank)}
    if result.reranker:
        orders["reranked"] = sorted(result.candidates, key=lambda h: h.final_rank)
    qrels = {judged.query_id: judged.grades}
    return {
        name: per_query_metrics(qrels, {judged.query_id: ranking_as_run([h.doc_id for h in hits])})[judged.query_id]
        for name, hits in orders.items()
    }


@dataclass
class SearchOutcome:
    """One search: the pipeline's result, the reranker used, the setup time and notes for the user."""

    result: SearchResult
    choice: RerankerChoice | None
    setup_s: float
    notes: list[str] = field(default_factory=list)

    @property
    def timings(self) -> dict[str, float]:
        """Setup and the pipeline's own timings, in seconds."""
        return {"setup_s": self.setup_s, **self.result.timings}


@dataclass
class CompareRow:
    """One reranker's ordering of the shared candidates in a comparison, and its time."""

    choice: RerankerChoice
    top: list[str]  # doc ids, best first (all candidates)
    titles: list[str]
    scores: dict[str, float]
    seconds: float
    pairs: int

    @property
    def pairs_per_s(self) -> float:
        """Throughput of this rerank (NaN when it took no time)."""
        return self.pairs / self.seconds if self.seconds > 0 else float("nan")


@dataclass
class CompareOutcome:
    """Every reranker's ordering of the same first-stage candidates; ``reference`` is the largest that ran."""

    query: str
    first_stage: str
    k: int
    candidates: list[str]
    rows: list[CompareRow]
    reference: str | None
    skipped: list[str]
    setup_s: float


class Playground:
    """Search and compare over a corpus, with models from the runtime's bounded cache.

    Args:
        models_dir: Folder of local rerankers (sub-folders); ``None`` for none.
        max_rerank_seconds: Refuse a rerank whose estimated time is above this.
        include_hub: Offer registry Hub ids (default: when not ``HF_HUB_OFFLINE``).
    """

    def __init__(
        self,
        models_dir: str | Path | None = None,
        max_rerank_seconds: float = DEFAULT_MAX_RERANK_SECONDS,
        include_hub: bool | None = None,
    ) -> None:
        self.models_dir = Path(models_dir).expanduser().resolve() if models_dir else None
        self.max_rerank_seconds = max_rerank_seconds
        self.include_hub = include_hub
        self.throughput = ThroughputBook()
        self._bm25: BoundedCache[BM25FirstStage] = BoundedCache(BM25_CACHED)
        # keyed by (embedder, corpus): a hit skips re-hashing the embedder's weights for the embedding-store key
        self._dense: BoundedCache[DenseFirstStage] = BoundedCache(DENSE_CACHED)
        # every user corpus is embedded once and kept on disk, within a bound (least recently used files go first)
        self._embeddings = EmbeddingStore(cache_dir() / "app-embeddings", max_disk_bytes=APP_EMBEDDINGS_MAX_BYTES)
        self.refresh()

    def refresh(self) -> None:
        """Discover the offered rerankers and first stages again."""
        self.rerankers = discover_rerankers(self.models_dir, self.include_hub)
        self.first_stages = first_stage_choices(self.include_hub)

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
        """The first stage ``key`` over ``corpus``: a BM25 index or the embedded corpus, built once and kept."""
        key = self.first_stage_key(key)
        if key == registry.BM25.id:
            return self._bm25.get(corpus.fingerprint, lambda: BM25FirstStage(corpus))
        return self._dense.get((key, corpus.fingerprint), lambda: self._embed(key, corpus, progress))

    def _embed(self, key: str, corpus: Corpus, progress: ProgressFn | None) -> DenseFirstStage:
        from ettin.runtime import cached_embedder

        if progress:
            progress(0.0, f"loading {key}")
        embedder = cached_embedder(key, allow_local=False)

        def embed_progress(done: int, total: int) -> None:
            if progress:
                progress(done / max(total, 1), f"embedding the corpus with {embedder.name}: {done:,}/{total:,} documents")

        return DenseFirstStage(embedder, corpus, store=self._embeddings, progress=embed_progress)

    def reranker(self, choice: RerankerChoice):
        """The loaded model for ``choice``, timed on 2 pairs the first time so estimates have a rate."""
        from ettin.runtime import cached_reranker

        roots = [self.models_dir] if self.models_dir else None
        model = cached_reranker(choice.spec, allow_local=choice.local, local_roots=roots)
        if self.throughput.rate(choice.key) is None:  # warm-up + first measurement on 2 pairs
            t0 = time.perf_counter()
            model.score_pairs([("warm up", "a short document"), ("warm up", "another short document")])
            self.throughput.record(choice.key, choice.size, 2, time.perf_counter() - t0)
        return model

    # ---- estimates ---------------------------------------------------------------------------------------------------

    def estimate_text(self, key: str | None, k: int) -> str:
        """A one-line estimate of the rerank time for the UI (never raises)."""
        try:
            choice = self.reranker_choice(key)
        except ModelLoadError as exc:
            return str(exc)
        if choice is None:
            return "No reranker: first-stage results only."
        seconds, how = self.throughput.estimate(choice, int(k))
        badge = f" **{RANDOM_BADGE}**." if choice.random_init else ""
        if seconds is None:
            rate = published_cpu_rate(choice.size)
            hint = (
                f"; on the blog's i7-13700K CPU ({rate:g} pairs/s) it would take {int(k) / rate:,.1f} s, a 2-core machine is slower"
                if rate
                else ""
            )
            return f"Rerank time for {int(k)} documents: {how} (measured on the first run){hint}.{badge}"
        bound = " — above the limit, lower K" if seconds > self.max_rerank_seconds else ""
        return f"Estimated rerank time for {int(k)} documents: {seconds:,.1f} s ({how}){bound}.{badge}"

    def _check_budget(self, choice: RerankerChoice, n_pairs: int) -> None:
        seconds, how = self.throughput.estimate(choice, n_pairs)
        if seconds is not None and seconds > self.max_rerank_seconds:
            rate = n_pairs / seconds
            max_k = max(1, int(rate * self.max_rerank_seconds))
            raise InputError(
                f"reranking {n_pairs} documents with {choice.key} would take about {seconds:,.0f} s on this machine ({how}); "
                f"the limit is {self.max_rerank_seconds:,.0f} s — lower K to {max_k} or pick a smaller size"
            )

    # ---- search ------------------------------------------------------------------------------------------------------

    @staticmethod
    def _check_params(k: Any, top_n: Any) -> tuple[int, int]:
        return whole_number(k, "K (first-stage depth)", 1, MAX_K), whole_number(top_n, "the number of results", 1, MAX_TOP_N)

    def search(
        self,
        query: str,
        corpus: Corpus,
        first_stage: str,
        reranker: str | None,
        k: int = 30,
        top_n: int = 10,
        progress: ProgressFn | None = None,
    ) -> SearchOutcome:
        """Retrieve the top ``k`` with the first stage, rerank them, return the best ``top_n`` with timings.

        Raises:
            InputError: bad query or parameters, or a rerank estimated above the time limit.
            ModelLoadError: unknown or unloadable model.
        """
        query = validate_query(query)
        k, top_n = self._check_params(k, top_n)
        notes: list[str] = []
        if k > len(corpus):
            notes.append(f"K = {k} is more than the {len(corpus):,} documents: all of them are candidates")
        choice = self.reranker_choice(reranker)
        t0 = time.perf_counter()
        stage = self.first_stage(first_stage, corpus, progress)
        model = None
        if choice is not None:
            if progress:
                progress(0.0, f"loading {choice.key}")
            model = self.reranker(choice)
            self._check_budget(choice, min(k, len(corpus)))
        setup_s = time.perf_counter() - t0
        if progress:
            progress(0.0, "searching")
        result = retrieve_and_rerank(query, stage, model, k=k, top_n=top_n)
        if choice is not None and result.candidates:
            self.throughput.record(choice.key, choice.size, len(result.candidates), result.timings["rerank_s"])
        if not result.candidates:
            notes.append("the first stage found no candidate documents (BM25 needs at least one shared word)")
        if choice is not None and choice.random_init:
            notes.append(f"{choice.key}: {RANDOM_BADGE}")
        return SearchOutcome(result, choice, setup_s, notes)

    def compare(
        self,
        query: str,
        corpus: Corpus,
        first_stage: str,
        rerankers: Sequence[str] | None = None,
        k: int = 30,
        progress: ProgressFn | None = None,
    ) -> CompareOutcome:
        """Rerank the same first-stage top ``k`` with several rerankers (default: all offered), timing each.

        Sizes whose estimated time is above the limit are skipped and listed in ``skipped``. The reference for agreement
        is the largest (by parameters) reranker that ran.
        """
        query = validate_query(query)
        k, _ = self._check_params(k, 1)
        keys = list(rerankers) if rerankers else [c.key for c in self.rerankers]
        choices = [c for c in (self.reranker_choice(key) for key in keys) if c is not None]
        if not choices:
            raise InputError(
                "no rerankers to compare: build replicas with `python -m ettin replica --size all --out models` "
                "and start the app with --models-dir models"
            )
        t0 = time.perf_counter()
        stage = self.first_stage(first_stage, corpus, progress)
        setup_s = time.perf_counter() - t0
        idx, _, _ = stage.search(query, k)
        idx = idx.tolist()
        cand_ids = [corpus.ids[i] for i in idx]
        pairs = [(query, corpus.document_text(i)) for i in idx]
        titles = [corpus.title(i) or corpus.texts[i][:80] for i in idx]
        rows: list[CompareRow] = []
        skipped: list[str] = []
        for n, choice in enumerate(sorted(choices, key=lambda c: c.parameters or 0), start=1):
            if progress:
                progress((n - 1) / len(choices), f"{choice.key}: loading and reranking {len(pairs)} documents")
            row = self._compare_one(choice, pairs, cand_ids, titles)
            if isinstance(row, str):
                skipped.append(f"{choice.key}: {row}")
            else:
                rows.append(row)
        reference = max(rows, key=lambda r: r.choice.parameters or 0).choice.key if rows else None
        return CompareOutcome(query, stage.name, k, cand_ids, rows, reference, skipped, setup_s)

    def _compare_one(
        self, choice: RerankerChoice, pairs: list[tuple[str, str]], cand_ids: list[str], titles: list[str]
    ) -> CompareRow | str:
        """Rerank the shared candidates with one reranker, or say why it was skipped."""
        seconds, how = self.throughput.estimate(choice, len(pairs))
        if seconds is not None and seconds > self.max_rerank_seconds:
            return f"estimated {seconds:,.0f} s > limit {self.max_rerank_seconds:,.0f} s ({how})"
        try:
            model = self.reranker(choice)
            self._check_budget(choice, len(pairs))
        except (ModelLoadError, InputError) as exc:
            return str(exc)
        t1 = time.perf_counter()
        scores = model.score_pairs(pairs) if pairs else []
        dt = time.perf_counter() - t1
        if pairs:
            self.throughput.record(choice.key, choice.size, len(pairs), dt)
        order = sorted(range(len(pairs)), key=lambda j: (-float(scores[j]), j))
        return CompareRow(
            choice,
            [cand_ids[j] for j in order],
            [titles[j] for j in order],
            {cand_ids[j]: float(scores[j]) for j in range(len(pairs))},
            dt,
            len(pairs),
        )
