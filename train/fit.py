"""Training: the Ettin head on a backbone, distilled with pointwise MSE on raw teacher scores (``CrossEncoderTrainer``).

The recipe's arguments come from the registry (per-size learning rate and global batch size) and from the published
``training_constants`` (1 epoch, warmup 3 %, eval/save every 5 %, keep 5, seed 12, bf16); each is overridable. Under
``torchrun --nproc_per_node N`` the same entry point runs data-parallel with a per-device batch of ``global // N``.
:class:`FitConfig`'s fields are the ``python -m train fit`` flags (each spelled out once, in the field's metadata).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ettin.cli import add_dataclass_arguments, dataclass_from_args, flag, verb
from train.cli import print_json, quiet_argument
from train.tables import TrainDataError, fingerprint, read_dataset, read_query_ids

__all__ = [
    "TRAIN_CONFIG",
    "TRAINED_METADATA",
    "BATCH_LOG_DIR",
    "FitConfig",
    "add_fit_arguments",
    "world",
    "resolve_recipe",
    "TRAIN_COLUMNS",
    "load_training_table",
    "sample_rows",
    "is_cross_encoder_folder",
    "build_student",
    "build_evaluator",
    "metric_key",
    "last_checkpoint",
    "fit",
]

TRAIN_CONFIG = "train_config.json"
TRAINED_METADATA = "ettin_metadata.json"
BATCH_LOG_DIR = "rank_batches"
TRAIN_COLUMNS = ("query", "document", "score")


def _steps_type(text: str) -> float:
    """argparse ``type`` of the step flags: a positive number (below 1 = a share of the run, else steps)."""
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive (a fraction below 1 = share of the run, else steps)")
    return value


@dataclass
class FitConfig:
    """Everything a training run depends on (saved as ``train_config.json`` next to the model).

    Each field is one ``python -m train fit`` flag (``max_length`` -> ``--max-length``; ``learning_rate`` -> ``--lr``);
    ``None`` means "the recipe's value" (registry or published constants, see :func:`resolve_recipe`).
    """

    out: str = field(metadata=flag("output folder (model, checkpoints/, train_config.json)"))
    train: str | None = field(
        default=None,
        metadata=flag("training rows: Parquet/JSONL with query, document, score (memory-mapped; give this or --labels)"),
    )
    labels: str | None = field(
        default=None,
        metadata=flag(
            "fine-tune from relevance labels instead: 'scifact' (bundled) or a BEIR folder; its --split qrels give the "
            "positives, the --first-stages the hard negatives"
        ),
    )
    split: str = field(default="train", metadata=flag("with --labels: the qrels split trained on"))
    first_stages: str = field(
        default="sentence-transformers/all-MiniLM-L6-v2,bm25",
        metadata=flag("with --labels: comma-separated first stages that mine negatives (interleaved by rank)"),
    )
    negatives: int = field(default=7, metadata=flag("with --labels: hard negatives per query"))
    mine_depth: int = field(default=30, metadata=flag("with --labels: negatives are drawn from the first stages' top N"))
    mine_skip: int = field(default=0, metadata=flag("with --labels: skip the first N ranks (against unjudged positives)"))
    loss: str = field(
        default="auto",
        metadata=flag(
            "auto (mse with --train, bce with --labels), mse, or with --labels bce (BinaryCrossEntropyLoss), listnet "
            "(ListNetLoss) or lambdaloss (LambdaLoss)",
            choices=("auto", "mse", "bce", "listnet", "lambdaloss"),
        ),
    )
    distill_from: str | None = field(
        default=None, metadata=flag("with --labels: a teacher (CrossEncoder or cosine:EMBEDDER) mixed into the targets")
    )
    distill_weight: float = field(default=0.5, metadata=flag("with --distill-from: the teacher's share of each target"))
    holdout: int = field(
        default=0, metadata=flag("with --labels: hold out N queries (seeded) as the in-training dev set")
    )
    test_split: str | None = field(
        default=None,
        metadata=flag("with --labels: after training, rerank this split's first-stage candidates and report NDCG@10"),
    )
    test_depth: int = field(default=20, metadata=flag("with --test-split: candidates per query (default 20)"))
    dry_run: bool = field(default=False, metadata=flag("load and check the training data, print its size, do not train"))
    size: str = field(default="17m", metadata=flag("Ettin size whose recipe (lr, batch, backbone) is used"))
    backbone: str | None = field(
        default=None,
        metadata=flag(
            "encoder Hub id or folder (default: the size's jhu-clsp/ettin-encoder-*), a CrossEncoder folder to continue, "
            "or 'replica' (random Ettin replica of --size)"
        ),
    )
    max_length: int | None = field(
        default=None, metadata=flag("max tokens per pair (default: the backbone's own limit, as the post builds the student)")
    )
    learning_rate: float | None = field(
        default=None, metadata=flag("learning rate (default: the size's, from the registry)", flag="--lr", metavar="LR")
    )
    global_batch_size: int | None = field(
        default=None, metadata=flag("global batch (default: the size's); per device = global // WORLD_SIZE")
    )
    epochs: float | None = field(default=None, metadata=flag("epochs (default: 1)"))
    max_steps: int = field(default=-1, metadata=flag("stop after this many steps (-1: the full epochs)"))
    warmup: float | None = field(
        default=None, metadata=flag("warmup: fraction of steps if < 1, else steps (default: 0.03)")
    )
    eval_steps: float | None = field(
        default=None, metadata=flag("eval every: fraction if < 1, else steps (default: 0.05)", type=_steps_type)
    )
    save_steps: float | None = field(
        default=None, metadata=flag("checkpoint every: fraction if < 1, else steps (default: 0.05)", type=_steps_type)
    )
    save_total_limit: int | None = field(default=None, metadata=flag("checkpoints kept (default: 5)"))
    logging_steps: float | None = field(
        default=None, metadata=flag("log every: fraction if < 1, else steps (default: 0.025)", type=_steps_type)
    )
    seed: int | None = field(default=None, metadata=flag("seed (default: 12)"))
    eval_data: str = field(
        default="none",
        metadata=flag(
            "in-training evaluator: 'nanobeir' (online, the recipe), 'scifact' or a BEIR folder (offline), 'none'"
        ),
    )
    eval_split: str = field(default="test", metadata=flag("split of a local BEIR evaluator"))
    eval_first_stage: str = field(default="bm25", metadata=flag("first stage of a local evaluator"))
    eval_top_k: int = field(default=100, metadata=flag("candidates reranked per query"))
    eval_max_queries: int | None = field(default=None, metadata=flag("evaluate on the first N queries only"))
    eval_query_ids: str | None = field(
        default=None, metadata=flag("file of query ids (JSON list or lines) the local evaluator uses")
    )
    eval_batch_size: int = field(default=32, metadata=flag("evaluator batch size"))
    bf16: str = field(
        default="auto", metadata=flag("bf16 training (auto: on a bf16 GPU only)", choices=("auto", "on", "off"))
    )
    dataloader_workers: int | None = field(
        default=None, metadata=flag("dataloader workers (default: recipe on GPU, 0 on CPU)")
    )
    resume: bool = field(default=False, metadata=flag("continue from the last checkpoint in <out>/checkpoints"))
    max_rows: int | None = field(default=None, metadata=flag("use N training rows (a seeded random sample)"))
    eval_rows: int = field(
        default=0,
        metadata=flag("hold out N training rows (seeded) as the trainer's eval_dataset, as the post (eval loss; default 0)"),
    )


_INPUT_FLAGS = ("train", "labels")  # exactly one is required: a mutually exclusive group


def add_fit_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``fit`` flags: one per :class:`FitConfig` field (those without a default are required; exactly one of
    ``--train``/``--labels``), plus ``--quiet``."""
    add_dataclass_arguments(parser, FitConfig, exclude=_INPUT_FLAGS)
    inputs = parser.add_mutually_exclusive_group(required=True)
    for name in _INPUT_FLAGS:
        inputs.add_argument(f"--{name}", dest=name, default=None, help=FitConfig.__dataclass_fields__[name].metadata["help"])
    quiet_argument(parser)


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


