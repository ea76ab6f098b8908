"""The search playground behind the app: search and all-sizes compare over a corpus, with time estimates and bounds.

No Gradio here: the app's tabs call these methods and turn their results into components. Every refusal is an
:class:`~ettin.pipeline.InputError` (bad parameters, too slow) or :class:`~ettin.runtime.ModelLoadError` (unknown or
unloadable model) with a message meant for the user.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from demo.choices import NO_RERANKER, RANDOM_BADGE, RerankerChoice, discover_rerankers, first_stage_choices
from demo.fair import EmbeddingQueue
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
from ettin.runtime import (
    COMPILE_MODES,
    INTERACTIVE_BATCH,
    INTERACTIVE_MAX_LENGTH,
    ModelLoadError,
    RuntimeSettings,
    best_settings,
)

__all__ = [
    "COMPILE_MODES",
    "DEFAULT_MAX_RERANK_SECONDS",
    "MAX_K",
    "MAX_TOP_N",
    "PRECISIONS",
    "CompareOutcome",
    "CompareRow",
    "JudgedQuery",
    "Playground",
    "ProgressFn",
    "SearchOutcome",
    "compile_mode",
    "judged_metrics",
    "judged_query",
    "validate_precision",
]

MAX_K = 200
MAX_TOP_N = 50
DEFAULT_MAX_RERANK_SECONDS = float(os.environ.get("ETTIN_MAX_RERANK_SECONDS", "60"))
BM25_CACHED = 8  # BM25 indexes kept, one per corpus
APP_EMBEDDINGS_MAX_BYTES = 1 << 30  # corpus embeddings the app keeps on disk
DENSE_CACHED = 4  # (embedder, corpus) first stages kept
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


def _warm_up_pairs(n: int = INTERACTIVE_BATCH) -> list[tuple[str, str]]:
    """Pairs of different lengths (so batches are padded, as a search's are) that compile a reranker's shapes."""
    return [("warm up query", "a document about cells and proteins " * (4 + 6 * i)) for i in range(n)]


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
    """One search: the pipeline's result, the reranker used, the setup time and notes for the user.

    ``settings`` are the runtime settings the reranker ran with (device, dtype, max length); ``None`` without one.
    ``compiled`` is the state of its compiled encoder when the rerank started (``ready``, ``failed``; ``None``: not
    compiled).
    """

    result: SearchResult
    choice: RerankerChoice | None
    setup_s: float
    notes: list[str] = field(default_factory=list)
    settings: RuntimeSettings | None = None
    compiled: str | None = None

    @property
    def timings(self) -> dict[str, float]:
        """Setup and the pipeline's own timings, in seconds."""
        return {"setup_s": self.setup_s, **self.result.timings}


@dataclass
class CompareRow:
    """One reranker's ordering of the shared candidates in a comparison, its time and the settings it ran with."""

    choice: RerankerChoice
    top: list[str]  # doc ids, best first (all candidates)
    titles: list[str]
    scores: dict[str, float]
    seconds: float
    pairs: int
    settings: RuntimeSettings | None = None
    parameters: int | None = None  # the choice's count, else the loaded model's
    compiled: str | None = None  # its compiled encoder's state when the rerank started (None: not compiled)

    @property
    def pairs_per_s(self) -> float:
        """Throughput of this rerank (NaN when it took no time)."""
        return self.pairs / self.seconds if self.seconds > 0 else float("nan")


@dataclass
class CompareOutcome:
    """Every reranker's ordering of the same first-stage candidates, complete or (while streaming) so far.

    ``reference`` is the reranker agreement is measured against: the largest size selected. When that one is skipped or
    fails, the largest other size that ran (or will run) takes its place and ``reference_note`` says so; otherwise the
    note is empty. ``pending`` holds the keys still to run (empty once complete; left unrun when ``stopped``, set by a
    consumer that closed the stream); ``skipped`` holds ``"key: reason"``; ``choices`` are all the sizes selected,
    smallest first; ``settings`` the runtime settings asked for in ``precision``.
    """

    query: str
    first_stage: str
    k: int
    candidates: list[str]
    rows: list[CompareRow]
    reference: str | None
    skipped: list[str]
    setup_s: float
    pending: list[str] = field(default_factory=list)
    reference_note: str = ""
    precision: str = "auto"
    settings: RuntimeSettings | None = None
    choices: list[RerankerChoice] = field(default_factory=list)
    stopped: bool = False

    @property
    def complete(self) -> bool:
        """Every selected size ran or was skipped."""
        return not self.pending

    def reference_row(self) -> CompareRow | None:
        """The reference's row once it has run."""
        return next((r for r in self.rows if r.choice.key == self.reference), None)


class Playground:
    """Search and compare over a corpus, with models from the runtime's bounded cache.

    Args:
        models_dir: Folder of local rerankers (sub-folders); ``None`` for none.
        max_rerank_seconds: Refuse a rerank whose estimated time is above this.
        include_hub: Offer registry Hub ids (default: when not ``HF_HUB_OFFLINE``).
        compile: ``on``, ``off`` or ``auto`` (default ``$ETTIN_COMPILE``, else auto): whether
            :meth:`compile_reranker` compiles (the app's start-up reranker, before it serves); auto does where the
            device has a compiler for ``torch.compile``.

    Raises:
        InputError: a compile mode not in :data:`COMPILE_MODES`.
    """

    def __init__(
        self,
        models_dir: str | Path | None = None,
        max_rerank_seconds: float = DEFAULT_MAX_RERANK_SECONDS,
        include_hub: bool | None = None,
        compile: str | None = None,
    ) -> None:
        self.models_dir = Path(models_dir).expanduser().resolve() if models_dir else None
        self.max_rerank_seconds = max_rerank_seconds
        self.include_hub = include_hub
        self.compile = compile_mode(compile)
        self._throughput: dict[str, ThroughputBook] = {}  # one per precision, so bf16 and fp32 rates never mix
        self._bm25: BoundedCache[BM25FirstStage] = BoundedCache(BM25_CACHED)
        # keyed by (embedder, corpus): a hit skips re-hashing the embedder's weights for the embedding-store key
        self._dense: BoundedCache[DenseFirstStage] = BoundedCache(DENSE_CACHED)
        # every user corpus is embedded once and kept on disk, within a bound (least recently used files go first)
        self._embeddings = EmbeddingStore(cache_dir() / "app-embeddings", max_disk_bytes=APP_EMBEDDINGS_MAX_BYTES)
        self.embedding_queue = EmbeddingQueue()  # one corpus embedding at a time, within its own time budget
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
        """The dense first stage over ``corpus``; a corpus not embedded yet waits for the embedding queue's one slot
        and must finish within its time budget (:class:`demo.fair.EmbeddingQueue`)."""
        from ettin.runtime import cached_embedder

        if progress:
            progress(0.0, f"loading {key}")
        embedder = cached_embedder(key, allow_local=False)
        if self._embeddings.has(embedder, corpus):  # bundled, or embedded before: nothing to queue for
            return DenseFirstStage(embedder, corpus, store=self._embeddings)
        with self.embedding_queue.slot(len(corpus), progress) as embed_progress:
            return DenseFirstStage(embedder, corpus, store=self._embeddings, progress=embed_progress)

    @staticmethod
    def reranker_settings(precision: str = "auto") -> RuntimeSettings:
        """The runtime settings a reranker runs with in the app: ``precision`` on the best device, capped at
        :data:`~ettin.runtime.INTERACTIVE_MAX_LENGTH` tokens per pair.

        Raises:
            InputError: a precision not in :data:`PRECISIONS`.
        """
        return best_settings(precision=validate_precision(precision), max_length=INTERACTIVE_MAX_LENGTH)

    def throughput(self, precision: str = "auto") -> ThroughputBook:
        """The rates measured here with ``precision`` asked for: one book per precision (auto, bf16, fp32), so an
        estimate in fp32 is never made, or scaled, from a bf16 measurement. Keyed by what was asked rather than the
        dtype it resolves to, so an estimate needs no torch import.

        Raises:
            InputError: a precision not in :data:`PRECISIONS`.
        """
        return self._throughput.setdefault(validate_precision(precision), ThroughputBook())

    def record_throughput(self, choice: RerankerChoice, precision: str, pairs: int, seconds: float) -> None:
        """Fold a measured rerank of ``pairs`` pairs in ``seconds`` into the rate of ``choice`` in ``precision``."""
        self.throughput(precision).record(choice.key, choice.size, pairs, seconds)

    def reranker(self, choice: RerankerChoice, precision: str = "auto"):
        """The loaded model for ``choice`` in ``precision``, timed on 2 pairs the first time so estimates have a rate.

        Raises:
            InputError: a precision not in :data:`PRECISIONS`.
            ModelLoadError: the model cannot be loaded.
        """
        from ettin.runtime import cached_reranker

        settings = self.reranker_settings(precision)
        roots = [self.models_dir] if self.models_dir else None
        model = cached_reranker(choice.spec, settings=settings, allow_local=choice.local, local_roots=roots)
        if self.throughput(precision).rate(choice.key) is None:  # warm-up + first measurement on 2 pairs
            t0 = time.perf_counter()
            model.score_pairs([("warm up", "a short document"), ("warm up", "another short document")])
            self.record_throughput(choice, precision, 2, time.perf_counter() - t0)
        return model

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

    # ---- estimates ---------------------------------------------------------------------------------------------------

    def estimate_text(self, key: str | None, k: int, precision: str = "auto") -> str:
        """A one-line estimate of the rerank time for the UI in ``precision`` (never raises)."""
        try:
            choice = self.reranker_choice(key)
            if choice is not None:
                seconds, how = self.throughput(precision).estimate(choice, int(k))
        except (ModelLoadError, InputError) as exc:
            return str(exc)
        if choice is None:
            return "No reranker: first-stage results only."
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

    def check_budget(self, choice: RerankerChoice, n_pairs: int, precision: str = "auto") -> None:
        """Refuse a rerank of ``n_pairs`` pairs with ``choice`` in ``precision`` estimated above the time limit.

        Raises:
            InputError: the estimate is above :attr:`max_rerank_seconds` (the message suggests a K that fits), or a bad
                precision.
        """
        seconds, how = self.throughput(precision).estimate(choice, n_pairs)
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
        precision: str = "auto",
    ) -> SearchOutcome:
        """Retrieve the top ``k`` with the first stage, rerank them in ``precision``, return the best ``top_n`` with
        timings; the outcome's ``settings`` are those the reranker ran with.

        Raises:
            InputError: bad query or parameters (``precision`` not one of :data:`PRECISIONS`), or a rerank estimated
                above the time limit.
            ModelLoadError: unknown or unloadable model.
        """
        query = validate_query(query)
        k, top_n = self._check_params(k, top_n)
        precision = validate_precision(precision)
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
            model = self.reranker(choice, precision)
            self.check_budget(choice, min(k, len(corpus)), precision)
        setup_s = time.perf_counter() - t0
        if progress:
            progress(0.0, "searching")

        def rerank_progress(done: int, total: int) -> None:
            if progress:  # also where a Stop is noticed between slices of the rerank
                progress(done / total, f"reranking: {done}/{total} documents")

        compiled = _compiled_state(model)  # before the rerank: "ready" means all of it ran compiled
        result = retrieve_and_rerank(query, stage, model, k=k, top_n=top_n, progress=rerank_progress if progress else None)
        if choice is not None and result.candidates:
            self.record_throughput(choice, precision, len(result.candidates), result.timings["rerank_s"])
        if not result.candidates:
            notes.append("the first stage found no candidate documents (BM25 needs at least one shared word)")
        if choice is not None and choice.random_init:
            notes.append(f"{choice.key}: {RANDOM_BADGE}")
        return SearchOutcome(result, choice, setup_s, notes, model.settings if model is not None else None, compiled)

    def compare(
        self,
        query: str,
        corpus: Corpus,
        first_stage: str,
        rerankers: Sequence[str] | None = None,
        k: int = 30,
        progress: ProgressFn | None = None,
        precision: str = "auto",
    ) -> CompareOutcome:
        """The complete comparison: the last outcome of :meth:`compare_stream` (same arguments, same errors)."""
        outcome = None
        for outcome in self.compare_stream(query, corpus, first_stage, rerankers, k, progress, precision):
            pass
        assert outcome is not None  # the stream yields at least once or raises
        return outcome

    def compare_stream(
        self,
        query: str,
        corpus: Corpus,
        first_stage: str,
        rerankers: Sequence[str] | None = None,
        k: int = 30,
        progress: ProgressFn | None = None,
        precision: str = "auto",
    ) -> Iterator[CompareOutcome]:
        """Rerank the same first-stage top ``k`` with several rerankers (default: all offered), smallest first, timing
        each; yield the outcome so far once the candidates are known and again after each size.

        Work happens only while the stream is advanced: closing it (the app's Stop) leaves the remaining sizes unrun.
        Sizes estimated above the time limit, or that fail to load, are skipped and listed in ``skipped``. Agreement is
        measured against the largest size selected; when it is skipped the largest other size takes its place and
        ``reference_note`` says so.

        Raises:
            InputError: bad query, K or precision, or no rerankers to compare (before the first yield).
            ModelLoadError: an unknown reranker key or first stage.
        """
        query = validate_query(query)
        k, _ = self._check_params(k, 1)
        precision = validate_precision(precision)
        choices = self._compare_choices(rerankers)
        settings = self.reranker_settings(precision)
        t0 = time.perf_counter()
        stage = self.first_stage(first_stage, corpus, progress)
        setup_s = time.perf_counter() - t0
        idx, _, _ = stage.search(query, k)
        idx = idx.tolist()
        cand_ids = [corpus.ids[i] for i in idx]
        pairs = [(query, corpus.document_text(i)) for i in idx]
        titles = [_full_title(corpus, i) for i in idx]
        skipped = {c.key: reason for c in choices if (reason := self._over_budget(c, len(pairs), precision))}
        planned = [c for c in choices if c.key not in skipped]
        outcome = CompareOutcome(query, stage.name, k, cand_ids, [], None, [], setup_s, [c.key for c in planned],
                                 precision=precision, settings=settings, choices=choices)  # fmt: skip
        yield self._with_reference(outcome, choices, skipped)
        rows: list[CompareRow] = []
        for n, choice in enumerate(planned, start=1):
            if progress:
                progress((n - 1) / len(planned), f"{choice.key}: loading and reranking {len(pairs)} documents")
            row = self._compare_one(choice, pairs, cand_ids, titles, precision)
            if isinstance(row, str):
                skipped[choice.key] = row
            else:
                rows.append(row)
            outcome = dataclasses.replace(outcome, rows=list(rows), pending=[c.key for c in planned[n:]])
            yield self._with_reference(outcome, choices, skipped)

    def _compare_choices(self, rerankers: Sequence[str] | None) -> list[RerankerChoice]:
        """The offered choices for ``rerankers`` (default: all offered), smallest first, each once."""
        keys = list(rerankers) if rerankers else [c.key for c in self.rerankers]
        chosen = {c.key: c for c in (self.reranker_choice(key) for key in keys) if c is not None}
        if not chosen:
            raise InputError(
                "no rerankers to compare: build replicas with `python -m ettin replica --size all --out models` "
                "and start the app with --models-dir models"
            )
        return sorted(chosen.values(), key=lambda c: c.parameters or 0)

    @staticmethod
    def _with_reference(
        outcome: CompareOutcome, choices: list[RerankerChoice], skipped: dict[str, str]
    ) -> CompareOutcome:
        """``outcome`` with its skipped list, the reference (the largest selected, or the largest other size that ran or
        will run when that one was skipped) and a note when the reference is not the largest selected."""
        intended = choices[-1].key
        skipped_list = [f"{key}: {reason}" for key, reason in skipped.items()]
        if intended not in skipped:
            return dataclasses.replace(outcome, skipped=skipped_list, reference=intended, reference_note="")
        alive = {r.choice.key for r in outcome.rows} | set(outcome.pending)
        fallback = next((c.key for c in reversed(choices) if c.key in alive), None)
        instead = (f"agreement is measured against **{fallback}**, the largest other size selected, instead" if fallback
                   else "no size ran, so there is no agreement to measure")  # fmt: skip
        note = f"The reference **{intended}** (the largest size selected) was skipped: {skipped[intended]}; {instead}."
        return dataclasses.replace(outcome, skipped=skipped_list, reference=fallback, reference_note=note)

    def _over_budget(self, choice: RerankerChoice, n_pairs: int, precision: str) -> str:
        """Why ``choice`` is estimated above the time limit for ``n_pairs`` pairs, or ``""``."""
        seconds, how = self.throughput(precision).estimate(choice, n_pairs)
        if seconds is not None and seconds > self.max_rerank_seconds:
            return f"estimated {seconds:,.0f} s > limit {self.max_rerank_seconds:,.0f} s ({how})"
        return ""

    def _compare_one(
        self,
        choice: RerankerChoice,
        pairs: list[tuple[str, str]],
        cand_ids: list[str],
        titles: list[str],
        precision: str,
    ) -> CompareRow | str:
        """Rerank the shared candidates with one reranker, or say why it was skipped."""
        reason = self._over_budget(choice, len(pairs), precision)
        if reason:
            return reason
        try:
            model = self.reranker(choice, precision)
            self.check_budget(choice, len(pairs), precision)
        except (ModelLoadError, InputError) as exc:
            return str(exc)
        compiled = _compiled_state(model)
        t1 = time.perf_counter()
        scores = model.score_pairs(pairs, batch_size=INTERACTIVE_BATCH) if pairs else []
        dt = time.perf_counter() - t1
        if pairs:
            self.record_throughput(choice, precision, len(pairs), dt)
        order = sorted(range(len(pairs)), key=lambda j: (-float(scores[j]), j))
        return CompareRow(
            choice,
            [cand_ids[j] for j in order],
            [titles[j] for j in order],
            {cand_ids[j]: float(scores[j]) for j in range(len(pairs))},
            dt,
            len(pairs),
            model.settings,
            getattr(model, "parameters", None) or choice.parameters,
            compiled,
        )


def _compiled_state(model) -> str | None:
    """The state of ``model``'s compiled encoder, ``None`` when it has none (or no model)."""
    from ettin.runtime import compiled_forward

    forward = compiled_forward(model.model) if model is not None else None
    return forward.state if forward is not None else None


def _full_title(corpus: Corpus, i: int, untitled_chars: int = 160) -> str:
    """Document ``i``'s whole title; for an untitled document, the start of its text (cut at a word, with "…")."""
    title = corpus.title(i).strip()
    if title:
        return title
    text = " ".join(corpus.texts[i].split())
    if len(text) <= untitled_chars:
        return text
    return text[:untitled_chars].rsplit(" ", 1)[0] + "…"
