"""``python -m eval scale``: the figures of the full-scale plan (``docs/scale.md``), computed, never typed in.

Three jobs outgrow one machine: the teacher rescoring the published training set, the MTEB(eng, v2) grid (six
embedders' top-100 reranked by six sizes) and NanoBEIR. For each, the pairs it scores, the GPU-hours at the post's
measured H100 throughput (Table 1), the nodes a one-day turnaround needs and the storage its scores take.

Every input is read from a typed source or is a named constant below that says where it comes from:

- throughputs, NanoBEIR's datasets and evaluation cadence: :func:`ettin.published.published` (the post's tables);
- embedders, sizes and the teacher: :mod:`ettin.registry`;
- task sizes and mean text lengths: mteb's task metadata (``descriptive_stats``, offline, shipped with mteb).

The post measured throughput at ``max_length=512`` on natural-questions pairs, while MTEB and NanoBEIR are evaluated at
the model's own limit on longer texts; the plan therefore also gives a *length-scaled* figure: cost taken as linear in
the characters of a pair, relative to mteb's NQ task (the same source, natural-questions, as the post's speed corpus).
"""

from __future__ import annotations

import argparse
import math
import platform
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ettin.cli import parse_positive_int, verb
from ettin.errors import UserError
from ettin.io import atomic_open, write_json_atomic
from ettin.registry import EMBEDDERS, RERANKERS, SIZES, TEACHER_ID, published

__all__ = [
    "BEGIN_MARKER",
    "CANDIDATES_PER_QUERY",
    "END_MARKER",
    "GPUS_PER_NODE",
    "JOB_CANDIDATES",
    "JOB_GRID",
    "JOB_GRID_TEACHER",
    "JOB_NANO_FINAL",
    "JOB_NANO_TRAINING",
    "JOB_RESCORE",
    "MTEB_BENCHMARK",
    "NANOBEIR_BENCHMARK",
    "PRETRAINING_ROWS",
    "TOP_K",
    "TRAINING_ROWS",
    "TRAINING_ROWS_PER_QUERY",
    "TURNAROUND_HOURS",
    "Command",
    "JobRow",
    "ScaleInputError",
    "ScalePlan",
    "TaskSize",
    "assumptions",
    "build_plan",
    "commands",
    "fill_markers",
    "generated_section",
    "mteb_task_sizes",
    "nanobeir_task_sizes",
    "reference_size",
    "render_markdown",
    "rescored_queries",
    "scale",
    "task_size",
]

