"""The search playground behind the app: which models are offered, time estimates and bounds, search and all-sizes compare.

No Gradio here: the app calls these functions and turns their results into components. Every refusal is an
:class:`~ettin.pipeline.InputError` (bad parameters, too slow) or :class:`~ettin.runtime.ModelLoadError` (unknown or
unloadable model) with a message meant for the user.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ettin import registry
from ettin.corpus import Corpus
from ettin.pipeline import BM25FirstStage, DenseFirstStage, InputError, SearchResult, retrieve_and_rerank, validate_query
from ettin.runtime import ModelLoadError

NO_RERANKER = "none"
RANDOM_BADGE = "random weights — scores meaningless"
MAX_K = 200
MAX_TOP_N = 50
DEFAULT_MAX_RERANK_SECONDS = float(os.environ.get("ETTIN_MAX_RERANK_SECONDS", "60"))

ProgressFn = Callable[[float, str], None]


def hub_offline() -> bool:
    """True when the Hugging Face Hub is switched off for this process (``HF_HUB_OFFLINE``)."""
    return os.environ.get("HF_HUB_OFFLINE", "0").strip() not in ("", "0", "false", "False")


# --------------------------------------------------------------------------------------------------------------------
# Model choices


@dataclass(frozen=True)
class RerankerChoice:
    """A reranker the app offers: a folder inside the models folder, or a registry Hub id when online."""

    key: str  # what the UI and the API send: a local folder name or a Hub id
    label: str
    spec: str  # what the runtime loads (a resolved local path or a Hub id)
    size: str | None  # Ettin size when known (replica_of or registry)
    random_init: bool
    parameters: int | None

    @property
    def local(self) -> bool:
        return self.spec != self.key or Path(self.spec).is_dir()


def _size_of(hub_id: str | None) -> str | None:
    if not hub_id:
        return None
    try:
        return registry.reranker(hub_id).size
    except KeyError:
        return None


def discover_rerankers(models_dir: str | Path | None, include_hub: bool | None = None) -> list[RerankerChoice]:
    """Rerankers in ``models_dir`` (each sub-folder with a ``config.json``, e.g. ``python -m ettin replica`` output) plus,
    when the Hub is reachable (``include_hub``; default: not ``HF_HUB_OFFLINE``), the six registry Hub ids.

    Sorted by parameter count. Replicas are labelled with :data:`RANDOM_BADGE`.
    """
    from ettin.replica import read_metadata

    choices: list[RerankerChoice] = []
    if models_dir is not None:
        root = Path(models_dir).expanduser().resolve()
        if root.is_dir():
            folders = [root] if (root / "config.json").is_file() else sorted(p for p in root.iterdir() if p.is_dir())
            for folder in folders:
                if not (folder / "config.json").is_file():
                    continue
                meta = read_metadata(folder) or {}
                random_init = bool(meta.get("random_init"))
                size = meta.get("size") or _size_of(meta.get("replica_of"))
                params = meta.get("parameters") or (registry.RERANKERS[size].total_parameters if size else None)
                what = f"Ettin {size} replica" if random_init and size else ("local model" if not size else f"Ettin {size}")
                label = f"{folder.name} — {what}" + (f" ({RANDOM_BADGE})" if random_init else "")
                choices.append(RerankerChoice(folder.name, label, str(folder), size, random_init, params))
    if include_hub if include_hub is not None else not hub_offline():
        for meta in registry.RERANKERS.values():
            choices.append(
                RerankerChoice(meta.hub_id, f"{meta.hub_id} (Hub)", meta.hub_id, meta.size, False, meta.total_parameters)
            )
    return sorted(choices, key=lambda c: (c.parameters or 0, c.key))


@dataclass(frozen=True)
class FirstStageChoice:
    key: str
    label: str
    available_offline: bool


def first_stage_choices(include_hub: bool | None = None) -> list[FirstStageChoice]:
    """BM25 always; the packaged all-MiniLM-L6-v2 when installed; the other registry embedders only when online."""
    from ettin.runtime import packaged_path

    online = include_hub if include_hub is not None else not hub_offline()
    out = []
    for meta in registry.EMBEDDERS.values():
        local = packaged_path(meta.hub_id) is not None
        if local or online:
            out.append(FirstStageChoice(meta.hub_id, meta.label + ("" if local else " (Hub download)"), local))
    out.append(FirstStageChoice(registry.BM25.id, registry.BM25.label, True))
    return out


# --------------------------------------------------------------------------------------------------------------------
# Throughput: measured live, used for estimates and bounds


class ThroughputBook:
    """Pairs/s measured in this process, per reranker; estimates for unmeasured sizes scale a measured one by the ratio
    of the blog's published CPU rates (``speed.cpu_i7_13700k``)."""

    def __init__(self) -> None:
        self._rates: dict[str, float] = {}
        self._sizes: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def record(self, key: str, size: str | None, pairs: int, seconds: float) -> None:
        if pairs <= 0 or seconds <= 0:
            return
        rate = pairs / seconds
        with self._lock:
            old = self._rates.get(key)
            self._rates[key] = rate if old is None else 0.5 * old + 0.5 * rate
            self._sizes[key] = size

    def rate(self, key: str) -> float | None:
        with self._lock:
            return self._rates.get(key)

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return dict(self._rates)

    def estimate(self, choice: RerankerChoice, n_pairs: int) -> tuple[float | None, str]:
        """Seconds to score ``n_pairs`` with ``choice`` on this machine, and how the estimate was made."""
        measured = self.rate(choice.key)
        if measured:
            return n_pairs / measured, f"measured here: {measured:,.1f} pairs/s"
        published = registry.published()["speed"]["cpu_i7_13700k"]
        target = published.get(registry.RERANKERS[choice.size].hub_id) if choice.size else None
        with self._lock:
            anchors = [(k, r, self._sizes.get(k)) for k, r in self._rates.items()]
        for key, rate, size in anchors:
            ref = published.get(registry.RERANKERS[size].hub_id) if size else None
            if target and ref:
                est = rate * target / ref
                return n_pairs / est, f"{est:,.1f} pairs/s, scaled from {key} measured here by the blog's CPU speed ratio"
        return None, "not measured on this machine yet"


