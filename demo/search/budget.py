"""The playground's time budget: rerank rates measured here (one book per precision), the estimates built on them, and
the refusal of a rerank estimated above the app's time limit."""

from __future__ import annotations

from demo.search.params import validate_precision
from demo.search.throughput import ThroughputBook, published_cpu_rate
from demo.sources.choices import RANDOM_BADGE, RerankerChoice
from ettin.pipeline import InputError
from ettin.runtime import ModelLoadError

__all__ = ["BudgetMixin"]


class BudgetMixin:
    """Rates, estimates and budget refusals for :class:`~demo.search.playground.Playground`.

    Uses the playground's ``max_rerank_seconds`` (the limit), ``_throughput`` (precision -> book) and
    ``reranker_choice`` from :class:`~demo.search.loading.LoadingMixin`.
    """

    max_rerank_seconds: float
    _throughput: dict[str, ThroughputBook]

    def throughput(self, precision: str = "auto") -> ThroughputBook:
        """The rates measured here with ``precision`` asked for: one book per precision (auto, bf16, fp32), so an
        estimate in fp32 is never made, or scaled, from a bf16 measurement. Keyed by what was asked rather than the
        dtype it resolves to, so an estimate needs no torch import.

        Raises:
            InputError: a precision not in :data:`~demo.search.params.PRECISIONS`.
        """
        return self._throughput.setdefault(validate_precision(precision), ThroughputBook())

    def record_throughput(self, choice: RerankerChoice, precision: str, pairs: int, seconds: float) -> None:
        """Fold a measured rerank of ``pairs`` pairs in ``seconds`` into the rate of ``choice`` in ``precision``."""
        self.throughput(precision).record(choice.key, choice.size, pairs, seconds)

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

    def _over_budget(self, choice: RerankerChoice, n_pairs: int, precision: str) -> str:
        """Why ``choice`` is estimated above the time limit for ``n_pairs`` pairs, or ``""``."""
        seconds, how = self.throughput(precision).estimate(choice, n_pairs)
        if seconds is not None and seconds > self.max_rerank_seconds:
            return f"estimated {seconds:,.0f} s > limit {self.max_rerank_seconds:,.0f} s ({how})"
        return ""