# The post, "Training Data": "~143M (query, document, teacher_score) triples" (also training_constants.train_data).
TRAINING_ROWS = 143_000_000
# The post, "Dataset": "~110M (query, document, similarity) triples" from LightOn's pre-training data; the rest of the
# 143M are the 7 rescored retrieval splits.
PRETRAINING_ROWS = 110_000_000
# The post, "Dataset": "For training, I pick 64 of those 256 per query" (rescored retrieval splits).
TRAINING_ROWS_PER_QUERY = 64
# The post, "Dataset": "The source dataset has up to 2048 candidate documents per query" (each rescored by the teacher).
CANDIDATES_PER_QUERY = 2048
# The post's MTEB protocol (published().mteb.protocol): "top-100 of each embedder reranked"; NanoBEIR: "top-100 (BM25)".
TOP_K = 100
# The post, "Training Arguments": "On a single 8-GPU node, the 1024 global batch for 17m means per_device=128".
GPUS_PER_NODE = 8
# The goal: a one-day turnaround.
TURNAROUND_HOURS = 24.0
# The benchmark of the post's MTEB table (published().mteb.protocol: "10 Retrieval tasks of MTEB(eng, v2)").
MTEB_BENCHMARK = "MTEB(eng, v2)"
# mteb's name for the 13 NanoBEIR datasets the post evaluates (published().training_constants["nanobeir_datasets"]).
NANOBEIR_BENCHMARK = "NanoBEIR"
# mteb's task for the post's speed corpus, sentence-transformers/natural-questions: the length reference.
LENGTH_REFERENCE_TASK = "NQ"
# The post's H100 table (Table 1): published().speed[H100_TABLE].
H100_TABLE = "h100_bf16"
# train score's parts (train/score.py): columns row (int64) and score (float32).
TEACHER_SCORE_ROW_BYTES = 8 + 4
# A stored reranker score: query and document as int64 indices into the task, the score as float32.
EVAL_SCORE_ROW_BYTES = 8 + 8 + 4
# English text in UTF-8: one byte per character (mteb counts characters).
BYTES_PER_CHARACTER = 1
# Where docs/scale.md's generated section starts and ends.
BEGIN_MARKER = "<!-- scale:begin -->"
END_MARKER = "<!-- scale:end -->"
# The rendezvous endpoint placeholder of the multi-node commands (replace HOST by the first node's address).
RDZV_ENDPOINT = "HOST:29500"
# Where the commands read and write (relative to the repository root on every node, on shared storage).
PUBLISHED_SET = "runs/published.parquet"
PUBLISHED_SCORES = "runs/published-rescored"
CANDIDATES_SET = "runs/candidates.parquet"
CANDIDATE_SCORES = "runs/candidates-scored"
RETRIEVAL_TRAIN_SET = "runs/train-retrieval.parquet"
# train score's rows per written part: 65,536 teacher pairs are under 3 minutes at the post's 387 pairs/s, the most a
# killed rank redoes, and 143M rows make about 2,200 parts instead of 35,000 at the default 4,096.
CHUNK_ROWS = 65_536
MTEB_DATA_DIR = "data/mteb"
SCHEMA = "ettin.scale/1"


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
        return self.mean_query_chars + self.mean_document_chars

    def candidates(self, top_k: int = TOP_K) -> int:
        """Documents reranked per query: the top-k, or the whole corpus when it is smaller."""
        return min(top_k, self.documents)

    def pairs(self, first_stages: int, top_k: int = TOP_K) -> int:
        """Pairs one reranker scores on this task: queries x candidates x first stages."""
        return self.queries * self.candidates(top_k) * first_stages


@dataclass(frozen=True, kw_only=True)
class JobRow:
    """One model's share of one job: its pairs and their cost at the post's throughput."""

    job: str
    model: str
    pairs: int
    pairs_per_s: float
    length_factor: float
    score_row_bytes: int

    @property
    def gpu_hours(self) -> float:
        """GPU-hours at the post's measured H100 throughput."""
        return self.pairs / self.pairs_per_s / 3600

    @property
    def gpu_hours_length_scaled(self) -> float:
        """GPU-hours with the cost scaled by the pairs' characters relative to the speed corpus."""
        return self.gpu_hours * self.length_factor

    @property
    def score_bytes(self) -> int:
        return self.pairs * self.score_row_bytes


@dataclass(frozen=True, kw_only=True)
class Command:
    """One command of the plan, as typed on every node (``torchrun``) or once (``python``)."""

    job: str
    text: str


