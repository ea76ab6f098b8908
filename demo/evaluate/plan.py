"""What one evaluation runs — first stages × rerankers (and each first stage alone), K, an optional seeded query
sample — its estimate from the Playground's throughput book, the budget rule, and the CLI command that reproduces it.

**The rule.** A run whose reranking is estimated above :data:`~demo.evaluate.limits.EVAL_BUDGET_S`, or that would
rerank more than :data:`~demo.evaluate.limits.MAX_PAIRS` pairs, is refused before it starts; the refusal gives the exact
``python -m eval retrieval`` command that runs it on the visitor's machine without a limit. A reranker not measured on
this machine yet has no estimate: it is allowed within the pairs cap (Stop ends it).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from demo.evaluate.intake import Intake
from demo.evaluate.limits import EVAL_BUDGET_S, MAX_K, MAX_PAIRS, EvaluateInputError

__all__ = ["Plan", "cli_command", "make_plan"]


@dataclass
class Plan:
    """A checked run: what the worker gets (:meth:`spec`), the estimate, and the command that reproduces it."""

    intake: Intake
    first_stages: list[str]
    rerankers: list[Any]
    """The :class:`~demo.sources.choices.RerankerChoice` s."""
    top_k: int
    sample: int | None
    seed: int
    n_queries: int
    estimate_s: float | None = None
    estimate_notes: list[str] = field(default_factory=list)

    @property
    def pairs(self) -> int:
        """Pairs reranked at most (a pair two first stages retrieve is scored once)."""
        return self.n_queries * self.top_k * len(self.first_stages) * len(self.rerankers)

    @property
    def systems(self) -> int:
        return len(self.first_stages) * (1 + len(self.rerankers))

    def spec(self) -> dict[str, Any]:
        """The worker's instructions (JSON-able): the dataset, the systems and the sample."""
        return {
            "folder": str(self.intake.folder) if self.intake.folder else None,
            "name": self.intake.name, "split": self.intake.split, "first_stages": list(self.first_stages),
            "rerankers": [c.spec for c in self.rerankers], "top_k": self.top_k, "sample": self.sample, "seed": self.seed,
            "n_queries": self.n_queries,
        }  # fmt: skip

    def summary(self) -> str:
        """One Markdown line: systems, queries, pairs, estimate."""
        est = "not estimated (no reranker measured here yet)" if self.estimate_s is None else f"~{self.estimate_s:,.0f} s"
        if not self.rerankers:
            est = "first stages only"
        sample = f" (a seeded sample: seed {self.seed})" if self.sample else ""
        notes = "".join(f"\n- {n}" for n in self.estimate_notes)
        return (f"{self.systems} system(s) on {self.n_queries:,} queries{sample}, K = {self.top_k}: up to "
                f"{self.pairs:,} pairs reranked; estimated reranking time {est}.{notes}")  # fmt: skip


def _reranker_arg(choice: Any) -> str:
    """How the CLI names a reranker: its Hub id, or a folder of the app's models folder (never a machine path)."""
    return f"MODELS_DIR/{choice.key}" if choice.local else choice.key


def cli_command(plan: Plan) -> str:
    """The ``python -m eval retrieval`` command that runs ``plan`` without the app's limits (same pipeline, metrics,
    score cache and results schema). ``MODELS_DIR`` stands for the app's models folder and ``DATA`` for the
    visitor's BEIR folder (with a sample: the sample's folder from the download; for an MTEB task, the folder the
    command's first part writes as the tab read it)."""
    prefix = ""
    if plan.intake.mteb and not plan.sample:
        task, split = plan.intake.mteb
        prefix = f"python -m demo mteb-data {shlex.quote(task)} --split {shlex.quote(split)} --out DATA && "
    args = ["python", "-m", "eval", "retrieval"]
    if not plan.intake.bundled or plan.sample:
        args += ["--data", "DATA"]
    args += ["--split", plan.intake.split]
    if not plan.intake.bundled or plan.sample:
        args += ["--name", sample_name(plan.intake.name, plan.sample, plan.seed)]
    for fs in plan.first_stages:
        args += ["--first-stage", fs]
    for choice in plan.rerankers:
        args += ["--reranker", _reranker_arg(choice)]
    args += ["--top-k", str(plan.top_k), "--results-dir", "results"]
    return prefix + " ".join(shlex.quote(a) if a not in ("DATA",) else a for a in args)