def world() -> tuple[int, int]:
    """(rank, world size) from torchrun's environment (``(0, 1)`` outside torchrun)."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def resolve_recipe(cfg: FitConfig) -> dict[str, Any]:
    """The effective training arguments: registry + published constants, overridden by ``cfg``.

    Raises:
        TrainDataError: unknown size, a batch not divisible by ``WORLD_SIZE``, a non-positive batch or learning rate.
    """
    from ettin import registry
    from ettin.published import published

    try:
        meta = registry.reranker(cfg.size)
    except KeyError as exc:
        raise TrainDataError(str(exc.args[0])) from None
    const = published().training_constants
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

    def pick(value: Any, constant: str) -> Any:
        return value if value is not None else const[constant]

    return {
        "size": meta.size,
        "backbone": cfg.backbone or meta.backbone_id,
        "learning_rate": lr,
        "global_batch_size": gbs,
        "world_size": world_size,
        "per_device_batch_size": gbs // world_size,
        "num_train_epochs": pick(cfg.epochs, "num_train_epochs"),
        "max_steps": cfg.max_steps,
        "warmup": pick(cfg.warmup, "warmup_ratio"),
        "eval_steps": pick(cfg.eval_steps, "eval_steps"),
        "save_steps": pick(cfg.save_steps, "save_steps"),
        "save_total_limit": pick(cfg.save_total_limit, "save_total_limit"),
        "logging_steps": pick(cfg.logging_steps, "logging_steps"),
        "seed": pick(cfg.seed, "seed"),
        "gradient_accumulation_steps": const["gradient_accumulation_steps"],
        "dataloader_num_workers": workers,
        "loss": "MSELoss (raw teacher scores)",
    }


def _steps(value: float) -> float | int:
    """Trainer step arguments: a value below 1 is a fraction of the run, otherwise a whole number of steps."""
    return value if 0 < value < 1 else int(value)


def load_training_table(path: str, max_rows: int | None = None, seed: int = 12, columns: Sequence[str] = TRAIN_COLUMNS):
    """The ``columns`` of a training file or folder as a memory-mapped ``datasets.Dataset`` (other columns are never read).

    See :func:`train.tables.read_dataset`: memory stays flat however many rows there are. ``max_rows`` keeps a seeded
    random sample of that many rows (in file order), never the first rows.

    Raises:
        TrainDataError: unreadable file, missing columns, no rows, ``max_rows`` below 1.
    """
    import datasets

    dataset = read_dataset(path, columns)
    if "score" in columns and dataset.features["score"] != datasets.Value("float32"):
        dataset = dataset.cast_column("score", datasets.Value("float32"))
    if max_rows is not None:
        if max_rows < 1:
            raise TrainDataError("--max-rows must be at least 1")
        if dataset.num_rows > max_rows:
            dataset = dataset.select(sample_rows(dataset.num_rows, max_rows, seed))
    if dataset.num_rows == 0:
        raise TrainDataError(f"{path}: no training rows")
    return dataset


def sample_rows(num_rows: int, size: int, seed: int) -> list[int]:
    """A seeded random sample of ``size`` of ``num_rows`` row positions, in ascending order."""
    import numpy as np

    return np.sort(np.random.default_rng(seed).choice(num_rows, size=size, replace=False)).tolist()


def is_cross_encoder_folder(path: str) -> bool:
    """Whether ``path`` is a saved CrossEncoder (continued as is) rather than a bare encoder (which gets the Ettin head)."""
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


def build_student(backbone: str, size: str, max_length: int | None, model_kwargs: dict[str, Any] | None = None):
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
    """The in-training evaluator: ``nanobeir`` (online), a local BEIR dataset (``scifact`` or a folder), or ``None``.

    Raises:
        TrainDataError: NanoBEIR cannot be loaded, or ``cfg.eval_query_ids`` names queries the split lacks.
    """
    if cfg.eval_data in ("", "none"):
        return None
    if cfg.eval_data == "nanobeir":
        from eval.retrieval.nanobeir import build_nanobeir_evaluator

        try:
            return build_nanobeir_evaluator(rerank_k=cfg.eval_top_k, batch_size=cfg.eval_batch_size)
        except RuntimeError as exc:
            raise TrainDataError(str(exc)) from None
    from eval.retrieval.nanobeir import build_reranking_evaluator
    from train.data import load_beir_spec

    dataset = load_beir_spec(cfg.eval_data, cfg.eval_split)
    if cfg.eval_query_ids:

        keep = read_query_ids(cfg.eval_query_ids)
        unknown = [q for q in keep if q not in dataset.queries]
        if unknown:
            raise TrainDataError(f"{cfg.eval_query_ids}: {len(unknown)} query id(s) not in {cfg.eval_data}/{cfg.eval_split}")
        dataset = dataset.restrict(keep, f"{dataset.name}-dev")
    return build_reranking_evaluator(
        dataset,
        first_stage=cfg.eval_first_stage,
        top_k=cfg.eval_top_k,
        max_queries=cfg.eval_max_queries,
        batch_size=cfg.eval_batch_size,
    )


def metric_key(evaluator) -> str:
    """The trainer's name for the evaluator's primary metric (``eval_<name>_ndcg@10``)."""
    primary = evaluator.primary_metric
    name = getattr(evaluator, "name", "")
    if name and not primary.startswith(name):
        primary = f"{name}_{primary}"
    return f"eval_{primary}"


_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def _checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """Every ``checkpoint-N`` folder under ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    return sorted((int(m.group(1)), p) for p in folder.iterdir() if p.is_dir() and (m := _CHECKPOINT.match(p.name)))


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
    complete = [path for _, path in _checkpoints(folder) if checkpoint_is_complete(path)]
    return complete[-1] if complete else None


