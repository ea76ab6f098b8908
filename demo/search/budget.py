"""The playground's time budget: rerank rates measured on this machine (one book per precision, stored across restarts),
the estimates built on them, and the one rule for the app's time limit.

**The rule** (Search, Compare and ``POST /rerank`` alike): a rerank estimated above the limit is *refused before it
starts*, with the K that fits (:class:`OverLimitError`; Compare skips that size and goes on). The user may choose to run
it anyway; it then runs, and its result carries a visible warning saying it was estimated above the limit. A model not
measured here yet is timed on sample pairs when it loads, and checked again against that measurement before its
rerank starts (:meth:`BudgetMixin.reranker_within_limit`).
"""

from __future__ import annotations

from demo.search.params import validate_precision
from demo.search.throughput import Estimate, RateStore, ThroughputBook
from demo.sources.choices import RANDOM_BADGE, RerankerChoice
from ettin.errors import UserError
from ettin.pipeline import InputError

__all__ = ["BudgetMixin", "OverLimitError", "SkipNote", "format_seconds", "over_limit_warning"]


def format_seconds(seconds: float) -> str:
    """Seconds as an estimate is shown: two significant digits below 10 (``0.16``, ``8``, ``9.5``), whole above."""
    return f"{seconds:.2g}" if seconds < 10 else f"{seconds:,.0f}"


class OverLimitError(InputError):
    """A rerank refused before it starts: estimated above the app's time limit. The message names the estimate, its
    basis, the limit and the K that fits.

    Attributes:
        key: The reranker's key.
        estimate: The estimate it was refused on.
        limit_s: The limit, in seconds.
    """

    def __init__(self, key: str, estimate: Estimate, limit_s: float) -> None:
        self.key, self.estimate, self.limit_s = key, estimate, limit_s
        fits = estimate.fits(limit_s)
        lower = (f"lower K to {fits} (the most that fit)" if fits else "not even 1 document fits")
        super().__init__(
            f"reranking {estimate.n_pairs} documents with {key} is estimated at {format_seconds(estimate.seconds)} s on "
            f"this machine ({estimate.basis}), above the {limit_s:g} s limit: {lower}, pick a smaller size, or choose "
            "to run it anyway"
        )

    def skip_reason(self) -> SkipNote:
        """The short reason Compare lists this size as skipped with (its estimate and the K that fits)."""
        est, fits = self.estimate, self.estimate.fits(self.limit_s)
        fit = f"K ≤ {fits} fits" if fits else "no K fits"
        return SkipNote(f"estimated {format_seconds(est.seconds)} s for {est.n_pairs} documents > limit {self.limit_s:g} s "
                        f"({est.basis}); {fit}, or tick Run anyway", est.seconds, fits, self.limit_s)  # fmt: skip


class SkipNote(str):
    """Why a size was skipped (the text), carrying its estimate for the chart: ``estimate_s`` (``None`` when it was
    skipped for another reason, e.g. it failed to load), ``fits`` (the K that fits) and ``limit_s``."""

    estimate_s: float | None
    fits: int | None
    limit_s: float | None

    def __new__(cls, text: str, estimate_s: float | None = None, fits: int | None = None,
                limit_s: float | None = None) -> SkipNote:  # fmt: skip
        note = super().__new__(cls, text)
        note.estimate_s, note.fits, note.limit_s = estimate_s, fits, limit_s
        return note

    def prefixed(self, prefix: str) -> SkipNote:
        """``prefix`` + this text, carrying the same estimate."""
        return SkipNote(prefix + self, self.estimate_s, self.fits, self.limit_s)


def over_limit_warning(key: str, estimate: Estimate, limit_s: float) -> str:
    """The warning a rerank run anyway above the limit carries."""
    return (f"⚠️ run anyway: {key} was estimated at {format_seconds(estimate.seconds)} s for {estimate.n_pairs} "
            f"documents, above the {limit_s:g} s limit ({estimate.basis})")