@dataclass(kw_only=True)
class ScalePlan:
    """Every figure of docs/scale.md, with the inputs it came from."""

    gpus_per_node: int
    turnaround_hours: float
    reference: TaskSize
    mteb_tasks: list[TaskSize]
    nanobeir_tasks: list[TaskSize]
    nanobeir_evals_per_run: int
    rows: list[JobRow] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)

    def jobs(self) -> dict[str, list[JobRow]]:
        """The rows grouped by job, in plan order."""
        grouped: dict[str, list[JobRow]] = {}
        for row in self.rows:
            grouped.setdefault(row.job, []).append(row)
        return grouped

    def nodes_for(self, gpu_hours: float) -> int:
        """Nodes of ``gpus_per_node`` GPUs that finish ``gpu_hours`` within the turnaround (perfect sharding)."""
        return max(1, math.ceil(gpu_hours / (self.gpus_per_node * self.turnaround_hours)))

    def job_totals(self, rows: list[JobRow]) -> dict[str, float | int]:
        """Pairs, GPU-hours, node-hours, nodes for the turnaround (on the larger GPU-hour figure) and score bytes."""
        pairs = sum(r.pairs for r in rows)
        hours = sum(r.gpu_hours for r in rows)
        scaled = sum(r.gpu_hours_length_scaled for r in rows)
        return {
            "pairs": pairs,
            "gpu_hours": hours,
            "gpu_hours_length_scaled": scaled,
            "node_hours_length_scaled": scaled / self.gpus_per_node,
            "nodes_for_turnaround": self.nodes_for(max(hours, scaled)),
            "score_bytes": sum(r.score_bytes for r in rows),
        }

    def mteb_grid_pairs_per_reranker(self) -> int:
        return sum(t.pairs(len(EMBEDDERS)) for t in self.mteb_tasks)

    def nanobeir_pairs_per_eval(self) -> int:
        return sum(t.pairs(1) for t in self.nanobeir_tasks)

    def storage(self) -> list[dict[str, Any]]:
        """What the jobs store: scores per job, and the texts they read."""
        items = [
            {"item": f"scores: {job}", "rows": t["pairs"], "bytes": t["score_bytes"]}
            for job, t in ((job, self.job_totals(rows)) for job, rows in self.jobs().items())
        ]
        training_text = round(TRAINING_ROWS * self.reference.mean_pair_chars) * BYTES_PER_CHARACTER
        items.append({"item": "text: the published set (input of A; NQ-length pairs assumed)", "rows": TRAINING_ROWS,
                      "bytes": training_text})
        items.append({"item": f"text: the {len(self.mteb_tasks)} MTEB task corpora and queries (stored once)",
                      "rows": sum(t.queries + t.documents for t in self.mteb_tasks),
                      "bytes": sum(t.characters for t in self.mteb_tasks) * BYTES_PER_CHARACTER})
        items.append({"item": f"text: the {len(self.nanobeir_tasks)} NanoBEIR corpora and queries (stored once)",
                      "rows": sum(t.queries + t.documents for t in self.nanobeir_tasks),
                      "bytes": sum(t.characters for t in self.nanobeir_tasks) * BYTES_PER_CHARACTER})
        return items

    def to_json(self) -> dict[str, Any]:
        """The plan as JSON: inputs, per-model rows, job totals, storage and commands."""
        return {
            "schema": SCHEMA,
            "assumptions": assumptions(self),
            "length_reference": asdict(self.reference),
            "mteb_tasks": [{**asdict(t), "pairs_per_reranker": t.pairs(len(EMBEDDERS))} for t in self.mteb_tasks],
            "nanobeir_tasks": [{**asdict(t), "pairs_per_eval": t.pairs(1)} for t in self.nanobeir_tasks],
            "rows": [
                {**asdict(r), "gpu_hours": r.gpu_hours, "gpu_hours_length_scaled": r.gpu_hours_length_scaled,
                 "score_bytes": r.score_bytes}
                for r in self.rows
            ],
            "jobs": {job: self.job_totals(rows) for job, rows in self.jobs().items()},
            "storage": self.storage(),
            "commands": [asdict(c) for c in self.commands],
        }


# --------------------------------------------------------------------------------------------------------------------
# Inputs: mteb's task metadata


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


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower()).removesuffix("retrieval")


@contextmanager
def _mteb_errors() -> Iterator[None]:
    """Turn mteb's lookup errors (an unknown benchmark or task name) into a :class:`ScaleInputError`."""
    try:
        yield
    except (KeyError, ValueError) as exc:
        raise ScaleInputError(f"mteb cannot name the tasks: {exc}; install the mteb version in requirements.txt") from exc


# --------------------------------------------------------------------------------------------------------------------
# The plan


def _rate(model_id: str) -> float:
    rate = published().speed[H100_TABLE].rate(model_id)
    if rate is None:
        raise ScaleInputError(f"the post's H100 table has no throughput for {model_id}")
    return rate