def set_aside_incomplete(folder: Path, rank: int) -> list[str]:
    """Rename the checkpoints newer than the last complete one to ``checkpoint-N.incomplete`` (rank 0 only).

    They are what a kill during a save leaves; transformers would otherwise resume from (or rotate) a half-written folder.

    Returns:
        The names of the checkpoints set aside (the same on every rank).
    """
    newest = last_checkpoint(folder)
    newest_step = int(_CHECKPOINT.match(newest.name).group(1)) if newest else -1
    partial = [path for step, path in _checkpoints(folder) if step > newest_step]
    for path in partial:
        if rank == 0:
            target = path.with_name(f"{path.name}.incomplete")
            shutil.rmtree(target, ignore_errors=True)
            path.rename(target)
        print(f"[train fit] skipping {path.name}: incomplete (the run was killed while saving it); "
              f"set aside as {path.name}.incomplete", file=sys.stderr, flush=True)  # fmt: skip
    return [path.name for path in partial]


_RUN_STARTED = "run_started.json"
# May change between launches of one run: the process layout, and the length of the run (extending a finished or killed
# run continues from its last checkpoint with the new total; the learning-rate schedule follows the new total).
_FREE_ON_RESUME = frozenset({"world_size", "per_device_batch_size", "dataloader_num_workers", "max_steps", "num_train_epochs"})