# --------------------------------------------------------------------------------------------------------------------
# Agreement metrics


def overlap_at_k(a: Sequence[str], b: Sequence[str], k: int = 5) -> float:
    """Fraction of the top ``k`` of ``a`` that is also in the top ``k`` of ``b``."""
    if k < 1:
        raise ValueError("k must be positive")
    top_a, top_b = list(a)[:k], set(list(b)[:k])
    if not top_a:
        return float("nan")
    return len([x for x in top_a if x in top_b]) / min(k, len(top_a))


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b between two score lists over the same items (NaN when either is constant or fewer than 2 items)."""
    n = len(x)
    if n != len(y):
        raise ValueError("x and y must have the same length")
    concordant = discordant = ties_x = ties_y = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    denom = ((concordant + discordant + ties_x) * (concordant + discordant + ties_y)) ** 0.5
    return float("nan") if denom == 0 else (concordant - discordant) / denom


# --------------------------------------------------------------------------------------------------------------------
# The playground


@dataclass
class SearchOutcome:
    result: SearchResult
    choice: RerankerChoice | None
    setup_s: float
    notes: list[str] = field(default_factory=list)

    @property
    def timings(self) -> dict[str, float]:
        return {"setup_s": self.setup_s, **self.result.timings}


@dataclass
class CompareRow:
    choice: RerankerChoice
    top: list[str]  # doc ids, best first (all candidates)
    titles: list[str]
    scores: dict[str, float]
    seconds: float
    pairs: int

    @property
    def pairs_per_s(self) -> float:
        return self.pairs / self.seconds if self.seconds > 0 else float("nan")


@dataclass
class CompareOutcome:
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
        self._bm25: OrderedDict[str, BM25FirstStage] = OrderedDict()
        self._dense: OrderedDict[str, DenseFirstStage] = OrderedDict()  # at most 4 (embedder, corpus) pairs
        self._bm25_lock = threading.Lock()
        self.refresh()

    def refresh(self) -> None:
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
        key = self.first_stage_key(key)
        if key == registry.BM25.id:
            with self._bm25_lock:
                if corpus.fingerprint in self._bm25:
                    self._bm25.move_to_end(corpus.fingerprint)
                    return self._bm25[corpus.fingerprint]
            stage = BM25FirstStage(corpus)
            with self._bm25_lock:
                self._bm25[corpus.fingerprint] = stage
                while len(self._bm25) > 8:
                    self._bm25.popitem(last=False)
            return stage
        from ettin.runtime import cached_embedder

        dense_key = f"{key}\x00{corpus.fingerprint}"
        with self._bm25_lock:
            if dense_key in self._dense:  # skips re-hashing the embedder's weights for the embedding-store key
                self._dense.move_to_end(dense_key)
                return self._dense[dense_key]
        if progress:
            progress(0.0, f"loading {key}")
        embedder = cached_embedder(key, allow_local=False)

        def embed_progress(done: int, total: int) -> None:
            if progress:
                progress(done / max(total, 1), f"embedding the corpus with {embedder.name}: {done:,}/{total:,} documents")

        stage = DenseFirstStage(embedder, corpus, progress=embed_progress)
        with self._bm25_lock:
            self._dense[dense_key] = stage
            while len(self._dense) > 4:
                self._dense.popitem(last=False)
        return stage

    def reranker(self, choice: RerankerChoice):
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
            published = registry.published()["speed"]["cpu_i7_13700k"]
            rate = published.get(registry.RERANKERS[choice.size].hub_id) if choice.size else None
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
        try:
            k_i, n_i = int(k), int(top_n)
        except (TypeError, ValueError):
            raise InputError("K and the number of results must be whole numbers") from None
        if not 1 <= k_i <= MAX_K:
            raise InputError(f"K (first-stage depth) must be between 1 and {MAX_K}")
        if not 1 <= n_i <= MAX_TOP_N:
            raise InputError(f"the number of results to show must be between 1 and {MAX_TOP_N}")
        return k_i, n_i

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
        rows: list[CompareRow] = []
        skipped: list[str] = []
        for n, choice in enumerate(sorted(choices, key=lambda c: c.parameters or 0), start=1):
            if progress:
                progress((n - 1) / len(choices), f"{choice.key}: loading and reranking {len(pairs)} documents")
            seconds, how = self.throughput.estimate(choice, len(pairs))
            if seconds is not None and seconds > self.max_rerank_seconds:
                skipped.append(f"{choice.key}: estimated {seconds:,.0f} s > limit {self.max_rerank_seconds:,.0f} s ({how})")
                continue
            try:
                model = self.reranker(choice)
                self._check_budget(choice, len(pairs))
            except (ModelLoadError, InputError) as exc:
                skipped.append(f"{choice.key}: {exc}")
                continue
            t1 = time.perf_counter()
            scores = model.score_pairs(pairs) if pairs else []
            dt = time.perf_counter() - t1
            if pairs:
                self.throughput.record(choice.key, choice.size, len(pairs), dt)
            order = sorted(range(len(pairs)), key=lambda j: (-float(scores[j]), j))
            rows.append(
                CompareRow(
                    choice,
                    [cand_ids[j] for j in order],
                    [corpus.title(idx[j]) or corpus.texts[idx[j]][:80] for j in order],
                    {cand_ids[j]: float(scores[j]) for j in range(len(pairs))},
                    dt,
                    len(pairs),
                )
            )
        reference = max(rows, key=lambda r: r.choice.parameters or 0).choice.key if rows else None
        return CompareOutcome(query, stage.name, k, cand_ids, rows, reference, skipped, setup_s)


def compare_frame(outcome: CompareOutcome, top: int = 5):
    """One row per reranker: time, live pairs/s, top-``top`` titles, overlap@top and Kendall tau vs the reference."""
    import pandas as pd

    ref = next((r for r in outcome.rows if r.choice.key == outcome.reference), None)
    records = []
    for r in outcome.rows:
        overlap = tau = float("nan")
        if ref is not None:
            overlap = overlap_at_k(r.top, ref.top, top)
            shared = [d for d in outcome.candidates if d in r.scores and d in ref.scores]
            tau = kendall_tau([r.scores[d] for d in shared], [ref.scores[d] for d in shared])
        records.append(
            {
                "reranker": r.choice.key + (f" ({RANDOM_BADGE})" if r.choice.random_init else ""),
                "parameters": r.choice.parameters,
                "rerank_s": round(r.seconds, 3),
                "pairs_per_s": round(r.pairs_per_s, 1),
                f"overlap@{top}": round(overlap, 3),
                "kendall_tau": round(tau, 3),
                f"top-{top}": " | ".join(t[:60] for t in r.titles[:top]),
            }
        )
    return pd.DataFrame.from_records(records)


def results_frame(outcome: SearchOutcome, relevant: set[str] | None = None):
    """The search results as a table: final rank, first-stage rank, movement, scores, title and snippet."""
    import pandas as pd

    records = []
    for h in outcome.result.hits:
        mv = h.movement
        arrow = "–" if h.rerank_rank is None else ("=" if mv == 0 else (f"↑ {mv}" if mv > 0 else f"↓ {-mv}"))
        snippet = h.text[:200] + ("…" if len(h.text) > 200 else "")
        records.append(
            {
                "rank": h.final_rank,
                "first_stage_rank": h.first_stage_rank,
                "movement": arrow,
                "rerank_score": None if h.rerank_score is None else round(h.rerank_score, 4),
                "first_stage_score": round(h.first_stage_score, 4),
                "doc_id": h.doc_id,
                "relevant": ("yes" if h.doc_id in relevant else "") if relevant is not None else "",
                "title": h.title,
                "snippet": snippet,
            }
        )
    columns = ["rank", "first_stage_rank", "movement", "rerank_score", "first_stage_score", "doc_id", "relevant", "title", "snippet"]
    return pd.DataFrame.from_records(records, columns=columns)


def movement_frame(outcome: SearchOutcome):
    """Every reranked candidate: first-stage rank, final rank, whether it made the shown top."""
    import pandas as pd

    shown = {h.doc_id for h in outcome.result.hits}
    records = [
        {
            "doc_id": h.doc_id,
            "title": h.title or h.text[:60],
            "first_stage_rank": h.first_stage_rank,
            "final_rank": h.final_rank,
            "shown": h.doc_id in shown,
        }
        for h in outcome.result.candidates
    ]
    return pd.DataFrame.from_records(records, columns=["doc_id", "title", "first_stage_rank", "final_rank", "shown"])


def timings_frame(outcome: SearchOutcome):
    import pandas as pd

    t = outcome.timings
    rows = [
        ("setup (load models, index/embed corpus)", t["setup_s"]),
        ("embed query", t["embed_query_s"]),
        ("first-stage search", t["search_s"]),
        ("rerank", t["rerank_s"]),
        ("search total (excl. setup)", t["total_s"]),
    ]
    return pd.DataFrame({"stage": [r[0] for r in rows], "seconds": [round(r[1], 4) for r in rows]})