def _length_factor(tasks: list[TaskSize], reference: TaskSize, first_stages: int) -> float:
    """The pair-weighted mean of each task's pair length over the reference's."""
    pairs = [t.pairs(first_stages) for t in tasks]
    return sum(p * t.mean_pair_chars for p, t in zip(pairs, tasks)) / sum(pairs) / reference.mean_pair_chars


def build_plan(
    *,
    gpus_per_node: int = GPUS_PER_NODE,
    turnaround_hours: float = TURNAROUND_HOURS,
    mteb_tasks: list[TaskSize] | None = None,
    nanobeir_tasks: list[TaskSize] | None = None,
    reference: TaskSize | None = None,
) -> ScalePlan:
    """Every job's rows and the commands that run them; the task sizes default to mteb's metadata."""
    plan = ScalePlan(
        gpus_per_node=gpus_per_node,
        turnaround_hours=turnaround_hours,
        reference=reference or reference_size(),
        mteb_tasks=mteb_tasks if mteb_tasks is not None else mteb_task_sizes(),
        nanobeir_tasks=nanobeir_tasks if nanobeir_tasks is not None else nanobeir_task_sizes(),
        nanobeir_evals_per_run=round(1 / float(published().training_constants["eval_steps"])),
    )
    n_embedders = len(EMBEDDERS)
    grid_pairs = plan.mteb_grid_pairs_per_reranker()
    grid_factor = _length_factor(plan.mteb_tasks, plan.reference, n_embedders)
    nano_pairs = plan.nanobeir_pairs_per_eval()
    nano_factor = _length_factor(plan.nanobeir_tasks, plan.reference, 1)
    students = [RERANKERS[size].hub_id for size in SIZES]

    plan.rows.append(JobRow(job=JOB_RESCORE, model=TEACHER_ID, pairs=TRAINING_ROWS, pairs_per_s=_rate(TEACHER_ID),
                            length_factor=1.0, score_row_bytes=TEACHER_SCORE_ROW_BYTES))
    plan.rows.append(JobRow(job=JOB_CANDIDATES, model=TEACHER_ID, pairs=rescored_queries() * CANDIDATES_PER_QUERY,
                            pairs_per_s=_rate(TEACHER_ID), length_factor=1.0, score_row_bytes=TEACHER_SCORE_ROW_BYTES))
    for model in students:
        plan.rows.append(JobRow(job=JOB_GRID, model=model, pairs=grid_pairs, pairs_per_s=_rate(model),
                                length_factor=grid_factor, score_row_bytes=EVAL_SCORE_ROW_BYTES))
    plan.rows.append(JobRow(job=JOB_GRID_TEACHER, model=TEACHER_ID, pairs=grid_pairs, pairs_per_s=_rate(TEACHER_ID),
                            length_factor=grid_factor, score_row_bytes=EVAL_SCORE_ROW_BYTES))
    for model in students:
        plan.rows.append(JobRow(job=JOB_NANO_TRAINING, model=model, pairs=nano_pairs * plan.nanobeir_evals_per_run,
                                pairs_per_s=_rate(model), length_factor=nano_factor, score_row_bytes=EVAL_SCORE_ROW_BYTES))
    for model in (*students, TEACHER_ID):
        plan.rows.append(JobRow(job=JOB_NANO_FINAL, model=model, pairs=nano_pairs, pairs_per_s=_rate(model),
                                length_factor=nano_factor, score_row_bytes=EVAL_SCORE_ROW_BYTES))
    plan.commands = commands(plan)
    return plan


JOB_RESCORE = "A. teacher rescoring of the published set"
JOB_CANDIDATES = "B. teacher rescoring of the raw candidates (rebuilding the 7 retrieval splits)"
JOB_GRID = "C. MTEB(eng, v2) grid, six sizes"
JOB_GRID_TEACHER = "D. MTEB(eng, v2) grid, the teacher (reference row)"
JOB_NANO_TRAINING = "E. NanoBEIR during training, six sizes"
JOB_NANO_FINAL = "F. NanoBEIR final, six sizes + teacher"


