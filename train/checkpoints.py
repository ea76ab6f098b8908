"""Checkpoints and resuming a ``fit`` run: which checkpoints are complete, setting half-written ones aside, the run-started record.

A run killed at any moment — even while saving — is continued by ``fit --resume`` from its newest *complete* checkpoint
(transformers writes ``trainer_state.json`` last); newer, half-written ones are renamed ``checkpoint-N.incomplete``.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from train.fit_config import TRAIN_CONFIG
from train.tables import TrainDataError

if TYPE_CHECKING:
    from train.fit_config import FitConfig

__all__ = [
    "RUN_STARTED",
    "list_checkpoints",
    "checkpoint_step",
    "checkpoint_is_complete",
    "last_checkpoint",
    "set_aside_incomplete",
    "check_output",
    "write_run_started",
    "finish_from_checkpoint",
    "train_or_finish",
]

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def list_checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """Every ``checkpoint-N`` folder under ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    return sorted((int(m.group(1)), p) for p in folder.iterdir() if p.is_dir() and (m := _CHECKPOINT.match(p.name)))


def checkpoint_step(folder: Path) -> int:
    """The step ``N`` of a ``checkpoint-N`` folder."""
    return int(_CHECKPOINT.match(folder.name).group(1))


def checkpoint_is_complete(folder: Path) -> bool:
    """Whether a run killed while saving ``folder`` finished it: transformers writes ``trainer_state.json`` last."""
    try:
        state = json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    step = int(_CHECKPOINT.match(folder.name).group(1))
    return isinstance(state, dict) and state.get("global_step") == step and any(folder.rglob("*.safetensors"))


def last_checkpoint(folder: Path) -> Path | None:
    """The newest *complete* ``checkpoint-N`` folder under ``folder`` (``None`` when there is none)."""
    complete = [path for _, path in list_checkpoints(folder) if checkpoint_is_complete(path)]
    return complete[-1] if complete else None


def set_aside_incomplete(folder: Path, rank: int) -> list[str]:
    """Rename the checkpoints newer than the last complete one to ``checkpoint-N.incomplete`` (rank 0 only).

    They are what a kill during a save leaves; transformers would otherwise resume from (or rotate) a half-written folder.

    Returns:
        The names of the checkpoints set aside (the same on every rank).
    """
    newest = last_checkpoint(folder)
    newest_step = int(_CHECKPOINT.match(newest.name).group(1)) if newest else -1
    partial = [path for step, path in list_checkpoints(folder) if step > newest_step]
    for path in partial:
        if rank == 0:
            target = path.with_name(f"{path.name}.incomplete")
            shutil.rmtree(target, ignore_errors=True)
            path.rename(target)
        print(f"[train fit] skipping {path.name}: incomplete (the run was killed while saving it); "
              f"set aside as {path.name}.incomplete", file=sys.stderr, flush=True)  # fmt: skip
    return [path.name for path in partial]


RUN_STARTED = "run_started.json"
# May change between launches of one run: the process layout, and the length of the run (extending a finished or killed
# run continues from its last checkpoint with the new total; the learning-rate schedule follows the new total).
_FREE_ON_RESUME = frozenset({"world_size", "per_device_batch_size", "dataloader_num_workers", "max_steps", "num_train_epochs"})


def check_output(cfg: FitConfig, recipe: dict[str, Any], out: Path) -> tuple[Path | None, dict[str, Any] | None]:
    """What ``out`` already holds: (the checkpoint to resume from, the summary of a finished run), both ``None`` if new.

    Raises:
        TrainDataError: ``out`` holds a model or checkpoints and ``--resume`` is not given, or the checkpoints belong to
            a run with other settings.
    """
    ckpt_dir = out / "checkpoints"
    previous = json.loads((out / TRAIN_CONFIG).read_text(encoding="utf-8")) if (out / TRAIN_CONFIG).is_file() else None
    if not cfg.resume and previous is not None:
        raise TrainDataError(f"{out} already holds a trained model; use --resume to continue or a new --out")
    if not cfg.resume and ckpt_dir.is_dir() and list_checkpoints(ckpt_dir):
        raise TrainDataError(f"{out} holds checkpoints of an earlier run; add --resume to continue it, or use a new --out")
    resume_from = last_checkpoint(ckpt_dir) if cfg.resume else None
    started = out / RUN_STARTED
    if resume_from is not None and started.is_file():
        before = json.loads(started.read_text(encoding="utf-8"))
        changed = sorted(k for k, v in recipe.items() if k not in _FREE_ON_RESUME and before.get("recipe", {}).get(k) != v)
        if changed:
            raise TrainDataError(
                f"{out} holds checkpoints of a run with other settings ({', '.join(changed)}); "
                "resume with the same arguments or use a new --out"
            )
    return resume_from, previous


def write_run_started(out: Path, cfg: FitConfig, recipe: dict[str, Any], data_sha256: str, rows: int) -> None:
    """Record a new run's settings in ``out/run_started.json``: a resume with other settings is refused (:func:`check_output`)."""
    from ettin.io import write_json_atomic

    write_json_atomic(out / RUN_STARTED, {"config": cfg.__dict__, "recipe": recipe, "data_sha256": data_sha256, "rows": rows})


def finish_from_checkpoint(trainer: Any, checkpoint: Path) -> Any:
    """A run killed after saving its last step: load that checkpoint (and the best one, as the recipe asks) instead of
    training again, which transformers would do for one step more than asked."""
    from transformers import TrainerState
    from transformers.trainer_utils import TrainOutput

    trainer.state = TrainerState.load_from_json(str(checkpoint / "trainer_state.json"))
    trainer._load_from_checkpoint(str(checkpoint))
    best = trainer.state.best_model_checkpoint
    if trainer.args.load_best_model_at_end and best and Path(best).is_dir():
        trainer._load_best_model()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return TrainOutput(trainer.state.global_step, sum(losses) / len(losses) if losses else None, {})


def train_or_finish(trainer: Any, resume_from: Path | None, max_steps: int) -> Any:
    """Train (from ``resume_from`` when resuming), or only finish a run killed after its last save (nothing to train)."""
    if resume_from is not None and checkpoint_step(resume_from) >= (max_steps or 0) > 0:
        return finish_from_checkpoint(trainer, resume_from)  # killed after its last save: nothing to train
    return trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