def sample_name(name: str, sample: int | None, seed: int) -> str:
    """The dataset's name in results: ``name``, or ``name.sample<N>-seed<S>`` for a sample."""
    return f"{name}.sample{sample}-seed{seed}" if sample else name


def _estimate(play: Any, plan: Plan) -> None:
    """Fill ``plan``'s estimate from the Playground's throughput book (per reranker, its share of the pairs)."""
    per_reranker = plan.n_queries * plan.top_k * len(plan.first_stages)
    total, unknown = 0.0, []
    for choice in plan.rerankers:
        est = play.estimate(choice, per_reranker)
        if est is None:
            unknown.append(choice.key)
            continue
        total += est.seconds
        plan.estimate_notes.append(f"{choice.key}: {est.seconds:,.0f} s for {per_reranker:,} pairs ({est.basis})")
    if unknown:
        plan.estimate_notes.append(f"not measured on this machine yet, so not in the estimate: {', '.join(unknown)}")
    dense = [fs for fs in plan.first_stages if fs != "bm25"]
    if dense:
        plan.estimate_notes.append(f"not in the estimate: embedding the corpus for {', '.join(dense)} (once; cached after)")
    plan.estimate_s = total if len(unknown) < len(plan.rerankers) else None


def _ints(k: Any, sample: Any, seed: Any) -> tuple[int, int | None, int]:
    try:
        k = int(k)
        sample = int(sample) if sample not in (None, "", 0) else None
        seed = int(seed or 0)
    except (TypeError, ValueError):
        raise EvaluateInputError("K, the sample size and the seed must be whole numbers") from None
    if not 1 <= k <= MAX_K:
        raise EvaluateInputError(f"K = {k} is outside 1–{MAX_K}: choose a first-stage depth of {MAX_K} or less")
    if sample is not None and sample < 1:
        raise EvaluateInputError("the query sample must be 1 or more queries (0 or empty: every judged query)")
    return k, sample, seed


def make_plan(play: Any, intake: Intake | None, first_stages: list[str] | None, rerankers: list[str] | None,
              k: Any = 100, sample: Any = None, seed: Any = 0) -> Plan:  # fmt: skip
    """Check a run against what the app offers, the caps and the budget.

    Raises:
        EvaluateInputError: no dataset or first stage, a value out of range, or a run over the caps or the budget
            (the message then holds the CLI command that runs it without limit).
        ModelLoadError: a first stage or reranker the app does not offer.
    """
    if intake is None:
        raise EvaluateInputError("no dataset yet: upload a BEIR .zip or three files, or choose the bundled SciFact, then Preview")
    if not first_stages:
        raise EvaluateInputError("choose at least one first stage (e.g. bm25)")
    k, sample, seed = _ints(k, sample, seed)
    stages = list(dict.fromkeys(play.first_stage_key(fs) for fs in first_stages))
    choices = [c for c in (play.reranker_choice(r) for r in dict.fromkeys(rerankers or [])) if c is not None]
    fused = [c.key for c in choices if c.fuse_weight is not None]
    if fused:
        raise EvaluateInputError(f"{', '.join(fused)} is a fused system; choose the reranker alone here")
    judged = intake.preview.judged_queries
    n = min(sample, judged) if sample else judged
    plan = Plan(intake, stages, choices, k, sample if sample and sample < judged else None, seed, n)
    _estimate(play, plan)
    over = []
    if plan.pairs > MAX_PAIRS:
        over.append(f"{plan.pairs:,} pairs to rerank, above the {MAX_PAIRS:,} cap")
    if plan.estimate_s is not None and plan.estimate_s > EVAL_BUDGET_S:
        over.append(f"estimated {plan.estimate_s:,.0f} s, above the {EVAL_BUDGET_S:,.0f} s budget")
    if over:
        raise EvaluateInputError(f"this run is too large for the app ({'; '.join(over)}): lower K, sample fewer "
                                 f"queries or choose fewer systems — or run it without limit: {cli_command(plan)}")  # fmt: skip
    return plan