def rescored_queries() -> int:
    """Queries of the 7 rescored retrieval splits: their rows (143M - 110M) over the 64 training rows kept per query."""
    return (TRAINING_ROWS - PRETRAINING_ROWS) // TRAINING_ROWS_PER_QUERY


def assumptions(plan: ScalePlan) -> dict[str, Any]:
    """The constants and the sources behind every figure, for the JSON and the document."""
    source = published().source
    return {
        "training_rows": TRAINING_ROWS,
        "pretraining_rows": PRETRAINING_ROWS,
        "training_rows_per_query": TRAINING_ROWS_PER_QUERY,
        "candidates_per_query": CANDIDATES_PER_QUERY,
        "rescored_queries": rescored_queries(),
        "top_k": TOP_K,
        "embedders": list(EMBEDDERS),
        "reranker_sizes": list(SIZES),
        "teacher": TEACHER_ID,
        "gpus_per_node": plan.gpus_per_node,
        "turnaround_hours": plan.turnaround_hours,
        "nanobeir_evals_per_training_run": plan.nanobeir_evals_per_run,
        "teacher_score_row_bytes": TEACHER_SCORE_ROW_BYTES,
        "eval_score_row_bytes": EVAL_SCORE_ROW_BYTES,
        "bytes_per_character": BYTES_PER_CHARACTER,
        "throughput": source.cite("1 (H100, bf16)", published().speed_protocol),
        "task_sizes": f"mteb {_mteb_version()} task metadata (descriptive_stats), {MTEB_BENCHMARK} retrieval tasks and "
        f"{NANOBEIR_BENCHMARK}",
        "length_reference": f"mteb task {LENGTH_REFERENCE_TASK} (mean query + document characters)",
        "scaling": "perfect sharding across GPUs; model loading, first-stage retrieval and corpus embedding not counted",
    }


def _mteb_version() -> str:
    import mteb

    return getattr(mteb, "__version__", "unknown")


# --------------------------------------------------------------------------------------------------------------------
# Commands


def _torchrun(nodes: int, gpus_per_node: int) -> str:
    return (f"torchrun --nnodes {nodes} --nproc_per_node {gpus_per_node} --rdzv_backend c10d "
            f"--rdzv_endpoint {RDZV_ENDPOINT}")


def commands(plan: ScalePlan) -> list[Command]:
    """The commands of each job, sized by the plan (node counts from the one-day turnaround)."""
    totals = {job: plan.job_totals(rows) for job, rows in plan.jobs().items()}
    rescore_nodes = totals[JOB_RESCORE]["nodes_for_turnaround"]
    candidate_nodes = totals[JOB_CANDIDATES]["nodes_for_turnaround"]
    grid_nodes = totals[JOB_GRID]["nodes_for_turnaround"]
    first_stages = " ".join(f"--first-stage {hub_id}" for hub_id in EMBEDDERS)
    rerankers = " ".join(f"--reranker {size}" for size in SIZES)
    found = [
        Command(job=JOB_RESCORE, text="python -m train data mix --source all=hf:cross-encoder/ettin-reranker-v1-data "
                f"--no-shuffle --out {PUBLISHED_SET}"),
        Command(job=JOB_RESCORE, text=f"{_torchrun(rescore_nodes, plan.gpus_per_node)} -m train score --input "
                f"{PUBLISHED_SET} --out {PUBLISHED_SCORES} --teacher {TEACHER_ID} --precision bf16 --chunk-size {CHUNK_ROWS}"),
        Command(job=JOB_CANDIDATES, text=f"{_torchrun(candidate_nodes, plan.gpus_per_node)} -m train score --input "
                f"{CANDIDATES_SET} --out {CANDIDATE_SCORES} --teacher {TEACHER_ID} --precision bf16 --chunk-size {CHUNK_ROWS}"),
        Command(job=JOB_CANDIDATES, text=f"python -m train data select --scored {CANDIDATE_SCORES} --out {RETRIEVAL_TRAIN_SET} "
                f"--max-candidates {CANDIDATES_PER_QUERY} --pool-size 256 --hard 16 --head 32 --medium 32 --band-start 64 "
                "--band-end 192"),
    ]
    for task in plan.mteb_tasks:
        found.append(Command(job=JOB_GRID, text=f"{_torchrun(grid_nodes, plan.gpus_per_node)} -m eval retrieval "
                             f"--data {MTEB_DATA_DIR}/{task.name} --name {task.name} --split {task.split} {first_stages} "
                             f"{rerankers} --top-k {TOP_K} --precision bf16"))
    for model in (*(RERANKERS[size].hub_id for size in SIZES), TEACHER_ID):
        found.append(Command(job=JOB_NANO_FINAL, text=f"python -m eval nanobeir --reranker {model}"))
    return found


