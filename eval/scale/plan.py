"""The full-scale plan: each job's pairs and their cost at the post's throughput, its nodes, storage and commands.

Three jobs outgrow one machine: the teacher rescoring the published training set, the MTEB(eng, v2) grid (six
embedders' top-100 reranked by six sizes) and NanoBEIR. For each, the pairs it scores, the GPU-hours at the post's
measured H100 throughput (Table 1), the nodes a one-day turnaround needs, the storage its scores take and the torchrun
commands that run it. Every input is read from a typed source (:func:`ettin.published.published`,
:mod:`ettin.registry`, the task sizes of :mod:`eval.scale.tasks`) or is a named constant below that says where it
comes from.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from ettin.registry import EMBEDDERS, RERANKERS, SIZES, TEACHER_ID, published
from eval.scale import _PLAN
from eval.scale.tasks import (
    LENGTH_REFERENCE_TASK,
    MTEB_BENCHMARK,
    NANOBEIR_BENCHMARK,
    TOP_K,
    ScaleInputError,
    TaskSize,
    mteb_task_sizes,
    mteb_version,
    nanobeir_task_sizes,
    reference_size,
)

__all__ = list(_PLAN)  # the public names, listed once in eval/scale/__init__.py

# The post, "Training Data": "~143M (query, document, teacher_score) triples" (also training_constants.train_data).
TRAINING_ROWS = 143_000_000
# The post, "Dataset": "~110M (query, document, similarity) triples" from LightOn's pre-training data; the rest of the
# 143M are the 7 rescored retrieval splits.
PRETRAINING_ROWS = 110_000_000
# The post, "Dataset": "For training, I pick 64 of those 256 per query" (rescored retrieval splits).
TRAINING_ROWS_PER_QUERY = 64
# The post, "Dataset": "The source dataset has up to 2048 candidate documents per query" (each rescored by the teacher).
CANDIDATES_PER_QUERY = 2048
# The post, "Training Arguments": "On a single 8-GPU node, the 1024 global batch for 17m means per_device=128".
GPUS_PER_NODE = 8
# The goal: a one-day turnaround.
TURNAROUND_HOURS = 24.0
# The post's H100 table (Table 1): published().speed[H100_TABLE].
H100_TABLE = "h100_bf16"
# train score's parts (train/score.py): columns row (int64) and score (float32).
TEACHER_SCORE_ROW_BYTES = 8 + 4
# A stored reranker score: query and document as int64 indices into the task, the score as float32.
EVAL_SCORE_ROW_BYTES = 8 + 8 + 4
# English text in UTF-8: one byte per character (mteb counts characters).
BYTES_PER_CHARACTER = 1
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

# The jobs, in plan order (their names label the rows of docs/scale.md and the keys of the JSON).
JOB_RESCORE = "A. teacher rescoring of the published set"
JOB_CANDIDATES = "B. teacher rescoring of the raw candidates (rebuilding the 7 retrieval splits)"
JOB_GRID = "C. MTEB(eng, v2) grid, six sizes"
JOB_GRID_TEACHER = "D. MTEB(eng, v2) grid, the teacher (reference row)"
JOB_NANO_TRAINING = "E. NanoBEIR during training, six sizes"
JOB_NANO_FINAL = "F. NanoBEIR final, six sizes + teacher"


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
        """Bytes the stored scores of these pairs take."""
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
        """Pairs one reranker scores on the MTEB grid: every task's top-k of every embedder."""
        return sum(t.pairs(len(EMBEDDERS)) for t in self.mteb_tasks)

    def nanobeir_pairs_per_eval(self) -> int:
        """Pairs one NanoBEIR evaluation scores: every dataset's BM25 top-k."""
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
# The plan


def _rate(model_id: str) -> float:
    """A model's pairs/s in the post's H100 table (Table 1)."""
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
        "task_sizes": f"mteb {mteb_version()} task metadata (descriptive_stats), {MTEB_BENCHMARK} retrieval tasks and "
        f"{NANOBEIR_BENCHMARK}",
        "length_reference": f"mteb task {LENGTH_REFERENCE_TASK} (mean query + document characters)",
        "scaling": "perfect sharding across GPUs; model loading, first-stage retrieval and corpus embedding not counted",
    }


# --------------------------------------------------------------------------------------------------------------------
# Commands


def _torchrun(nodes: int, gpus_per_node: int) -> str:
    """The torchrun launcher of a multi-node command (the rendezvous on :data:`RDZV_ENDPOINT`)."""
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
