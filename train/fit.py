"""Training: the Ettin head on a backbone, distilled with pointwise MSE on raw teacher scores (``CrossEncoderTrainer``).

The recipe's arguments come from the registry (per-size learning rate and global batch size) and from the published
``training_constants`` (1 epoch, warmup 3 %, eval/save every 5 %, keep 5, seed 12, bf16); each is overridable. Under
``torchrun --nproc_per_node N`` the same entry point runs data-parallel with a per-device batch of ``global // N``.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from train.tables import TrainDataError, fingerprint, read_table, require_columns

TRAIN_CONFIG = "train_config.json"
TRAINED_METADATA = "ettin_metadata.json"
# Test hook: SIGKILL the process after this optimizer step (proves that a killed run resumes from its checkpoint).
KILL_ENV = "ETTIN_TRAIN_KILL_AT_STEP"
BATCH_LOG_DIR = "rank_batches"


@dataclass
class FitConfig:
    """Everything a training run depends on (saved as ``train_config.json`` next to the model)."""

    train: str
    out: str
    size: str = "17m"
    backbone: str | None = None
    max_length: int = 512
    learning_rate: float | None = None
    global_batch_size: int | None = None
    epochs: float | None = None
    max_steps: int = -1
    warmup: float | None = None
    eval_steps: float | None = None
    save_steps: float | None = None
    save_total_limit: int | None = None
    logging_steps: float | None = None
    seed: int | None = None
    eval_data: str = "none"
    eval_split: str = "test"
    eval_first_stage: str = "bm25"
    eval_top_k: int = 100
    eval_max_queries: int | None = None
    eval_query_ids: str | None = None
    eval_batch_size: int = 32
    bf16: str = "auto"
    dataloader_workers: int | None = None
    resume: bool = False
    max_rows: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def world() -> tuple[int, int]:
    """(rank, world size) from torchrun's environment (``(0, 1)`` outside torchrun)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def resolve_recipe(cfg: FitConfig) -> dict[str, Any]:
    """The effective training arguments: registry + published constants, overridden by ``cfg``."""
    from ettin import registry

    try:
        meta = registry.reranker(cfg.size)
    except KeyError as exc:
        raise TrainDataError(str(exc.args[0])) from None
    const = registry.published()["training_constants"]
    _, world_size = world()
    gbs = cfg.global_batch_size or meta.global_batch_size
    if gbs < 1:
        raise TrainDataError("--global-batch-size must be at least 1")
    if gbs % world_size:
        raise TrainDataError(f"the global batch size {gbs} is not divisible by WORLD_SIZE={world_size}")
    lr = cfg.learning_rate if cfg.learning_rate is not None else meta.learning_rate
    if lr <= 0:
        raise TrainDataError("--lr must be positive")
    workers = cfg.dataloader_workers
    if workers is None:
        import torch

        # The recipe: 0 if WORLD_SIZE > 8 else 4; on a CPU the cores are needed for compute.
        workers = 0 if (world_size > 8 or not torch.cuda.is_available()) else 4
    return {
        "size": meta.size,
        "backbone": cfg.backbone or meta.backbone_id,
        "learning_rate": lr,
        "global_batch_size": gbs,
        "world_size": world_size,
        "per_device_batch_size": gbs // world_size,
        "num_train_epochs": cfg.epochs if cfg.epochs is not None else const["num_train_epochs"],
        "max_steps": cfg.max_steps,
        "warmup": cfg.warmup if cfg.warmup is not None else const["warmup_ratio"],
        "eval_steps": cfg.eval_steps if cfg.eval_steps is not None else const["eval_steps"],
        "save_steps": cfg.save_steps if cfg.save_steps is not None else const["save_steps"],
        "save_total_limit": cfg.save_total_limit if cfg.save_total_limit is not None else const["save_total_limit"],
        "logging_steps": cfg.logging_steps if cfg.logging_steps is not None else const["logging_steps"],
        "seed": cfg.seed if cfg.seed is not None else const["seed"],
        "gradient_accumulation_steps": const["gradient_accumulation_steps"],
        "dataloader_num_workers": workers,
        "loss": "MSELoss (raw teacher scores)",
    }