# --------------------------------------------------------------------------------------------------------------------
# Markdown


def _gb(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:,.2f}"


def _hours(hours: float) -> str:
    """Hours with about three significant figures."""
    if hours >= 10:
        return f"{hours:,.1f}"
    return f"{hours:.2f}" if hours >= 1 else f"{hours:.3f}"


def _short(model_id: str) -> str:
    return model_id.split("/")[-1]


def render_markdown(plan: ScalePlan) -> str:
    """The generated section of docs/scale.md: the tables and the commands (deterministic: no dates, no timings)."""
    lines: list[str] = []
    add = lines.append
    n_emb, n_sizes = len(EMBEDDERS), len(SIZES)
    per_day = plan.gpus_per_node * plan.turnaround_hours
    add(f"_Generated by `python -m eval scale --markdown docs/scale.md`; assumptions: {plan.gpus_per_node} GPUs per node, "
        f"{plan.turnaround_hours:g} h turnaround ({per_day:g} GPU-hours per node), perfect sharding._")
    add("")
    add("### Jobs")
    add("")
    add(f"| job | pairs | GPU-h at the post's H100 rate | GPU-h length-scaled | {plan.gpus_per_node}-GPU node-hours (scaled) | "
        f"nodes for {plan.turnaround_hours:g} h | scores stored (GB) |")
    add("|---|---:|---:|---:|---:|---:|---:|")
    grand = {"pairs": 0, "gpu_hours": 0.0, "gpu_hours_length_scaled": 0.0, "score_bytes": 0}
    for job, rows in plan.jobs().items():
        t = plan.job_totals(rows)
        for key in grand:
            grand[key] += t[key]
        add(f"| {job} | {t['pairs']:,} | {_hours(t['gpu_hours'])} | {_hours(t['gpu_hours_length_scaled'])} | "
            f"{_hours(t['node_hours_length_scaled'])} | {t['nodes_for_turnaround']} | {_gb(t['score_bytes'])} |")
    add(f"| **all jobs** | {grand['pairs']:,} | {_hours(grand['gpu_hours'])} | {_hours(grand['gpu_hours_length_scaled'])} | "
        f"{_hours(grand['gpu_hours_length_scaled'] / plan.gpus_per_node)} | "
        f"{plan.nodes_for(max(grand['gpu_hours'], grand['gpu_hours_length_scaled']))} | {_gb(grand['score_bytes'])} |")
    add("")
    add("### Per model")
    add("")
    add("| job | model | H100 pairs/s (post, Table 1) | pairs | length factor | GPU-h | GPU-h length-scaled |")
    add("|---|---|---:|---:|---:|---:|---:|")
    for r in plan.rows:
        add(f"| {r.job.split('.')[0]} | {_short(r.model)} | {r.pairs_per_s:,.0f} | {r.pairs:,} | {r.length_factor:.2f} | "
            f"{_hours(r.gpu_hours)} | {_hours(r.gpu_hours_length_scaled)} |")
    add("")
    ref = plan.reference
    add(f"Length factor: mean (query + document) characters of the pairs over those of mteb's `{ref.name}` "
        f"({ref.mean_query_chars:.1f} + {ref.mean_document_chars:.1f} = {ref.mean_pair_chars:.1f}), pair-weighted; "
        "1.00 for A and B, whose lengths the post does not give (the speed corpus, NQ, is one of their sources).")
    add("")
    grid = plan.mteb_grid_pairs_per_reranker()
    queries = sum(t.queries for t in plan.mteb_tasks)
    add(f"### {MTEB_BENCHMARK} retrieval tasks (pairs = queries x min({TOP_K}, documents) x {n_emb} embedders, "
        f"per reranker)")
    add("")
    add("| task | split | queries | documents | mean query chars | mean document chars | pairs per reranker | "
        f"pairs, {n_sizes} sizes |")
    add("|---|---|---:|---:|---:|---:|---:|---:|")
    for t in plan.mteb_tasks:
        add(f"| {t.name} | {t.split} | {t.queries:,} | {t.documents:,} | {t.mean_query_chars:,.1f} | "
            f"{t.mean_document_chars:,.1f} | {t.pairs(n_emb):,} | {t.pairs(n_emb) * n_sizes:,} |")
    add(f"| **{len(plan.mteb_tasks)} tasks** | | {queries:,} | {sum(t.documents for t in plan.mteb_tasks):,} | | | "
        f"{grid:,} | {grid * n_sizes:,} |")
    add("")
    unique_floor = grid // n_emb * n_sizes
    add(f"Deduplication across embedders (the score cache scores a pair several first stages retrieved once) saves "
        f"between nothing (disjoint top-{TOP_K}s) and {1 - 1 / n_emb:.0%} (identical top-{TOP_K}s: "
        f"{unique_floor:,} pairs for {n_sizes} sizes); the real overlap is known only after the first stages ran "
        "(each run prints pairs requested / found in cache / scored now).")
    add("")
    nano = plan.nanobeir_pairs_per_eval()
    add(f"### NanoBEIR ({len(plan.nanobeir_tasks)} datasets, BM25 top-{TOP_K}; {plan.nanobeir_evals_per_run} "
        "evaluations per training run: eval_steps = "
        f"{published().training_constants['eval_steps']})")
    add("")
    add("| dataset | queries | documents | candidates per query | pairs per evaluation |")
    add("|---|---:|---:|---:|---:|")
    for t in plan.nanobeir_tasks:
        add(f"| {t.name} | {t.queries:,} | {t.documents:,} | {t.candidates():,} | {t.pairs(1):,} |")
    add(f"| **{len(plan.nanobeir_tasks)} datasets** | {sum(t.queries for t in plan.nanobeir_tasks):,} | "
        f"{sum(t.documents for t in plan.nanobeir_tasks):,} | | {nano:,} |")
    add("")
    add("### Storage (decimal GB)")
    add("")
    add("| what | rows | GB |")
    add("|---|---:|---:|")
    for item in plan.storage():
        add(f"| {item['item']} | {item['rows']:,} | {_gb(item['bytes'])} |")
    add("")
    add(f"Scores: A and B write `train score` parts (row int64 + score float32 = {TEACHER_SCORE_ROW_BYTES} bytes a row, "
        f"uncompressed); C-F store query id, document id (int64 indices) and a float32 score = {EVAL_SCORE_ROW_BYTES} "
        "bytes a pair. Text at one byte per character (English, UTF-8).")
    add("")
    add("### Commands")
    add("")
    for job in plan.jobs():
        job_commands = [c.text for c in plan.commands if c.job == job]
        if not job_commands:
            continue
        add(f"{job}:")
        add("")
        add("```bash")
        lines.extend(job_commands)
        add("```")
        add("")
    return "\n".join(lines).rstrip() + "\n"


