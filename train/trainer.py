"""The recipe's ``CrossEncoderTrainer``: its training arguments, a trainer that records each step's rows, and its outcome."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from train.student import metric_key

__all__ = ["recording_trainer_class", "training_arguments", "build_trainer", "trainer_outcome"]


def _steps(value: float) -> float | int:
    """Trainer step arguments: a value below 1 is a fraction of the run, otherwise a whole number of steps."""
    return value if 0 < value < 1 else int(value)


def recording_trainer_class():
    """``CrossEncoderTrainer`` that records how many rows each training step of this rank saw (built lazily: torch)."""
    import torch
    from sentence_transformers.cross_encoder import CrossEncoderTrainer

    class RecordingTrainer(CrossEncoderTrainer):
        """``CrossEncoderTrainer`` that appends each training step's row count to ``batch_sizes``."""

        batch_sizes: list[int]

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if model.training and "label" in inputs:
                label = inputs["label"]
                self.batch_sizes.append(int(label.shape[0]) if isinstance(label, torch.Tensor) else len(label))
            return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)

    return RecordingTrainer


def training_arguments(
    recipe: dict[str, Any], ckpt_dir: Path, evaluator: Any, *, use_bf16: bool, show_progress: bool, rank: int, world_size: int,
    eval_loss: bool = False,
):
    """The ``CrossEncoderTrainingArguments`` of the recipe (checkpoints in ``ckpt_dir``, best by ``evaluator``; with
    ``eval_loss`` the trainer also evaluates its ``eval_dataset`` every ``eval_steps``)."""
    import torch
    from sentence_transformers.cross_encoder import CrossEncoderTrainingArguments

    cuda = torch.cuda.is_available()
    has_eval = evaluator is not None
    evaluates = has_eval or eval_loss
    return CrossEncoderTrainingArguments(
        output_dir=str(ckpt_dir),
        num_train_epochs=recipe["num_train_epochs"],
        max_steps=recipe["max_steps"],
        per_device_train_batch_size=recipe["per_device_batch_size"],
        gradient_accumulation_steps=recipe["gradient_accumulation_steps"],
        learning_rate=recipe["learning_rate"],
        warmup_steps=_steps(recipe["warmup"]) if recipe["warmup"] else 0,
        bf16=use_bf16,
        eval_strategy="steps" if evaluates else "no",
        eval_steps=_steps(recipe["eval_steps"]) if evaluates else None,
        save_strategy="steps",
        save_steps=_steps(recipe["save_steps"]),
        save_total_limit=recipe["save_total_limit"],
        logging_steps=_steps(recipe["logging_steps"]),
        load_best_model_at_end=has_eval,
        metric_for_best_model=metric_key(evaluator) if has_eval else None,
        greater_is_better=True if has_eval else None,
        seed=recipe["seed"],
        data_seed=recipe["seed"],
        dataloader_num_workers=recipe["dataloader_num_workers"],
        report_to="none",
        disable_tqdm=not show_progress or rank != 0,
        ddp_backend=None if cuda or world_size == 1 else "gloo",
        # Every parameter of the student takes part in each step (an unused BERT pooler is dropped under DDP); the
        # default (True) trips DDP's "marked ready twice" check on the head.
        ddp_find_unused_parameters=False,
        use_cpu=not cuda,
    )


def build_trainer(
    student: Any, rows: Any, eval_rows: Any, loss: Any, evaluator: Any, recipe: dict[str, Any], ckpt_dir: Path, *,
    use_bf16: bool, show_progress: bool, rank: int, world_size: int, callbacks: Sequence[Any] = (),
):
    """The recording trainer of the run (:func:`training_arguments`), with an empty ``batch_sizes`` log."""
    args = training_arguments(
        recipe, ckpt_dir, evaluator, use_bf16=use_bf16, show_progress=show_progress, rank=rank, world_size=world_size,
        eval_loss=eval_rows is not None,
    )
    trainer = recording_trainer_class()(
        model=student,
        args=args,
        train_dataset=rows,
        eval_dataset=eval_rows,
        loss=loss,
        evaluator=evaluator,
        callbacks=list(callbacks) or None,
    )
    trainer.batch_sizes = []
    return trainer


def trainer_outcome(trainer: Any, result: Any) -> dict[str, Any]:
    """Steps, losses and the best checkpoint, as the summary records them."""
    state = trainer.state
    return {
        "global_step": state.global_step,
        "train_loss": result.training_loss,
        "loss_history": [h["loss"] for h in state.log_history if "loss" in h],
        "eval_loss_history": [h["eval_loss"] for h in state.log_history if "eval_loss" in h],
        "best_checkpoint": Path(state.best_model_checkpoint).name if state.best_model_checkpoint else None,
        "best_metric": state.best_metric,
    }
