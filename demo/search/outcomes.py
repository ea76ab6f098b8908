"""What a search and a comparison return: :class:`SearchOutcome` (one search), :class:`CompareRow` (one size's ordering
in a comparison) and :class:`CompareOutcome` (every size's, complete or so far while streaming). Plain data: the views
(:mod:`demo.views`) turn them into tables and figures."""

from __future__ import annotations

from dataclasses import dataclass, field

from demo.sources.choices import RerankerChoice
from ettin.pipeline import SearchResult
from ettin.runtime import RuntimeSettings

__all__ = ["CompareOutcome", "CompareRow", "SearchOutcome"]


@dataclass
class SearchOutcome:
    """One search: the pipeline's result, the reranker used, the setup time and notes for the user.

    ``settings`` are the runtime settings the reranker ran with (device, dtype, max length); ``None`` without one.
    ``compiled`` is the state of its compiled encoder when the rerank started (``ready``, ``failed``; ``None``: not
    compiled). ``runtime`` says where its forward passes ran (:func:`~demo.search.accelerating.runtime_text`).
    """

    result: SearchResult
    choice: RerankerChoice | None
    setup_s: float
    notes: list[str] = field(default_factory=list)
    settings: RuntimeSettings | None = None
    compiled: str | None = None
    runtime: str | None = None

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
    runtime: str | None = None  # where its forward passes ran (demo.search.accelerating.runtime_text)

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