def fill_markers(document: str, generated: str) -> str:
    """``document`` with the text between :data:`BEGIN_MARKER` and :data:`END_MARKER` replaced by ``generated``.

    Raises:
        ScaleInputError: the markers are missing or out of order.
    """
    start, end = document.find(BEGIN_MARKER), document.find(END_MARKER)
    if start < 0 or end < start:
        raise ScaleInputError(f"the document has no '{BEGIN_MARKER}' ... '{END_MARKER}' section; add both markers, in "
                              "that order, where the figures belong")
    return document[: start + len(BEGIN_MARKER)] + "\n" + generated + document[end:]


def generated_section(document: str) -> str:
    """The text between the markers of ``document`` (what :func:`fill_markers` wrote)."""
    start, end = document.find(BEGIN_MARKER), document.find(END_MARKER)
    if start < 0 or end < start:
        raise ScaleInputError(f"the document has no '{BEGIN_MARKER}' ... '{END_MARKER}' section")
    return document[start + len(BEGIN_MARKER) : end].lstrip("\n")


# --------------------------------------------------------------------------------------------------------------------
# The verb


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gpus-per-node", type=parse_positive_int, default=GPUS_PER_NODE,
                   help=f"GPUs per node (default {GPUS_PER_NODE}, the post's node)")
    p.add_argument("--turnaround-hours", type=float, default=TURNAROUND_HOURS,
                   help=f"wall-clock goal per job in hours (default {TURNAROUND_HOURS:g})")
    p.add_argument("--out", default=None, help="also write the plan as JSON here")
    p.add_argument("--markdown", default=None, metavar="DOC",
                   help=f"rewrite the section between '{BEGIN_MARKER}' and '{END_MARKER}' of this Markdown file")
    p.add_argument("--check", action="store_true",
                   help="with --markdown: change nothing, exit 1 if the file's figures differ from a fresh run")


