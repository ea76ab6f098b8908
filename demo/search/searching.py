"""One search: retrieve the top K with the first stage, rerank them within the time budget, keep the best ``top_n`` with
timings and notes for the user."""

from __future__ import annotations

import time

from demo.search.accelerating import runtime_text
from demo.search.loading import compiled_state
from demo.search.outcomes import SearchOutcome
from demo.search.params import ProgressFn, check_params, validate_precision
from demo.sources.choices import RANDOM_BADGE
from ettin.corpus import Corpus
from ettin.pipeline import retrieve_and_rerank, validate_query

__all__ = ["SearchMixin"]


class SearchMixin:
    """:meth:`search` for :class:`~demo.search.playground.Playground`, from its lookups and loading
    (:class:`~demo.search.loading.LoadingMixin`), its budget (:class:`~demo.search.budget.BudgetMixin`) and what a
    search that waits for the start-up warm-up is told (:class:`~demo.search.warmup.WarmUpMixin`)."""

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
        run_anyway: bool = False,
    ) -> SearchOutcome:
        """Retrieve the top ``k`` with the first stage, rerank them in ``precision``, return the best ``top_n`` with
        timings; the outcome's ``settings`` are those the reranker ran with.

        A rerank estimated above the time limit is refused before it starts (before the first stage, on the estimate
        shown; after loading, on the model's measurement) unless ``run_anyway``: it then runs, and a note warns.

        Raises:
            InputError: bad query or parameters (``precision`` not one of :data:`~demo.search.params.PRECISIONS`).
            OverLimitError: a rerank estimated above the time limit, not ``run_anyway`` (names the K that fits).
            ModelLoadError: unknown or unloadable model.
        """
        query = validate_query(query)
        k, top_n = check_params(k, top_n)
        precision = validate_precision(precision)
        notes: list[str] = []
        if k > len(corpus):
            notes.append(f"K = {k} is more than the {len(corpus):,} documents: all of them are candidates")
        choice = self.reranker_choice(reranker)
        if choice is not None:
            self.check_budget(choice, min(k, len(corpus)), precision, run_anyway)
        t0 = time.perf_counter()
        starting = self.starting_note() if progress else ""
        if starting:  # the warm-up holds the models this search needs: it waits for them
            progress(0.0, f"loading{starting}")
        stage = self.first_stage(first_stage, corpus, progress)
        model = None
        if choice is not None:
            if progress:
                progress(0.0, f"loading {choice.key}{self.starting_note()}")
            model, warning = self.reranker_within_limit(choice, min(k, len(corpus)), precision, run_anyway)
            if warning:
                notes.append(warning)
        setup_s = time.perf_counter() - t0
        if progress:
            progress(0.0, "searching")

        def rerank_progress(done: int, total: int) -> None:
            if progress:  # also where a Stop is noticed between slices of the rerank
                progress(done / total, f"reranking: {done}/{total} documents")

        compiled = compiled_state(model)  # before the rerank: "ready" means all of it ran compiled
        runtime = runtime_text(model, self.backend_build(choice, precision)) if model is not None else None
        fuse_weight = choice.fuse_weight if choice is not None else None
        result = retrieve_and_rerank(query, stage, model, k=k, top_n=top_n, progress=rerank_progress if progress else None,
                                     fuse_weight=fuse_weight)  # fmt: skip
        if choice is not None and result.candidates:
            self.record_throughput(choice, precision, len(result.candidates), result.timings["rerank_s"])
        if not result.candidates:
            notes.append("the first stage found no candidate documents (BM25 needs at least one shared word)")
        if fuse_weight is not None:
            notes.append(_fused_note(choice.spec, fuse_weight))
        if choice is not None and choice.random_init:
            notes.append(f"{choice.key}: {RANDOM_BADGE}")
        return SearchOutcome(result, choice, setup_s, notes, model.settings if model is not None else None, compiled,
                             runtime)


def _fused_note(reranker: str, weight: float) -> str:
    """What a fused system's scores are."""
    return (f"fused system: each score is {weight:g} × {reranker}'s score + {1 - weight:g} × the first stage's, each "
            "z-scored over the K candidates (so 0 is the candidates' average)")