def _recording_trainer_class():
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


def _check_output(cfg: FitConfig, recipe: dict[str, Any], out: Path) -> tuple[Path | None, dict[str, Any] | None]:
    """What ``out`` already holds: (the checkpoint to resume from, the summary of a finished run), both ``None`` if new.

    Raises:
        TrainDataError: ``out`` holds a model or checkpoints and ``--resume`` is not given, or the checkpoints belong to
            a run with other settings.
    """
    ckpt_dir = out / "checkpoints"
    previous = json.loads((out / TRAIN_CONFIG).read_text(encoding="utf-8")) if (out / TRAIN_CONFIG).is_file() else None
    if not cfg.resume and previous is not None:
        raise TrainDataError(f"{out} already holds a trained model; use --resume to continue or a new --out")
    if not cfg.resume and ckpt_dir.is_dir() and _checkpoints(ckpt_dir):
        raise TrainDataError(f"{out} holds checkpoints of an earlier run; add --resume to continue it, or use a new --out")
    resume_from = last_checkpoint(ckpt_dir) if cfg.resume else None
    started = out / _RUN_STARTED
    if resume_from is not None and started.is_file():
        before = json.loads(started.read_text(encoding="utf-8"))
        changed = sorted(k for k, v in recipe.items() if k not in _FREE_ON_RESUME and before.get("recipe", {}).get(k) != v)
        if changed:
            raise TrainDataError(
                f"{out} holds checkpoints of a run with other settings ({', '.join(changed)}); "
                "resume with the same arguments or use a new --out"
            )
    return resume_from, previous