@verb(
    "scale",
    help="the full-scale plan: pairs, GPU-hours, nodes and storage per job (docs/scale.md), computed",
    arguments=_arguments,
    description="Pairs per job (teacher rescoring of the published set, the MTEB(eng, v2) grid, NanoBEIR), GPU-hours at the\n"
    "post's measured H100 throughput, nodes for a one-day turnaround, storage and the torchrun commands. Inputs: the\n"
    "post's tables (ettin.published), the registry and mteb's task metadata (offline).",
)
def scale(args: argparse.Namespace) -> int:
    if args.turnaround_hours <= 0:
        raise ScaleInputError(f"--turnaround-hours must be positive, got {args.turnaround_hours}")
    if args.check and not args.markdown:
        raise ScaleInputError("--check compares a document: give it with --markdown docs/scale.md")
    plan = build_plan(gpus_per_node=args.gpus_per_node, turnaround_hours=args.turnaround_hours)
    section = render_markdown(plan)
    if not args.check:
        print(section)
    if args.out:
        data = plan.to_json()
        data["provenance"] = {
            "command": f"python -m eval scale --gpus-per-node {args.gpus_per_node} --turnaround-hours {args.turnaround_hours:g}",
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "mteb": _mteb_version(),
            "published": published().source.cite("1 (H100, bf16)"),
            "measured": "nothing: every figure is computed from published throughputs and task metadata",
        }
        write_json_atomic(args.out, data)
        print(f"wrote {args.out}")
    if args.markdown:
        path = Path(args.markdown)
        if not path.is_file():
            raise ScaleInputError(f"{path} does not exist; create it with the two markers '{BEGIN_MARKER}' and "
                                  f"'{END_MARKER}' where the figures belong")
        current = path.read_text(encoding="utf-8")
        updated = fill_markers(current, section)
        if args.check:
            if updated != current:
                print(f"{path}: figures differ from a fresh run; regenerate with python -m eval scale --markdown {path}",
                      file=sys.stderr)
                return 1
            print(f"{path}: figures up to date")
            return 0
        with atomic_open(path) as f:
            f.write(updated)
        print(f"wrote {path}")
    return 0