def _steps(value: float) -> float | int:
    """Trainer step arguments: a value below 1 is a fraction of the run, otherwise a whole number of steps."""
    return value if 0 < value < 1 else int(value)


def load_training_table(path: str, max_rows: int | None = None):
    """The ``query, document, score`` rows of a training file (other columns are dropped)."""
    import pyarrow as pa

    table = read_table(path)
    require_columns(table, ("query", "document", "score"), str(path))
    table = table.select(["query", "document", "score"])
    table = table.set_column(2, "score", table.column("score").cast(pa.float32()))
    if max_rows is not None:
        table = table.slice(0, max_rows)
    if table.num_rows == 0:
        raise TrainDataError(f"{path}: no training rows")
    return table


def is_cross_encoder_folder(path: str) -> bool:
    p = Path(path)
    if not (p / "modules.json").is_file():
        return False
    try:
        modules = json.loads((p / "modules.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return any("Dense" in m.get("type", "") for m in modules) and (p / "config_sentence_transformers.json").is_file() and (
        "cross" in (p / "config_sentence_transformers.json").read_text(encoding="utf-8").lower()
        or (p / "ettin_metadata.json").is_file()
    )


def build_student(backbone: str, size: str, max_length: int, model_kwargs: dict[str, Any] | None = None):
    """The student: an existing CrossEncoder folder as is, ``replica`` (a random Ettin replica of ``size``), or the Ettin
    head on an encoder (Hub id or folder)."""
    from ettin.architecture import build_reranker

    if backbone == "replica":
        from ettin.paths import cache_dir
        from ettin.replica import build_replica

        backbone = str(build_replica(size, cache_dir() / "replicas" / size, seed=0))
    elif Path(backbone).expanduser().is_dir():
        backbone = str(Path(backbone).expanduser().resolve())
    try:
        if is_cross_encoder_folder(backbone):
            from sentence_transformers import CrossEncoder

            return CrossEncoder(backbone, max_length=max_length, model_kwargs=model_kwargs)
        return build_reranker(backbone, max_length=max_length, model_kwargs=model_kwargs)
    except Exception as exc:  # noqa: BLE001 - one clear message for every loading failure
        raise TrainDataError(
            f"cannot load the backbone {backbone!r}: {type(exc).__name__}: {str(exc)[:300]} — offline, give a local "
            "encoder folder with --backbone (e.g. the packaged MiniLM) or --backbone replica"
        ) from None


def build_evaluator(cfg: FitConfig):
    """The in-training evaluator: ``nanobeir`` (online), a local BEIR dataset (``scifact`` or a folder), or ``None``."""
    if cfg.eval_data in ("", "none"):
        return None
    if cfg.eval_data == "nanobeir":
        from eval.nanobeir import build_nanobeir_evaluator

        try:
            return build_nanobeir_evaluator(rerank_k=cfg.eval_top_k, batch_size=cfg.eval_batch_size)
        except RuntimeError as exc:
            raise TrainDataError(str(exc)) from None
    from eval.nanobeir import build_reranking_evaluator
    from train.data import load_beir_spec

    dataset = load_beir_spec(cfg.eval_data, cfg.eval_split)
    if cfg.eval_query_ids:
        from ettin.corpus import BeirDataset

        keep = read_query_ids(cfg.eval_query_ids)
        unknown = [q for q in keep if q not in dataset.queries]
        if unknown:
            raise TrainDataError(f"{cfg.eval_query_ids}: {len(unknown)} query id(s) not in {cfg.eval_data}/{cfg.eval_split}")
        dataset = BeirDataset(
            f"{dataset.name}-dev",
            dataset.split,
            dataset.corpus,
            {q: dataset.queries[q] for q in keep},
            {q: dataset.qrels[q] for q in keep if q in dataset.qrels},
        )
    return build_reranking_evaluator(
        dataset,
        first_stage=cfg.eval_first_stage,
        top_k=cfg.eval_top_k,
        max_queries=cfg.eval_max_queries,
        batch_size=cfg.eval_batch_size,
    )


def read_query_ids(path: str) -> list[str]:
    p = Path(path)
    if not p.is_file():
        raise TrainDataError(f"{path}: query-id file not found")
    text = p.read_text(encoding="utf-8")
    try:
        ids = json.loads(text)
        if not isinstance(ids, list):
            raise ValueError
        return [str(i) for i in ids]
    except ValueError:
        return [line.strip() for line in text.splitlines() if line.strip()]


def metric_key(evaluator) -> str:
    """The trainer's name for the evaluator's primary metric (``eval_<name>_ndcg@10``)."""
    primary = evaluator.primary_metric
    name = getattr(evaluator, "name", "")
    if name and not primary.startswith(name):
        primary = f"{name}_{primary}"
    return f"eval_{primary}"


def last_checkpoint(folder: Path) -> Path | None:
    from transformers.trainer_utils import get_last_checkpoint

    return Path(found) if folder.is_dir() and (found := get_last_checkpoint(str(folder))) else None


def _trainer_class():
    import torch
    from sentence_transformers.cross_encoder import CrossEncoderTrainer
    from transformers import TrainerCallback

    class RecordingTrainer(CrossEncoderTrainer):
        """``CrossEncoderTrainer`` that records how many rows each training step of this rank saw."""

        batch_sizes: list[int]

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if model.training and "label" in inputs:
                label = inputs["label"]
                self.batch_sizes.append(int(label.shape[0]) if isinstance(label, torch.Tensor) else len(label))
            return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)

    class KillAtStep(TrainerCallback):
        def __init__(self, step: int):
            self.step = step

        def on_step_end(self, args, state, control, **kwargs):
            # After the step's checkpoint (saving happens in on_step_end's caller, before this callback's next step).
            if state.global_step > self.step:
                os.kill(os.getpid(), signal.SIGKILL)

    return RecordingTrainer, KillAtStep