def _precision(cfg: FitConfig) -> tuple[bool, dict[str, Any]]:
    """(train in bf16, the student's ``model_kwargs``): bf16 and FlashAttention-2 only on a GPU that has them.

    Raises:
        TrainDataError: ``--bf16 on`` without a CUDA GPU.
    """
    import torch

    from ettin.runtime import flash_attention_available

    cuda = torch.cuda.is_available()
    use_bf16 = cuda and torch.cuda.is_bf16_supported() if cfg.bf16 == "auto" else cfg.bf16 == "on"
    if use_bf16 and not cuda:
        raise TrainDataError("--bf16 on needs a CUDA GPU with bf16 support")
    model_kwargs: dict[str, Any] = {}
    if cuda and flash_attention_available():
        model_kwargs["attn_implementation"] = "flash_attention_2"
    return use_bf16, model_kwargs


def _seeded_student(cfg: FitConfig, recipe: dict[str, Any], model_kwargs: dict[str, Any], world_size: int):
    """The student, its head initialised from the run's seed, with its model card filled in."""
    import transformers

    transformers.set_seed(recipe["seed"])  # the head's initialisation is part of the run
    student = build_student(recipe["backbone"], recipe["size"], cfg.max_length, model_kwargs or None)
    if world_size > 1:
        _drop_unused_pooler(student)
    student.model_card_data.local_files_only = True
    student.model_card_data.model_name = f"Ettin-recipe student ({recipe['size']} recipe) on {recipe['backbone']}"
    student.model_card_data.train_datasets = [{"name": Path(cfg.train).name if cfg.train else f"{cfg.labels} ({cfg.split} qrels)"}]
    return student


