"""``python -m train fit``: one training run, composed of the steps of the modules below it, and the files it leaves.

The config and its flags are in :mod:`train.fit_config`, the trainer's rows in :mod:`train.rows`, checkpoints and
resuming in :mod:`train.checkpoints`, the student and the evaluator in :mod:`train.student`, the trainer in
:mod:`train.trainer`, and the steps of a ``--labels`` run in :mod:`train.labels`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ettin.cli import dataclass_from_args, verb
from train.checkpoints import check_output, set_aside_incomplete, train_or_finish, write_run_started
from train.cli import print_json
from train.fit_config import TRAIN_CONFIG, FitConfig, add_fit_arguments, resolve_loss, resolve_recipe, world
from train.labels import evaluate_test_split, evaluator_config, label_data, make_loss
from train.rows import holdout_dataset, training_rows
from train.splits import check_disjoint, check_splits, query_sets, record_query_sets
from train.student import build_evaluator, precision, seeded_student
from train.tables import fingerprint
from train.trainer import build_trainer, trainer_outcome

__all__ = ["TRAINED_METADATA", "BATCH_LOG_DIR", "fit"]

TRAINED_METADATA = "ettin_metadata.json"
BATCH_LOG_DIR = "rank_batches"


@verb("fit", help="train a student (CrossEncoderTrainer + MSELoss); works under torchrun", arguments=add_fit_arguments)
def fit_command(args: argparse.Namespace) -> int:
    """``python -m train fit``: train, then print the run's summary (rank 0 only)."""
    summary = fit(dataclass_from_args(FitConfig, args), show_progress=not args.quiet)
    if summary.get("dry_run"):
        print_json(summary)
        return 0
    if summary:
        print_json({k: summary[k] for k in ("global_step", "train_loss", "best_checkpoint", "best_metric", "final_eval")})
        print(f"saved the student to {args.out}")
    return 0


def fit(cfg: FitConfig, show_progress: bool = True, callbacks: Sequence[Any] = ()) -> dict[str, Any]:
    """Train a student; returns the run summary (also saved as ``train_config.json`` in ``cfg.out``).

    With ``cfg.train`` the student is distilled from the rows' teacher scores (``MSELoss``); with ``cfg.labels`` it is
    fine-tuned from a BEIR split's relevance labels with mined hard negatives (:mod:`train.labels`).

    Args:
        cfg: The run's settings.
        show_progress: Show the trainer's progress bar (rank 0 only).
        callbacks: Extra ``transformers.TrainerCallback`` objects added to the trainer (e.g. a test's kill switch).

    Returns:
        The summary on rank 0; an empty dict on the other ranks (with ``cfg.dry_run``: the loaded data's summary).

    Raises:
        TrainDataError: bad input (unknown size, unreadable data, missing columns, indivisible batch, unloadable backbone,
            an existing output without ``--resume``, neither or both of ``--train`` and ``--labels``), an evaluator or
            test split that is (or overlaps) a test or training split (:mod:`train.splits`).
    """
    from ettin.io import write_json_atomic

    loss_name = resolve_loss(cfg)
    check_splits(cfg)
    recipe = resolve_recipe(cfg)
    recipe["loss"] = loss_name if cfg.labels else recipe["loss"]
    rank, world_size = world()
    out = Path(cfg.out)
    if cfg.dry_run:
        return _dry_run(cfg, recipe, loss_name, out, show_progress)
    resume_from, previous = check_output(cfg, recipe, out)
    skipped = set_aside_incomplete(out / "checkpoints", rank) if cfg.resume else []
    labels = label_data(cfg, recipe, loss_name, out, show_progress) if cfg.labels else None
    train_path = str(labels.train_file) if labels else cfg.train
    rows, eval_rows = _rows(cfg, recipe, train_path, loss_name)
    eval_cfg = evaluator_config(cfg, labels)
    queries = _query_sets(cfg, eval_cfg, labels, rows, out if rank == 0 else None)
    data_fp = fingerprint(train_path)
    use_bf16, model_kwargs = precision(cfg)
    student = seeded_student(cfg, recipe, model_kwargs, world_size)
    evaluator = build_evaluator(eval_cfg)
    loss, loss_description = make_loss(student, loss_name, labels)
    trainer = build_trainer(
        student, rows, eval_rows, loss, evaluator, recipe, out / "checkpoints", use_bf16=use_bf16,
        show_progress=show_progress, rank=rank, world_size=world_size, callbacks=callbacks,
    )  # fmt: skip
    if rank == 0 and resume_from is None:
        write_run_started(out, cfg, recipe, data_fp, rows.num_rows)
    result = train_or_finish(trainer, resume_from, recipe["max_steps"])
    write_json_atomic(
        out / BATCH_LOG_DIR / f"rank{rank}.json", {"rank": rank, "world_size": world_size, "batch_sizes": trainer.batch_sizes}
    )
    if not trainer.is_world_process_zero():
        return {}
    final_metrics = evaluator(student) if evaluator is not None else {}
    student.save_pretrained(str(out))
    summary = {
        "config": cfg.__dict__,
        "recipe": recipe,
        "data": {"path": train_path, "sha256": data_fp, "rows": rows.num_rows},
        "loss": loss_description,
        "resumed_from": resume_from.name if resume_from else None,
        "skipped_incomplete_checkpoints": skipped,
        "previous_runs": _previous_runs(previous),
        **trainer_outcome(trainer, result),
        "metric_for_best_model": trainer.args.metric_for_best_model,
        "final_eval": {k: float(v) for k, v in final_metrics.items()},
        "bf16": use_bf16,
        "attn_implementation": model_kwargs.get("attn_implementation", "default"),
        "max_length": student.max_seq_length,
        "eval_rows": 0 if eval_rows is None else eval_rows.num_rows,
        "query_sets": queries,
    }
    if labels is not None:
        summary["labels"] = labels.info
        if cfg.test_split:
            summary["test_eval"] = evaluate_test_split(cfg, recipe, labels, student, show_progress)
    _write_outputs(out, summary, recipe["backbone"], data_fp, labels=labels.info if labels else None)
    return summary


