"""The correctness gate every exported or lossy setting passes before it scores anything: against torch fp32 on fixed
SciFact pairs, no NaN or infinity anywhere, fp32 settings lossless (max abs diff <= :data:`LOSSLESS_MAX_DIFF`), others at
Spearman >= :data:`GATE_SPEARMAN`, and the longest and the shortest pair padded into one batch scoring as they score
alone (a NaN on padded batches is how a direct torch-to-OpenVINO conversion failed).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "GATE_PAIRS",
    "GATE_SPEARMAN",
    "LOSSLESS_MAX_DIFF",
    "describe_pairs",
    "gate_pairs",
    "judge",
    "padding_probe",
    "score_batches",
    "scifact_pairs",
    "spearman",
]

GATE_SPEARMAN = 0.999
LOSSLESS_MAX_DIFF = 1e-4
GATE_PAIRS = 64


def scifact_pairs(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` (claim, title + abstract) pairs from the bundled SciFact: seeded random claims of every split with seeded
    random abstracts (the speed benchmark's pairs; the first ``n`` of a longer draw with the same seed are these)."""
    from ettin.corpus import load_queries, scifact_corpus
    from ettin.paths import BUNDLED_SCIFACT

    if n < 1:
        raise ValueError("the number of pairs must be positive")
    corpus = scifact_corpus()
    claims = [q for _, q in sorted(load_queries(BUNDLED_SCIFACT).items())]
    rng = random.Random(seed)
    return [(rng.choice(claims), corpus.document_text(rng.randrange(len(corpus)))) for _ in range(n)]


def gate_pairs(n: int = GATE_PAIRS) -> list[tuple[str, str]]:
    """The gate's fixed pairs: the first ``n`` speed-benchmark pairs (seed 0)."""
    return scifact_pairs(n, seed=0)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties); ``nan`` when either side is constant or not finite."""
    from scipy.stats import spearmanr

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or not (np.isfinite(a).all() and np.isfinite(b).all()) or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def padding_probe(encoded: dict[str, list[list[int]]], pad_id: int, forward: Callable[[dict], np.ndarray]) -> float:
    """Largest difference between the longest and the shortest pair scored padded together and scored alone."""
    from ettin.runtime.fast import padded_batch

    ids, types = encoded["input_ids"], encoded.get("token_type_ids")
    lengths = np.array([len(x) for x in ids])
    longest, shortest = int(np.argmax(lengths)), int(np.argmin(lengths))
    together = np.asarray(forward(padded_batch(ids, types, lengths, np.array([longest, shortest]), pad_id))).reshape(-1)
    alone = [float(np.asarray(forward(padded_batch(ids, types, lengths, np.array([i]), pad_id))).reshape(-1)[0])
             for i in (longest, shortest)]  # fmt: skip
    diffs = np.abs(together.astype(np.float64) - np.array(alone))
    return float(np.max(diffs)) if np.isfinite(diffs).all() else float("inf")


def judge(reference: np.ndarray, scores: np.ndarray, precision: str, padding_diff: float | None = None) -> dict[str, Any]:
    """The gate's verdict on ``scores`` against the torch fp32 ``reference`` of the same pairs.

    Returns:
        ``{"passed", "reason", "n_pairs", "nan", "max_abs_diff", "spearman", "padding_max_abs_diff", "rule"}``;
        ``reason`` says in one line why it passed or failed.
    """
    reference, scores = np.asarray(reference, np.float64), np.asarray(scores, np.float64).reshape(-1)
    lossless = precision == "fp32"
    rule = f"max abs diff <= {LOSSLESS_MAX_DIFF:g}" if lossless else f"Spearman >= {GATE_SPEARMAN}"
    out: dict[str, Any] = {"n_pairs": int(len(reference)), "rule": f"vs torch fp32, no NaN, {rule}",
                           "padding_max_abs_diff": padding_diff}  # fmt: skip
    finite = scores.shape == reference.shape and bool(np.isfinite(scores).all())
    out["nan"] = not finite
    out["max_abs_diff"] = float(np.max(np.abs(scores - reference))) if finite else None
    out["spearman"] = spearman(reference, scores) if finite else None
    # lossy settings may round a padded batch differently (dynamic int8 scales each batch); only a NaN fails them here
    padding_ok = padding_diff is None or (math.isfinite(padding_diff) and (not lossless or padding_diff <= LOSSLESS_MAX_DIFF))
    if not finite:
        out.update(passed=False, reason="NaN, infinite or missing scores")
    elif not padding_ok:
        out.update(passed=False, reason=f"padding changes a score by {padding_diff:.3g}")
    elif lossless:
        ok = out["max_abs_diff"] <= LOSSLESS_MAX_DIFF
        out.update(passed=ok, reason=f"max abs diff {out['max_abs_diff']:.2e} {'<=' if ok else '>'} {LOSSLESS_MAX_DIFF:g}")
    else:
        rho = out["spearman"]
        ok = rho is not None and not math.isnan(rho) and rho >= GATE_SPEARMAN
        shown = "undefined (constant scores)" if rho is None or math.isnan(rho) else f"{rho:.5f}"
        out.update(passed=ok, reason=f"Spearman {shown} {'>=' if ok else '<'} {GATE_SPEARMAN}")
    out["spearman"] = None if out["spearman"] is None or math.isnan(out["spearman"]) else out["spearman"]
    return out


def score_batches(forward: Callable[[dict], np.ndarray], encoded: dict[str, list[list[int]]], pad_id: int,
                  batch_size: int = 8) -> np.ndarray:  # fmt: skip
    """Scores of every encoded pair through ``forward``, in length-sorted padded batches (the fast path's batching)."""
    from ettin.runtime.fast import padded_batch, plan_batches

    ids, types = encoded["input_ids"], encoded.get("token_type_ids")
    lengths = np.array([len(x) for x in ids])
    out = np.full(len(ids), np.nan, dtype=np.float32)
    for idx in plan_batches(lengths, batch_size):
        out[idx] = np.asarray(forward(padded_batch(ids, types, lengths, idx, pad_id)), dtype=np.float32).reshape(-1)
    return out


def describe_pairs(pairs: Sequence[tuple[str, str]]) -> str:
    return f"{len(pairs)} fixed SciFact pairs (the speed benchmark's first, seed 0)"
