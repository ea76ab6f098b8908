"""The full-scale plan's figures (``python -m eval scale``, ``docs/scale.md``), computed, never typed in, split by job:

- :mod:`~eval.scale.tasks` — the task sizes: queries, documents and text lengths from mteb's metadata (offline);
- :mod:`~eval.scale.plan` — the plan: each job's pairs, GPU-hours at the post's H100 throughput, nodes for a one-day
  turnaround, storage and the torchrun commands, every constant named with its source;
- :mod:`~eval.scale.markdown` — rendering docs/scale.md's generated section and filling its markers;
- :mod:`~eval.scale.cli` — the ``scale`` verb.

Three jobs outgrow one machine: the teacher rescoring the published training set, the MTEB(eng, v2) grid (six
embedders' top-100 reranked by six sizes) and NanoBEIR. Every input is read from a typed source or is a named constant
that says where it comes from:

- throughputs, NanoBEIR's datasets and evaluation cadence: :func:`ettin.published.published` (the post's tables);
- embedders, sizes and the teacher: :mod:`ettin.registry`;
- task sizes and mean text lengths: mteb's task metadata (``descriptive_stats``, offline, shipped with mteb).

The post measured throughput at ``max_length=512`` on natural-questions pairs, while MTEB and NanoBEIR are evaluated at
the model's own limit on longer texts; the plan therefore also gives a *length-scaled* figure: cost taken as linear in
the characters of a pair, relative to mteb's NQ task (the same source, natural-questions, as the post's speed corpus).

The public names of the modules are re-exported here lazily (``from eval import scale as sc; sc.build_plan()``).
"""

from __future__ import annotations

from ettin.lazy import lazy_exports

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

_TASKS = (
    "LENGTH_REFERENCE_TASK",
    "MTEB_BENCHMARK",
    "NANOBEIR_BENCHMARK",
    "TOP_K",
    "ScaleInputError",
    "TaskSize",
    "mteb_task_sizes",
    "mteb_version",
    "nanobeir_task_sizes",
    "reference_size",
    "task_size",
)
_PLAN = (
    "BYTES_PER_CHARACTER",
    "CANDIDATES_PER_QUERY",
    "CANDIDATES_SET",
    "CANDIDATE_SCORES",
    "CHUNK_ROWS",
    "EVAL_SCORE_ROW_BYTES",
    "GPUS_PER_NODE",
    "H100_TABLE",
    "JOB_CANDIDATES",
    "JOB_GRID",
    "JOB_GRID_TEACHER",
    "JOB_NANO_FINAL",
    "JOB_NANO_TRAINING",
    "JOB_RESCORE",
    "MTEB_DATA_DIR",
    "PRETRAINING_ROWS",
    "PUBLISHED_SCORES",
    "PUBLISHED_SET",
    "RDZV_ENDPOINT",
    "RETRIEVAL_TRAIN_SET",
    "SCHEMA",
    "TEACHER_SCORE_ROW_BYTES",
    "TRAINING_ROWS",
    "TRAINING_ROWS_PER_QUERY",
    "TURNAROUND_HOURS",
    "Command",
    "JobRow",
    "ScalePlan",
    "assumptions",
    "build_plan",
    "commands",
    "rescored_queries",
)
_MARKDOWN = ("BEGIN_MARKER", "END_MARKER", "fill_markers", "generated_section", "render_markdown")

__getattr__ = lazy_exports(
    __name__,
    {
        **dict.fromkeys(_TASKS, "eval.scale.tasks"),
        **dict.fromkeys(_PLAN, "eval.scale.plan"),
        **dict.fromkeys(_MARKDOWN, "eval.scale.markdown"),
        "scale": "eval.scale.cli",
        "cli": "eval.scale.cli",
        "markdown": "eval.scale.markdown",
        "plan": "eval.scale.plan",
        "tasks": "eval.scale.tasks",
    },
)
