"""(query, document) pairs for the speed benchmark at a natural length distribution.

Offline the pairs come from the bundled BEIR SciFact (claims with corpus abstracts); online the blog's source,
``sentence-transformers/natural-questions`` (query, answer passage), can be used instead.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy as np

from ettin.errors import UserError

__all__ = ["NQ_DATASET", "SOURCES", "PairSourceError", "length_stats", "load_pairs", "nq_pairs", "scifact_pairs", "token_lengths"]

SOURCES = ("scifact", "nq")
NQ_DATASET = "sentence-transformers/natural-questions"


class PairSourceError(UserError, RuntimeError):
    """The requested pair source cannot be read here; the message says why and what to do."""


def scifact_pairs(n: int, seed: int = 0) -> tuple[list[tuple[str, str]], str]:
    """``n`` (claim, abstract) pairs from the bundled SciFact: every claim of every split with seeded random abstracts
    (:func:`ettin.runtime.gate.scifact_pairs`, whose first 64 at seed 0 are the backends' gate pairs).

    Documents are ``title + " " + abstract``, the text a reranker sees in the pipeline.

    Returns:
        The pairs and a one-line description of their source for provenance.
    """
    from ettin.runtime.gate import scifact_pairs as draw

    return draw(n, seed), f"bundled BEIR SciFact: {n} seeded-random (claim, title + abstract) pairs, seed {seed}"


def nq_pairs(n: int, seed: int = 0) -> tuple[list[tuple[str, str]], str]:
    """``n`` (query, answer passage) pairs from ``sentence-transformers/natural-questions`` (needs the Hub or its cache).

    Raises:
        PairSourceError: the dataset cannot be loaded (offline and not cached, or ``datasets`` missing).
    """
    if n < 1:
        raise ValueError("the number of pairs must be positive")
    try:
        from datasets import load_dataset

        ds = load_dataset(NQ_DATASET, split="train")
    except Exception as exc:  # noqa: BLE001 - every loading failure becomes one clear message
        raise PairSourceError(
            f"cannot load {NQ_DATASET} ({type(exc).__name__}: {str(exc)[:200]}); it needs the Hugging Face Hub or a local "
            "datasets cache — use --pairs scifact offline"
        ) from exc
    rng = random.Random(seed)
    rows = rng.sample(range(len(ds)), min(n, len(ds)))
    pairs = [(str(ds[i]["query"]), str(ds[i]["answer"])) for i in rows]
    return pairs, f"{NQ_DATASET} train: {len(pairs)} seeded-random (query, answer) rows, seed {seed}"


def load_pairs(source: str, n: int, seed: int = 0) -> tuple[list[tuple[str, str]], str]:
    """Pairs from ``source`` (``scifact`` or ``nq``).

    Raises:
        PairSourceError: unknown source or a source that cannot be read here.
    """
    if source == "scifact":
        return scifact_pairs(n, seed)
    if source == "nq":
        return nq_pairs(n, seed)
    raise PairSourceError(f"unknown pair source {source!r}; choose one of: {', '.join(SOURCES)}")


def token_lengths(tokenizer: Any, pairs: Sequence[tuple[str, str]], max_length: int) -> np.ndarray:
    """Tokens per pair after ``longest_first`` truncation at ``max_length`` (special tokens included)."""
    from ettin.runtime import tokenize_pairs

    return np.array([len(ids) for ids in tokenize_pairs(tokenizer, pairs, max_length)], dtype=np.int64)


def length_stats(lengths: np.ndarray) -> dict[str, float]:
    """Mean, median, percentiles and extremes of token counts."""
    lengths = np.asarray(lengths, dtype=np.float64)
    return {
        "mean": round(float(lengths.mean()), 2),
        "median": float(np.median(lengths)),
        "p10": float(np.percentile(lengths, 10)),
        "p90": float(np.percentile(lengths, 90)),
        "min": int(lengths.min()),
        "max": int(lengths.max()),
    }
