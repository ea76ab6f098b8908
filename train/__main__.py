"""``python -m train data|score|fit|scifact`` — the distillation recipe's command line."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def _print_json(data: object) -> None:
    print(json.dumps(data, indent=2, default=str))


# --------------------------------------------------------------------------------------------------------------------
# data


def cmd_candidates(args: argparse.Namespace) -> None:
    from train.data import build_candidates, load_beir_spec
    from train.tables import write_manifest, write_parquet_atomic

    dataset = load_beir_spec(args.beir, args.split)
    qids = sorted(dataset.queries)
    if args.exclude_query_ids:
        from train.fit import read_query_ids

        drop = set(read_query_ids(args.exclude_query_ids))
        qids = [q for q in qids if q not in drop]
    if args.holdout:
        from train.selection import query_rng

        if args.holdout >= len(qids):
            raise_error(f"--holdout {args.holdout} leaves no training queries (the split has {len(qids)})")
        rng = query_rng(args.seed, "holdout")
        held = sorted(rng.choice(qids, size=args.holdout, replace=False).tolist())
        from ettin.io import write_json_atomic

        write_json_atomic(args.holdout_out or Path(args.out).with_suffix(".holdout.json"), held)
        qids = [q for q in qids if q not in set(held)]
    table = build_candidates(dataset, args.first_stage, depth=args.depth, query_ids=qids, show_progress=not args.quiet)
    write_parquet_atomic(table, args.out)
    write_manifest(
        args.out,
        {
            "kind": "candidates",
            "dataset": dataset.name,
            "split": args.split,
            "dataset_fingerprint": dataset.fingerprint,
            "first_stages": args.first_stage,
            "depth": args.depth,
            "queries": len(qids),
            "holdout": args.holdout,
            "seed": args.seed,
            "rows": table.num_rows,
        },
    )
    print(f"wrote {table.num_rows:,} candidates for {len(qids)} queries to {args.out}")


def cmd_select(args: argparse.Namespace) -> None:
    from train.data import select_rows
    from train.score import read_scored
    from train.selection import SelectionConfig
    from train.tables import fingerprint, read_table, write_manifest, write_parquet_atomic

    try:
        config = SelectionConfig(
            max_candidates=args.max_candidates,
            pool_size=args.pool_size,
            hard=args.hard,
            head=args.head,
            medium=args.medium,
            band_start=args.band_start,
            band_end=args.band_end,
        )
    except ValueError as exc:
        raise_error(str(exc))
    scored = read_scored(args.scored) if Path(args.scored).is_dir() and (Path(args.scored) / "manifest.json").is_file() else read_table(args.scored)
    pool, rows = select_rows(scored, config, seed=args.seed, source=args.source, show_progress=not args.quiet)
    write_parquet_atomic(rows, args.out)
    if args.pool_out:
        write_parquet_atomic(pool, args.pool_out)
    record = {
        "kind": "selection",
        "scored": args.scored,
        "scored_sha256": fingerprint(args.scored),
        "selection": config.as_dict(),
        "seed": args.seed,
        "source": args.source,
        "pool_rows": pool.num_rows,
        "rows": rows.num_rows,
        "queries": len(set(rows.column("query_id").to_pylist())),
    }
    write_manifest(args.out, record)
    print(f"selected {rows.num_rows:,} training rows ({pool.num_rows:,} in the pools) -> {args.out}")


def cmd_mix(args: argparse.Namespace) -> None:
    from train.data import SourceSpec, mix_sources
    from train.tables import write_manifest, write_parquet_atomic

    specs = [SourceSpec.parse(s) for s in args.source]
    table, counts = mix_sources(specs, seed=args.seed, shuffle=not args.no_shuffle)
    write_parquet_atomic(table, args.out)
    fps = {}
    for spec in specs:
        if not spec.location.startswith("hf:"):
            from train.tables import fingerprint

            fps[spec.name] = fingerprint(spec.location)
    write_manifest(
        args.out,
        {"kind": "mix", "sources": [s.__dict__ for s in specs], "rows_per_source": counts, "source_sha256": fps, "seed": args.seed},
    )
    print(f"mixed {table.num_rows:,} rows -> {args.out}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))


# --------------------------------------------------------------------------------------------------------------------
# score


def cmd_score(args: argparse.Namespace) -> None:
    from train.data import load_beir_spec
    from train.score import CosineTeacher, make_teacher, parse_shard, score_file

    shard = parse_shard(args.shard)
    teacher = make_teacher(args.teacher, cosine_scale=args.cosine_scale, batch_size=args.batch_size, precision=args.precision)
    if args.reuse_corpus_embeddings:
        if not isinstance(teacher, CosineTeacher):
            raise_error("--reuse-corpus-embeddings applies to cosine teachers only")
        teacher.prime_documents(load_beir_spec(args.reuse_corpus_embeddings, "test").corpus, show_progress=not args.quiet)
    summary = score_file(args.input, args.out, teacher, shard=shard, chunk_size=args.chunk_size, show_progress=not args.quiet)
    _print_json(summary)


# --------------------------------------------------------------------------------------------------------------------
# fit


def _fit_config(args: argparse.Namespace):
    from train.fit import FitConfig

    return FitConfig(
        train=args.train,
        out=args.out,
        size=args.size,
        backbone=args.backbone,
        max_length=args.max_length,
        learning_rate=args.lr,
        global_batch_size=args.global_batch_size,
        epochs=args.epochs,
        max_steps=args.max_steps,
        warmup=args.warmup,
        eval_steps=args.eval_steps,
        save_steps=args.save_steps,
        save_total_limit=args.save_total_limit,
        logging_steps=args.logging_steps,
        seed=args.seed,
        eval_data=args.eval_data,
        eval_split=args.eval_split,
        eval_first_stage=args.eval_first_stage,
        eval_top_k=args.eval_top_k,
        eval_max_queries=args.eval_max_queries,
        eval_query_ids=args.eval_query_ids,
        eval_batch_size=args.eval_batch_size,
        bf16=args.bf16,
        dataloader_workers=args.dataloader_workers,
        resume=args.resume,
        max_rows=args.max_rows,
    )


def cmd_fit(args: argparse.Namespace) -> None:
    from train.fit import fit

    summary = fit(_fit_config(args), show_progress=not args.quiet)
    if summary:
        _print_json({k: summary[k] for k in ("global_step", "train_loss", "best_checkpoint", "best_metric", "final_eval")})
        print(f"saved the student to {args.out}")


def cmd_scifact(args: argparse.Namespace) -> None:
    from train.scifact import run

    t0 = time.perf_counter()
    report = run(args)
    report["wall_s"] = round(time.perf_counter() - t0, 1)
    _print_json(report)


# --------------------------------------------------------------------------------------------------------------------


class CommandError(Exception):
    pass


def raise_error(message: str) -> None:
    raise CommandError(message)


def _steps_type(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive (a fraction below 1 = share of the run, else steps)")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m train", description="The Ettin distillation recipe.")
    sub = parser.add_subparsers(dest="command", required=True)

    # data ------------------------------------------------------------------------------------------------------
    data = sub.add_parser("data", help="assemble training data: candidates, selection, mixing")
    dsub = data.add_subparsers(dest="data_command", required=True)

    p = dsub.add_parser("candidates", help="first-stage candidates of a BEIR split (input of `score`)")
    p.add_argument("--beir", default="scifact", help="'scifact' (bundled) or a BEIR folder (default: scifact)")
    p.add_argument("--split", default="train", help="qrels split whose queries are used (default: train)")
    p.add_argument(
        "--first-stage", action="append", required=True,
        help="'bm25' or a dense embedder id/folder; repeat to merge several (interleaved by rank)",
    )
    p.add_argument("--depth", type=int, default=2048, help="candidates kept per query (default: 2048)")
    p.add_argument("--holdout", type=int, default=0, help="hold out this many queries (seeded) as a dev set (default: 0)")
    p.add_argument("--holdout-out", help="where to write the held-out query ids (default: <out>.holdout.json)")
    p.add_argument("--exclude-query-ids", help="file of query ids (JSON list or one per line) to leave out")
    p.add_argument("--seed", type=int, default=12, help="seed of the hold-out draw (default: 12)")
    p.add_argument("--out", required=True, help="output Parquet file")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_candidates)

    p = dsub.add_parser("select", help="the recipe's selection: pool of 256 per query, then 64 training rows")
    p.add_argument("--scored", required=True, help="a `score` output folder, or a Parquet/JSONL file with a score column")
    p.add_argument("--out", required=True, help="output Parquet file of training rows")
    p.add_argument("--pool-out", help="also write the stage-1 pools here")
    p.add_argument("--max-candidates", type=int, default=2048, help="candidates considered per query (default: 2048)")
    p.add_argument("--pool-size", type=int, default=256, help="stage-1 pool size per query (default: 256)")
    p.add_argument("--hard", type=int, default=16, help="hardest negatives always in the pool (default: 16)")
    p.add_argument("--head", type=int, default=32, help="stage 2: top of the teacher-sorted pool (default: 32)")
    p.add_argument("--medium", type=int, default=32, help="stage 2: medium negatives from the band (default: 32)")
    p.add_argument("--band-start", type=int, default=64, help="stage 2 band start rank, 0-based (default: 64)")
    p.add_argument("--band-end", type=int, default=192, help="stage 2 band end rank, exclusive (default: 192)")
    p.add_argument("--seed", type=int, default=12, help="selection seed (default: 12)")
    p.add_argument("--source", default="rescored", help="value of the provenance column 'source' (default: rescored)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_select)

    p = dsub.add_parser("mix", help="mix sources (published set by name, local Parquet/JSONL) with per-source caps")
    p.add_argument(
        "--source", action="append", required=True,
        help="NAME=LOCATION[@CAP]; LOCATION = local file/folder or hf:DATASET[:CONFIG[:SPLIT]] "
        "(e.g. msmarco=hf:cross-encoder/ettin-reranker-v1-data:msmarco@100000); repeat",
    )
    p.add_argument("--out", required=True, help="output Parquet file (columns query, document, score, source)")
    p.add_argument("--seed", type=int, default=12, help="seed of capping and shuffling (default: 12)")
    p.add_argument("--no-shuffle", action="store_true", help="keep the sources in order")
    p.set_defaults(func=cmd_mix)

    # score -----------------------------------------------------------------------------------------------------
    p = sub.add_parser("score", help="score (query, document) rows with a teacher; resumable, shardable")
    p.add_argument("--input", required=True, help="Parquet/JSONL with query and document columns")
    p.add_argument("--out", required=True, help="output folder of Parquet parts (rerun the same command to resume)")
    p.add_argument(
        "--teacher", required=True,
        help="a CrossEncoder (Hub id or folder), or cosine:EMBEDDER / a registry embedder id for scaled cosine",
    )
    p.add_argument("--cosine-scale", type=float, default=20.0, help="multiplier of cosine teachers (default: 20)")
    p.add_argument("--shard", default="0/1", help="i/n: score the parts with index %% n == i (default: 0/1)")
    p.add_argument("--chunk-size", type=int, default=4096, help="rows per written part (default: 4096)")
    p.add_argument("--batch-size", type=int, default=32, help="teacher batch size (default: 32)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto", help="teacher precision (default: auto)")
    p.add_argument(
        "--reuse-corpus-embeddings", metavar="BEIR",
        help="cosine teacher: reuse the cached document embeddings of this corpus ('scifact' or a BEIR folder)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_score)

    # fit -------------------------------------------------------------------------------------------------------
    p = sub.add_parser("fit", help="train a student (CrossEncoderTrainer + MSELoss); works under torchrun")
    add_fit_arguments(p)
    p.set_defaults(func=cmd_fit)

    # scifact ---------------------------------------------------------------------------------------------------
    p = sub.add_parser("scifact", help="the offline proof run: SciFact train -> student, evaluated on SciFact test")
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
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_scifact)
    return parser


def add_fit_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--train", required=True, help="training rows: Parquet/JSONL with query, document, score")
    p.add_argument("--out", required=True, help="output folder (model, checkpoints/, train_config.json)")
    p.add_argument("--size", default="17m", help="Ettin size whose recipe (lr, batch, backbone) is used (default: 17m)")
    p.add_argument(
        "--backbone",
        help="encoder Hub id or folder (default: the size's jhu-clsp/ettin-encoder-*), a CrossEncoder folder to continue, "
        "or 'replica' (random Ettin replica of --size)",
    )
    p.add_argument("--max-length", type=int, default=512, help="max tokens per pair (default: 512)")
    p.add_argument("--lr", type=float, help="learning rate (default: the size's, from the registry)")
    p.add_argument("--global-batch-size", type=int, help="global batch (default: the size's); per device = global // WORLD_SIZE")
    p.add_argument("--epochs", type=float, help="epochs (default: 1)")
    p.add_argument("--max-steps", type=int, default=-1, help="stop after this many steps (default: the full epochs)")
    p.add_argument("--warmup", type=float, help="warmup: fraction of steps if < 1, else steps (default: 0.03)")
    p.add_argument("--eval-steps", type=_steps_type, help="eval every: fraction if < 1, else steps (default: 0.05)")
    p.add_argument("--save-steps", type=_steps_type, help="checkpoint every: fraction if < 1, else steps (default: 0.05)")
    p.add_argument("--save-total-limit", type=int, help="checkpoints kept (default: 5)")
    p.add_argument("--logging-steps", type=_steps_type, help="log every: fraction if < 1, else steps (default: 0.025)")
    p.add_argument("--seed", type=int, help="seed (default: 12)")
    p.add_argument(
        "--eval-data", default="none",
        help="in-training evaluator: 'nanobeir' (online, the recipe), 'scifact' or a BEIR folder (offline), 'none' (default)",
    )
    p.add_argument("--eval-split", default="test", help="split of a local BEIR evaluator (default: test)")
    p.add_argument("--eval-first-stage", default="bm25", help="first stage of a local evaluator (default: bm25)")
    p.add_argument("--eval-top-k", type=int, default=100, help="candidates reranked per query (default: 100)")
    p.add_argument("--eval-max-queries", type=int, help="evaluate on the first N queries only")
    p.add_argument("--eval-query-ids", help="file of query ids (JSON list or lines) the local evaluator uses")
    p.add_argument("--eval-batch-size", type=int, default=32, help="evaluator batch size (default: 32)")
    p.add_argument("--bf16", choices=("auto", "on", "off"), default="auto", help="bf16 training (auto: on a bf16 GPU only)")
    p.add_argument("--dataloader-workers", type=int, help="dataloader workers (default: recipe on GPU, 0 on CPU)")
    p.add_argument("--max-rows", type=int, help="use only the first N training rows")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in <out>/checkpoints")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ettin.corpus import DataFormatError
    from ettin.runtime import ModelLoadError
    from train.tables import TrainDataError

    try:
        args.func(args)
    except (CommandError, TrainDataError, DataFormatError, ModelLoadError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; rerun the same command (with --resume for fit) to continue", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