def _query_sets(cfg: FitConfig, eval_cfg: FitConfig, labels: Any, rows: Any, out: Path | None) -> dict[str, Any]:
    """Assert the run's train, dev and test queries are disjoint (:func:`train.splits.check_disjoint`); write their ids
    to ``out/query_ids.json`` (unless ``out`` is None) and return the check's record."""
    sets = query_sets(cfg, eval_cfg, labels, rows)
    record = check_disjoint(sets)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        record_query_sets(out, sets)
    return record


def _rows(cfg: FitConfig, recipe: dict[str, Any], path: str, loss_name: str) -> tuple[Any, Any]:
    """The trainer's rows of ``path`` (``--max-rows`` sampled) and the ``--eval-rows`` held out of them (or ``None``)."""
    rows = training_rows(path, loss_name, cfg.max_rows, seed=recipe["seed"])
    return holdout_dataset(rows, cfg.eval_rows, recipe["seed"])


def _dry_run(cfg: FitConfig, recipe: dict[str, Any], loss_name: str, out: Path, show_progress: bool) -> dict[str, Any]:
    """Load (and for ``--labels``, mine) the training rows the run would use, and describe them; no model is built."""
    labels = label_data(cfg, recipe, loss_name, out, show_progress) if cfg.labels else None
    path = str(labels.train_file) if labels else cfg.train
    rows, eval_rows = _rows(cfg, recipe, path, loss_name)
    return {
        "dry_run": True, "rows": rows.num_rows, "eval_rows": 0 if eval_rows is None else eval_rows.num_rows,
        "columns": rows.column_names, "memory_mapped": bool(rows.cache_files), "loss": loss_name,
        "query_sets": _query_sets(cfg, evaluator_config(cfg, labels), labels, rows, None),
    }  # fmt: skip


def _previous_runs(previous: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The earlier runs this one extends (their step count, recipe and final evaluation), oldest first."""
    if previous is None:
        return []
    return [*previous.get("previous_runs", []), {k: previous.get(k) for k in ("global_step", "recipe", "final_eval")}]


def _write_outputs(
    out: Path, summary: dict[str, Any], backbone: str, data_fp: str, labels: dict[str, Any] | None = None
) -> None:
    """``train_config.json`` (the summary, with provenance) and ``ettin_metadata.json`` next to the saved model."""
    from ettin.io import write_json_atomic
    from ettin.provenance import base_provenance
    from ettin.runtime import model_label

    summary["provenance"] = base_provenance()
    write_json_atomic(out / TRAIN_CONFIG, summary)
    write_json_atomic(
        out / TRAINED_METADATA,
        {
            "random_init": False,
            "trained": True,
            "recipe": "fine-tuned from relevance labels (python -m train fit --labels)"
            if labels
            else "ettin distillation (python -m train fit)",
            "backbone": backbone,
            "backbone_random_init": backbone == "replica" or bool((model_label(backbone) or {}).get("random_init")),
            "data_sha256": data_fp,
            **({"trained_here": _trained_here(summary, labels)} if labels else {}),
        },
    )


def _trained_here(summary: dict[str, Any], labels: dict[str, Any]) -> dict[str, Any]:
    """What the app shows about a label run: the dataset and split trained on, and the test evaluation when there is one."""
    test = summary.get("test_eval") or {}
    return {
        "dataset": labels["dataset"],
        "split": labels["split"],
        "method": "relevance labels + mined hard negatives",
        "loss": summary.get("loss"),
        "test_split": test.get("split"),
        "test_ndcg@10": (test.get("ndcg@10") or {}).get("trained"),
        "test_first_stage_ndcg@10": (test.get("ndcg@10") or {}).get("first_stage"),
        "beats_first_stage": test.get("beats_first_stage"),
    }
