"""What a ``fit`` run depends on: :class:`FitConfig` (its fields are the ``python -m train fit`` flags) and the effective recipe.

The recipe's arguments come from the registry (per-size learning rate and global batch size) and from the published
``training_constants`` (1 epoch, warmup 3 %, eval/save every 5 %, keep 5, seed 12, bf16); each is overridable. Under
``torchrun --nproc_per_node N`` the same entry point runs data-parallel with a per-device batch of ``global // N``.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from typing import Any

from ettin.cli import add_dataclass_arguments, flag
from train.cli import quiet_argument
from train.tables import TrainDataError

__all__ = ["TRAIN_CONFIG", "FitConfig", "add_fit_arguments", "world", "resolve_recipe", "resolve_loss"]

TRAIN_CONFIG = "train_config.json"


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
    eval_split: str | None = field(
        default=None,
        metadata=flag(
            "split of a local BEIR evaluator (required with one; never 'test' nor --test-split: it picks the checkpoint)"
        ),
    )
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


def resolve_loss(cfg: FitConfig) -> str:
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
