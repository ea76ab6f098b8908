"""The all-sizes comparison: the same first-stage candidates reranked by every chosen size, smallest first, streamed
size by size, with agreement measured against a reference size (and a fallback when that one is skipped)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from collections.abc import Iterator, Sequence

from demo.search.budget import OverLimitError, SkipNote
from demo.search.accelerating import runtime_text
from demo.search.loading import compiled_state
from demo.search.outcomes import CompareOutcome, CompareRow
from demo.search.params import ProgressFn, check_params, validate_precision
from demo.sources.choices import RerankerChoice
from ettin.corpus import Corpus
from ettin.fusion import zscore_fuse
from ettin.pipeline import InputError, validate_query
from ettin.runtime import INTERACTIVE_BATCH, ModelLoadError

__all__ = ["CompareMixin", "OverLimitRow"]


class CompareMixin:
    """:meth:`compare` and :meth:`compare_stream` for :class:`~demo.search.playground.Playground`, from its lookups and
    loading (:class:`~demo.search.loading.LoadingMixin`) and its budget (:class:`~demo.search.budget.BudgetMixin`)."""

    def compare(
        self,
        query: str,
        corpus: Corpus,
        first_stage: str,
        rerankers: Sequence[str] | None = None,
        k: int = 30,
        progress: ProgressFn | None = None,
        precision: str = "auto",
        run_anyway: bool = False,
    ) -> CompareOutcome:
        """The complete comparison: the last outcome of :meth:`compare_stream` (same arguments, same errors)."""
        outcome = None
        for outcome in self.compare_stream(query, corpus, first_stage, rerankers, k, progress, precision, run_anyway):
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
        run_anyway: bool = False,
    ) -> Iterator[CompareOutcome]:
        """Rerank the same first-stage top ``k`` with several rerankers (default: all offered), smallest first, timing
        each; yield the outcome so far once the candidates are known and again after each size.

        Work happens only while the stream is advanced: closing it (the app's Stop) leaves the remaining sizes unrun.
        A size estimated above the time limit is skipped before it loads (the app's one limit rule,
        :mod:`demo.search.budget`), its ``skipped`` line a :class:`~demo.search.budget.SkipNote` with its estimate
        and the K that fits; with ``run_anyway`` it runs, and its row (an :class:`OverLimitRow`) carries the warning.
        A size that fails to load is skipped too, saying why. Agreement is
        measured against the largest size selected; when it is skipped the largest other size takes its place and
        ``reference_note`` says so.

        Raises:
            InputError: bad query, K or precision, or no rerankers to compare (before the first yield).
            ModelLoadError: an unknown reranker key or first stage.
        """
        query = validate_query(query)
        k, _ = check_params(k, 1)
        precision = validate_precision(precision)
        choices = self._compare_choices(rerankers)
        settings = self.reranker_settings(precision)
        t0 = time.perf_counter()
        stage = self.first_stage(first_stage, corpus, progress)
        setup_s = time.perf_counter() - t0
        idx, fs_scores, _ = stage.search(query, k)
        idx = idx.tolist()
        cand_ids = [corpus.ids[i] for i in idx]
        first_stage_scores = dict(zip(cand_ids, map(float, fs_scores.tolist())))
        pairs = [(query, corpus.document_text(i)) for i in idx]
        titles = [_full_title(corpus, i) for i in idx]
        refusals = {c.key: self._over_budget(c, len(pairs), precision) for c in choices}
        skipped = {key: r.skip_reason() for key, r in refusals.items() if r is not None and not run_anyway}
        planned = [c for c in choices if c.key not in skipped]
        outcome = CompareOutcome(query, stage.name, k, cand_ids, [], None, [], setup_s, [c.key for c in planned],
                                 precision=precision, settings=settings, choices=choices)  # fmt: skip
        yield self._with_reference(outcome, choices, skipped)
        rows: list[CompareRow] = []
        for n, choice in enumerate(planned, start=1):
            if progress:
                progress((n - 1) / len(planned), f"{choice.key}: loading and reranking {len(pairs)} documents")
            row = self._compare_one(choice, pairs, cand_ids, titles, precision, first_stage_scores, run_anyway)
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
        skipped_list = [(reason if isinstance(reason, SkipNote) else SkipNote(reason)).prefixed(f"{key}: ")
                        for key, reason in skipped.items()]  # fmt: skip
        if intended not in skipped:
            return dataclasses.replace(outcome, skipped=skipped_list, reference=intended, reference_note="")
        alive = {r.choice.key for r in outcome.rows} | set(outcome.pending)
        fallback = next((c.key for c in reversed(choices) if c.key in alive), None)
        instead = (f"agreement is measured against **{fallback}**, the largest other size selected, instead" if fallback
                   else "no size ran, so there is no agreement to measure")  # fmt: skip
        note = f"The reference **{intended}** (the largest size selected) was skipped: {skipped[intended]}; {instead}."
        return dataclasses.replace(outcome, skipped=skipped_list, reference=fallback, reference_note=note)

    def _compare_one(
        self,
        choice: RerankerChoice,
        pairs: list[tuple[str, str]],
        cand_ids: list[str],
        titles: list[str],
        precision: str,
        first_stage_scores: dict[str, float],
        run_anyway: bool = False,
    ) -> CompareRow | SkipNote:
        """Rerank the shared candidates with one reranker (a fused system: fused with ``first_stage_scores``), or say
        why it was skipped (estimated above the limit, checked again once a model new here is timed; or unloadable)."""
        try:
            model, warning = self.reranker_within_limit(choice, len(pairs), precision, run_anyway)
        except OverLimitError as exc:
            return exc.skip_reason()
        except (ModelLoadError, InputError) as exc:
            return SkipNote(str(exc))
        compiled = compiled_state(model)
        runtime = runtime_text(model, self.backend_build(choice, precision))
        t1 = time.perf_counter()
        scores = model.score_pairs(pairs, batch_size=INTERACTIVE_BATCH) if pairs else []
        dt = time.perf_counter() - t1
        if pairs:
            self.record_throughput(choice, precision, len(pairs), dt)
        if choice.fuse_weight is not None and pairs:
            fused = zscore_fuse(first_stage_scores, dict(zip(cand_ids, map(float, scores))), choice.fuse_weight)
            scores = [fused[d] for d in cand_ids]
        order = sorted(range(len(pairs)), key=lambda j: (-float(scores[j]), j))
        row = CompareRow(
            choice,
            [cand_ids[j] for j in order],
            [titles[j] for j in order],
            {cand_ids[j]: float(scores[j]) for j in range(len(pairs))},
            dt,
            len(pairs),
            model.settings,
            choice.parameters or getattr(model, "parameters", None),  # the registry's count: one per model
            compiled,
            runtime,
        )
        return OverLimitRow(**vars(row), warning=warning) if warning else row


@dataclass
class OverLimitRow(CompareRow):
    """A size run anyway although estimated above the time limit: its row, with the warning to show."""

    warning: str = ""


def _full_title(corpus: Corpus, i: int, untitled_chars: int = 160) -> str:
    """Document ``i``'s whole title; for an untitled document, the start of its text (cut at a word, with "…")."""
    title = corpus.title(i).strip()
    if title:
        return title
    text = " ".join(corpus.texts[i].split())
    if len(text) <= untitled_chars:
        return text
    return text[:untitled_chars].rsplit(" ", 1)[0] + "…"