class BudgetMixin:
    """Rates, estimates and the time limit for :class:`~demo.search.playground.Playground`.

    Uses the playground's ``max_rerank_seconds`` (the limit), ``_throughput`` (precision -> book), and
    ``reranker_choice`` and ``reranker`` from :class:`~demo.search.loading.LoadingMixin`.
    """

    max_rerank_seconds: float
    _throughput: dict[str, ThroughputBook]

    def throughput(self, precision: str = "auto") -> ThroughputBook:
        """The rates measured on this machine with ``precision`` asked for: one book per precision (auto, bf16, fp32),
        so an estimate in fp32 is never made, or scaled, from a bf16 measurement; its first use reads the rates stored
        in the cache folder for this machine. Keyed by what was asked rather than the dtype it resolves to, so an
        estimate needs no torch import.

        Raises:
            InputError: a precision not in :data:`~demo.search.params.PRECISIONS`.
        """
        precision = validate_precision(precision)
        book = self._throughput.get(precision)
        if book is None:
            book = self._throughput.setdefault(precision, ThroughputBook(precision, RateStore()))
        return book

    def record_throughput(self, choice: RerankerChoice, precision: str, pairs: int, seconds: float) -> None:
        """Fold a rerank of ``pairs`` pairs in ``seconds`` into the rate of ``choice`` in ``precision`` (in memory)."""
        self.throughput(precision).record(choice, pairs, seconds)

    def estimate(self, choice: RerankerChoice, n_pairs: int, precision: str = "auto") -> Estimate | None:
        """The estimated rerank of ``n_pairs`` pairs with ``choice`` in ``precision``; ``None`` before anything was
        measured here that it can be scaled from."""
        return self.throughput(precision).estimate(choice, int(n_pairs))

    def estimate_text(self, key: str | None, k: int, precision: str = "auto") -> str:
        """A one-line Markdown estimate of the rerank time for K = ``k``, with its basis and what the limit means for
        it (never raises: a bad key or precision is the message)."""
        try:
            choice = self.reranker_choice(key)
            if choice is None:
                return "No reranker: first-stage results only."
            k = int(k)
            est = self.estimate(choice, k, precision)
        except UserError as exc:
            return str(exc)
        badge = f" **{RANDOM_BADGE}**." if choice.random_init else ""
        if est is None:
            return (f"Rerank time for {k} documents: not measured on this machine yet; the first search times "
                    f"{choice.key} on sample pairs when it loads it (a few seconds more).{badge}")  # fmt: skip
        load = "" if est.measured else " The first search also loads the model and times it (a few seconds more)."
        bound = ""
        if est.seconds > self.max_rerank_seconds:
            fits = est.fits(self.max_rerank_seconds)
            lower = f"lower K to {fits}" if fits else "pick a smaller size"
            bound = (f" **Above the {self.max_rerank_seconds:g} s limit: a search is refused before it starts — "
                     f"{lower}, or tick Run anyway.**")  # fmt: skip
        return f"Estimated rerank time for {k} documents: **{est.seconds:,.1f} s** ({est.basis}).{bound}{load}{badge}"

    def _over_budget(self, choice: RerankerChoice, n_pairs: int, precision: str) -> OverLimitError | None:
        """The refusal of ``choice`` for ``n_pairs`` pairs when it is estimated above the limit, else ``None``."""
        est = self.estimate(choice, n_pairs, precision)
        if est is not None and est.seconds > self.max_rerank_seconds:
            return OverLimitError(choice.key, est, self.max_rerank_seconds)
        return None

    def check_budget(self, choice: RerankerChoice, n_pairs: int, precision: str = "auto", run_anyway: bool = False
                     ) -> str:  # fmt: skip
        """Apply the limit rule to a rerank of ``n_pairs`` pairs with ``choice`` in ``precision``, on the estimate as it
        stands (nothing estimated: nothing to refuse).

        Returns:
            ``""``, or with ``run_anyway`` and an estimate above the limit, the warning its result must show.

        Raises:
            OverLimitError: estimated above :attr:`max_rerank_seconds`, and not ``run_anyway``.
            InputError: a precision not in :data:`~demo.search.params.PRECISIONS`.
        """
        refusal = self._over_budget(choice, n_pairs, precision)
        if refusal is None:
            return ""
        if not run_anyway:
            raise refusal
        return over_limit_warning(choice.key, refusal.estimate, self.max_rerank_seconds)

    def reranker_within_limit(self, choice: RerankerChoice, n_pairs: int, precision: str = "auto",
                              run_anyway: bool = False):  # fmt: skip
        """The loaded model for ``choice``, under the limit rule: checked on the estimate before it loads (nothing is
        loaded for a refused rerank), loaded (timed on sample pairs the first time on this machine) and checked again
        on that measurement. Every path that reranks (Search, Compare, ``POST /rerank``) comes through here.

        Returns:
            (model, warning): the warning is ``""`` unless the rerank runs anyway estimated above the limit (by the
            estimate after loading).

        Raises:
            OverLimitError: estimated above the limit, and not ``run_anyway``.
            InputError: a bad precision.
            ModelLoadError: the model cannot be loaded.
        """
        self.check_budget(choice, n_pairs, precision, run_anyway)
        model = self.reranker(choice, precision)
        return model, self.check_budget(choice, n_pairs, precision, run_anyway)  # judged on the measurement, if new