def _training_arguments(
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
            an existing output without ``--resume``, neither or both of ``--train`` and ``--labels``).
    """
    from ettin.io import write_json_atomic

    loss_name = _loss_name(cfg)
    recipe = resolve_recipe(cfg)
    recipe["loss"] = loss_name if cfg.labels else recipe["loss"]
    rank, world_size = world()
    out = Path(cfg.out)
    if cfg.dry_run:
        return _dry_run(cfg, recipe, loss_name, out, show_progress)
    resume_from, previous = _check_output(cfg, recipe, out)
    skipped = set_aside_incomplete(out / "checkpoints", rank) if cfg.resume else []
    labels = _label_data(cfg, recipe, loss_name, out, show_progress) if cfg.labels else None
    train_path = str(labels.train_file) if labels else cfg.train
    rows = _load_rows(cfg, recipe, train_path, loss_name)
    rows, eval_rows = _holdout_dataset(rows, cfg.eval_rows, recipe["seed"])
    data_fp = fingerprint(train_path)
    use_bf16, model_kwargs = _precision(cfg)
    student = _seeded_student(cfg, recipe, model_kwargs, world_size)
    evaluator = build_evaluator(_evaluator_config(cfg, labels))
    loss, loss_description = _make_loss(student, loss_name, labels)
    args = _training_arguments(
        recipe, out / "checkpoints", evaluator, use_bf16=use_bf16, show_progress=show_progress, rank=rank, world_size=world_size,
        eval_loss=eval_rows is not None,
    )
    trainer = _recording_trainer_class()(
        model=student,
        args=args,
        train_dataset=rows,
        eval_dataset=eval_rows,
        loss=loss,
        evaluator=evaluator,
        callbacks=list(callbacks) or None,
    )
    trainer.batch_sizes = []
    if rank == 0 and resume_from is None:
        write_json_atomic(
            out / _RUN_STARTED,
            {"config": cfg.__dict__, "recipe": recipe, "data_sha256": data_fp, "rows": rows.num_rows},
        )
    if resume_from is not None and _checkpoint_step(resume_from) >= (recipe["max_steps"] or 0) > 0:
        result = _finish_from_last_checkpoint(trainer, resume_from)  # killed after its last save: nothing to train
    else:
        result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
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
        **_trainer_outcome(trainer, result),
        "metric_for_best_model": args.metric_for_best_model,
        "final_eval": {k: float(v) for k, v in final_metrics.items()},
        "bf16": use_bf16,
        "attn_implementation": model_kwargs.get("attn_implementation", "default"),
        "max_length": student.max_seq_length,
        "eval_rows": 0 if eval_rows is None else eval_rows.num_rows,
    }
    if labels is not None:
        summary["labels"] = labels.info
        if cfg.test_split:
            summary["test_eval"] = _test_evaluation(cfg, recipe, labels, student, show_progress)
    _write_outputs(out, summary, recipe["backbone"], data_fp, labels=labels.info if labels else None)
    return summary


def _loss_name(cfg: FitConfig) -> str:
    """The loss of the run (``auto``: ``mse`` for teacher-scored rows, ``bce`` for labels), after checking the inputs.

    Raises:
        TrainDataError: neither or both of ``--train``/``--labels``, or a loss that does not fit the input.
    """
    if bool(cfg.train) == bool(cfg.labels):
        raise TrainDataError("give either --train (teacher-scored rows) or --labels (a BEIR folder or 'scifact')")
    if cfg.labels:
        name = "bce" if cfg.loss == "auto" else cfg.loss
        if name == "mse":
            raise TrainDataError("--loss mse needs teacher scores (--train); with --labels use bce or listnet")
        return name
    if cfg.loss not in ("auto", "mse"):
        raise TrainDataError(f"--loss {cfg.loss} needs relevance labels (--labels); teacher-scored rows train with mse")
    if cfg.test_split or cfg.distill_from:
        raise TrainDataError("--test-split and --distill-from go with --labels")
    return "mse"


def _label_data(cfg: FitConfig, recipe: dict[str, Any], loss_name: str, out: Path, show_progress: bool):
    """Mine (or reuse) the label run's training rows (:func:`train.labels.prepare_label_data`)."""
    from train.labels import MiningConfig, prepare_label_data

    stages = tuple(s.strip() for s in cfg.first_stages.split(",") if s.strip())
    mining = MiningConfig(stages, negatives=cfg.negatives, depth=cfg.mine_depth, skip=cfg.mine_skip, seed=recipe["seed"])
    return prepare_label_data(
        cfg.labels, cfg.split, out, mining, loss_name, holdout=cfg.holdout, distill_from=cfg.distill_from,
        distill_weight=cfg.distill_weight, show_progress=show_progress,
    )  # fmt: skip


def _load_rows(cfg: FitConfig, recipe: dict[str, Any], path: str, loss_name: str):
    """The trainer's rows, memory-mapped: teacher-scored pairs, label pairs (bce) or one list per query (listwise)."""
    columns = TRAIN_COLUMNS if loss_name == "mse" else ("query", "document", "label") if loss_name == "bce" else ("query", "docs", "labels")
    return load_training_table(path, cfg.max_rows, seed=recipe["seed"], columns=columns)


def _holdout_dataset(rows: Any, n: int, seed: int) -> tuple[Any, Any]:
    """``(training rows, n held-out rows)`` of a ``datasets.Dataset`` (the draw of :func:`train.data.holdout_mask`)."""
    import numpy as np

    from train.data import holdout_mask

    if n == 0:
        return rows, None
    held = holdout_mask(rows.num_rows, n, seed)
    return rows.select(np.flatnonzero(~held)), rows.select(np.flatnonzero(held))


