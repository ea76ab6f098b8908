"""The plan's task sizes: each retrieval task's queries, documents and text lengths, from mteb's metadata (offline).

mteb ships every task's ``descriptive_stats``; nothing here downloads data. The three sources are the MTEB(eng, v2)
retrieval tasks (the grid), the post's 13 NanoBEIR datasets and mteb's NQ task, the length reference (the same source,
natural-questions, as the post's speed corpus).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ettin.errors import UserError
from ettin.registry import published
from eval.scale import _TASKS

__all__ = list(_TASKS)  # the public names, listed once in eval/scale/__init__.py

# The post's MTEB protocol (published().mteb.protocol): "top-100 of each embedder reranked"; NanoBEIR: "top-100 (BM25)".
TOP_K = 100
# The benchmark of the post's MTEB table (published().mteb.protocol: "10 Retrieval tasks of MTEB(eng, v2)").
MTEB_BENCHMARK = "MTEB(eng, v2)"
# mteb's name for the 13 NanoBEIR datasets the post evaluates (published().training_constants["nanobeir_datasets"]).
NANOBEIR_BENCHMARK = "NanoBEIR"
# mteb's task for the post's speed corpus, sentence-transformers/natural-questions: the length reference.
LENGTH_REFERENCE_TASK = "NQ"


class ScaleInputError(UserError, RuntimeError):
    """mteb's task metadata lacks a figure the plan needs; the message names the task and the fix."""


@dataclass(frozen=True, kw_only=True)
class TaskSize:
    """One retrieval task's evaluation split as mteb's metadata describes it."""

    name: str
    split: str
    queries: int
    documents: int
    mean_query_chars: float
    mean_document_chars: float
    characters: int

    @property
    def mean_pair_chars(self) -> float:
        """Mean characters of one (query, document) pair."""
        return self.mean_query_chars + self.mean_document_chars

    def candidates(self, top_k: int = TOP_K) -> int:
        """Documents reranked per query: the top-k, or the whole corpus when it is smaller."""
        return min(top_k, self.documents)

    def pairs(self, first_stages: int, top_k: int = TOP_K) -> int:
        """Pairs one reranker scores on this task: queries x candidates x first stages."""
        return self.queries * self.candidates(top_k) * first_stages


def _count(stats: dict[str, Any], key: str, text_key: str, task: str) -> int:
    """A count mteb gives directly (``num_queries``) or as total / average text length (older stats lack the count)."""
    if stats.get(key) is not None:
        return int(stats[key])
    text = stats.get(text_key) or {}
    total, average = text.get("total_text_length"), text.get("average_text_length")
    if not total or not average:
        raise ScaleInputError(f"mteb's metadata of {task} has neither {key} nor {text_key}; install the mteb version "
                              "in requirements.txt")
    return round(total / average)


def task_size(task: Any) -> TaskSize:
    """A :class:`TaskSize` from an mteb task's ``metadata.descriptive_stats`` (its first evaluation split).

    Raises:
        ScaleInputError: the metadata lacks the statistics.
    """
    meta = task.metadata
    split = meta.eval_splits[0]
    stats = (meta.descriptive_stats or {}).get(split)
    if not stats or not stats.get("queries_text_statistics") or not stats.get("documents_text_statistics"):
        raise ScaleInputError(f"mteb's metadata of {meta.name} has no descriptive statistics for split {split!r}; install "
                              "the mteb version in requirements.txt")
    return TaskSize(
        name=meta.name,
        split=split,
        queries=_count(stats, "num_queries", "queries_text_statistics", meta.name),
        documents=_count(stats, "num_documents", "documents_text_statistics", meta.name),
        mean_query_chars=float(stats["queries_text_statistics"]["average_text_length"]),
        mean_document_chars=float(stats["documents_text_statistics"]["average_text_length"]),
        characters=int(stats["number_of_characters"]),
    )


def mteb_task_sizes(benchmark: str = MTEB_BENCHMARK) -> list[TaskSize]:
    """The sizes of a benchmark's retrieval tasks, from mteb's metadata (no download)."""
    import mteb

    with _mteb_errors():
        tasks = [t for t in mteb.get_benchmark(benchmark).tasks if t.metadata.type == "Retrieval"]
    return [task_size(t) for t in tasks]


def nanobeir_task_sizes() -> list[TaskSize]:
    """The sizes of the post's 13 NanoBEIR datasets (named in the post's training constants), from mteb's metadata."""
    import mteb

    wanted = [_squash(name) for name in published().training_constants["nanobeir_datasets"]]
    with _mteb_errors():
        by_name = {_squash(t.metadata.name.removeprefix("Nano")): t for t in mteb.get_benchmark(NANOBEIR_BENCHMARK).tasks}
    missing = [name for name in wanted if name not in by_name]
    if missing:
        raise ScaleInputError(f"mteb's {NANOBEIR_BENCHMARK} benchmark lacks {missing}; install the mteb version in "
                              "requirements.txt")
    return [task_size(by_name[name]) for name in wanted]


def reference_size() -> TaskSize:
    """The length reference: mteb's NQ task (natural-questions, the post's speed corpus)."""
    import mteb

    with _mteb_errors():
        return task_size(mteb.get_task(LENGTH_REFERENCE_TASK))


def mteb_version() -> str:
    """The installed mteb's version (``unknown`` when it gives none), for provenance."""
    import mteb

    return getattr(mteb, "__version__", "unknown")


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower()).removesuffix("retrieval")


@contextmanager
def _mteb_errors() -> Iterator[None]:
    """Turn mteb's lookup errors (an unknown benchmark or task name) into a :class:`ScaleInputError`."""
    try:
        yield
    except (KeyError, ValueError) as exc:
        raise ScaleInputError(f"mteb cannot name the tasks: {exc}; install the mteb version in requirements.txt") from exc