def fit(cfg: FitConfig, show_progress: bool = True) -> dict[str, Any]:
    """Train a student; returns the run summary (also saved as ``train_config.json`` in ``cfg.out``).

    Raises:
        TrainDataError: bad input (unknown size, unreadable data, missing columns, indivisible batch, unloadable backbone,
            an existing output without ``--resume``).
    """
    import datasets
    import torch
    import transformers
    from sentence_transformers.cross_encoder import CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import MSELoss

    from ettin.io import write_json_atomic
    from ettin.provenance import base_provenance
    from ettin.runtime import flash_attention_available

    recipe = resolve_recipe(cfg)
    rank, world_size = world()
    out = Path(cfg.out)
    ckpt_dir = out / "checkpoints"
    resume_from = last_checkpoint(ckpt_dir) if cfg.resume else None
    previous = json.loads((out / TRAIN_CONFIG).read_text(encoding="utf-8")) if (out / TRAIN_CONFIG).is_file() else None
    if not cfg.resume and previous is not None:
        raise TrainDataError(f"{out} already holds a trained model; use --resume to continue or a new --out")
    if not cfg.resume and last_checkpoint(ckpt_dir) is not None:
        raise TrainDataError(f"{out} holds checkpoints of an earlier run; add --resume to continue it, or use a new --out")

    started = out / "run_started.json"
    if resume_from is not None and started.is_file():
        before = json.loads(started.read_text(encoding="utf-8"))
        # May change between launches: the process layout, and the length of the run (extending a finished or killed
        # run continues from its last checkpoint with the new total; the learning-rate schedule follows the new total).
        free = {"world_size", "per_device_batch_size", "dataloader_num_workers", "max_steps", "num_train_epochs"}
        changed = sorted(k for k, v in recipe.items() if k not in free and before.get("recipe", {}).get(k) != v)
        if changed:
            raise TrainDataError(
                f"{out} holds checkpoints of a run with other settings ({', '.join(changed)}); "
                "resume with the same arguments or use a new --out"
            )
    table = load_training_table(cfg.train, cfg.max_rows)
    train_dataset = datasets.Dataset(table)
    data_fp = fingerprint(cfg.train)

    cuda = torch.cuda.is_available()
    use_bf16 = cuda and torch.cuda.is_bf16_supported() if cfg.bf16 == "auto" else cfg.bf16 == "on"
    if use_bf16 and not cuda:
        raise TrainDataError("--bf16 on needs a CUDA GPU with bf16 support")
    model_kwargs: dict[str, Any] = {}
    if cuda and flash_attention_available():
        model_kwargs["attn_implementation"] = "flash_attention_2"
    transformers.set_seed(recipe["seed"])  # the head's initialisation is part of the run
    student = build_student(recipe["backbone"], recipe["size"], cfg.max_length, model_kwargs or None)
    if world_size > 1:
        _drop_unused_pooler(student)
    student.model_card_data.local_files_only = True
    student.model_card_data.model_name = f"Ettin-recipe student ({recipe['size']} recipe) on {recipe['backbone']}"
    student.model_card_data.train_datasets = [{"name": Path(cfg.train).name}]

    evaluator = build_evaluator(cfg)
    has_eval = evaluator is not None
    args = CrossEncoderTrainingArguments(
        output_dir=str(ckpt_dir),
        num_train_epochs=recipe["num_train_epochs"],
        max_steps=recipe["max_steps"],
        per_device_train_batch_size=recipe["per_device_batch_size"],
        gradient_accumulation_steps=recipe["gradient_accumulation_steps"],
        learning_rate=recipe["learning_rate"],
        warmup_steps=_steps(recipe["warmup"]) if recipe["warmup"] else 0,
        bf16=use_bf16,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=_steps(recipe["eval_steps"]) if has_eval else None,
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
    RecordingTrainer, KillAtStep = _trainer_class()
    trainer = RecordingTrainer(
        model=student,
        args=args,
        train_dataset=train_dataset,
        loss=MSELoss(student),
        evaluator=evaluator,
    )
    trainer.batch_sizes = []
    kill_at = int(os.environ.get(KILL_ENV, "0") or 0)
    if kill_at:
        trainer.add_callback(KillAtStep(kill_at))
    if rank == 0 and resume_from is None:
        write_json_atomic(
            started,
            {"config": cfg.__dict__, "recipe": recipe, "data_sha256": data_fp, "rows": table.num_rows},
        )
    result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    _write_json_rank(out / BATCH_LOG_DIR / f"rank{rank}.json", {"rank": rank, "world_size": world_size, "batch_sizes": trainer.batch_sizes})

    summary: dict[str, Any] = {}
    if trainer.is_world_process_zero():
        final_metrics = evaluator(student) if has_eval else {}
        student.save_pretrained(str(out))
        history = trainer.state.log_history
        losses = [h["loss"] for h in history if "loss" in h]
        summary = {
            "config": cfg.__dict__,
            "recipe": recipe,
            "data": {"path": cfg.train, "sha256": data_fp, "rows": table.num_rows},
            "resumed_from": resume_from.name if resume_from else None,
            "previous_runs": ([*previous.get("previous_runs", []), {k: previous.get(k) for k in ("global_step", "recipe", "final_eval")}]
                              if previous else []),
            "global_step": trainer.state.global_step,
            "train_loss": result.training_loss,
            "loss_history": losses,
            "best_checkpoint": Path(trainer.state.best_model_checkpoint).name if trainer.state.best_model_checkpoint else None,
            "best_metric": trainer.state.best_metric,
            "metric_for_best_model": args.metric_for_best_model,
            "final_eval": {k: float(v) for k, v in final_metrics.items()},
            "bf16": use_bf16,
            "attn_implementation": model_kwargs.get("attn_implementation", "default"),
            "provenance": base_provenance(),
        }
        write_json_atomic(out / TRAIN_CONFIG, summary)
        write_json_atomic(
            out / TRAINED_METADATA,
            {
                "random_init": False,
                "trained": True,
                "recipe": "ettin distillation (python -m train fit)",
                "backbone": recipe["backbone"],
                "data_sha256": data_fp,
            },
        )
    return summary


def _drop_unused_pooler(model) -> None:
    """Remove a BERT-style pooler: the Ettin head pools the CLS token itself, so the pooler never gets a gradient, and
    DDP (which runs with ``find_unused_parameters=False``) requires every parameter to take part."""
    inner = getattr(model, "transformers_model", None) or getattr(model[0], "auto_model", None)
    if inner is not None and getattr(inner, "pooler", None) is not None:
        inner.pooler = None


def _write_json_rank(path: Path, data: dict[str, Any]) -> None:
    from ettin.io import write_json_atomic

    write_json_atomic(path, data)