def _evaluator_config(cfg: FitConfig, labels: Any) -> FitConfig:
    """A label run with ``--holdout`` and no ``--eval-data`` evaluates on its held-out queries of the labelled split."""
    from dataclasses import replace

    if labels is None or labels.dev_query_ids is None or cfg.eval_data not in ("", "none"):
        return cfg
    return replace(cfg, eval_data=cfg.labels, eval_split=cfg.split, eval_query_ids=str(labels.dev_query_ids))


def _make_loss(student: Any, loss_name: str, labels: Any) -> tuple[Any, str]:
    """The sentence-transformers loss and its description."""
    if loss_name == "mse":
        from sentence_transformers.cross_encoder.losses import MSELoss

        return MSELoss(student), "MSELoss (raw teacher scores)"
    from train.labels import make_label_loss

    return make_label_loss(student, loss_name, labels.mined)


def _test_evaluation(cfg: FitConfig, recipe: dict[str, Any], labels: Any, student: Any, show_progress: bool) -> dict[str, Any]:
    """NDCG@10 on ``cfg.test_split``: the first stage, the starting model and the trained one reranking the same
    candidates (the first stages of the mining, interleaved, top ``cfg.test_depth``; see :func:`train.evaluate.split_candidates`)."""
    import transformers

    from train.data import load_beir_spec
    from train.evaluate import cross_encoder_scorer, evaluate_scorers, split_candidates

    test = load_beir_spec(cfg.labels, cfg.test_split)
    stages = list(labels.info["mining"]["first_stages"])
    cands, cands_sha = split_candidates(test, stages, cfg.test_depth, Path(cfg.out) / f"{cfg.test_split}_candidates_{cfg.test_depth}.parquet", show_progress)
    transformers.set_seed(recipe["seed"])
    base = build_student(recipe["backbone"], recipe["size"], cfg.max_length)
    scores = evaluate_scorers(
        test, cands, {"base": cross_encoder_scorer(base, show_progress=show_progress),
                      "trained": cross_encoder_scorer(student, show_progress=show_progress)},
    )  # fmt: skip
    return {
        "split": cfg.test_split, "queries": len(test.queries), "pairs": cands.num_rows, "depth": cfg.test_depth,
        "first_stages": stages, "candidates_sha256": cands_sha, "ndcg@10": scores,
        "beats_first_stage": scores["trained"] > scores["first_stage"],
    }  # fmt: skip


def _dry_run(cfg: FitConfig, recipe: dict[str, Any], loss_name: str, out: Path, show_progress: bool) -> dict[str, Any]:
    """Load (and for ``--labels``, mine) the training rows the run would use, and describe them; no model is built."""
    labels = _label_data(cfg, recipe, loss_name, out, show_progress) if cfg.labels else None
    path = str(labels.train_file) if labels else cfg.train
    rows = _load_rows(cfg, recipe, path, loss_name)
    rows, eval_rows = _holdout_dataset(rows, cfg.eval_rows, recipe["seed"])
    return {
        "dry_run": True, "rows": rows.num_rows, "eval_rows": 0 if eval_rows is None else eval_rows.num_rows,
        "columns": rows.column_names, "memory_mapped": bool(rows.cache_files), "loss": loss_name,
    }  # fmt: skip


def _previous_runs(previous: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The earlier runs this one extends (their step count, recipe and final evaluation), oldest first."""
    if previous is None:
        return []
    return [*previous.get("previous_runs", []), {k: previous.get(k) for k in ("global_step", "recipe", "final_eval")}]


def _checkpoint_step(folder: Path) -> int:
    return int(_CHECKPOINT.match(folder.name).group(1))


def _finish_from_last_checkpoint(trainer: Any, checkpoint: Path) -> Any:
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


def _trainer_outcome(trainer: Any, result: Any) -> dict[str, Any]:
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


def _drop_unused_pooler(model) -> None:
    """Remove a BERT-style pooler: the Ettin head pools the CLS token itself, so the pooler never gets a gradient, and
    DDP (which runs with ``find_unused_parameters=False``) requires every parameter to take part."""
    inner = getattr(model, "transformers_model", None) or getattr(model[0], "auto_model", None)
    if inner is not None and getattr(inner, "pooler", None) is not None:
        inner.pooler = None
