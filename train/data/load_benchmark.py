"""``python -m train data load-benchmark``: the peak RSS of ``fit``'s data loading on synthetic tables of growing size."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ettin.cli import verb
from train.tables import TrainDataError

__all__ = ["write_synthetic_rows", "peak_rss_of", "benchmark_report"]

# The two loaders compared: the memory-mapped one `fit` uses, and the whole-table read it replaced (the baseline).
_LOADERS = {
    "fit (datasets, memory-mapped)": "from train.rows import load_training_table; d = load_training_table({path!r}); print(d.num_rows)",
    "whole table (baseline)": (
        "import datasets; from train.tables import read_table; "
        "t = read_table({path!r}).select(['query', 'document', 'score']); d = datasets.Dataset(t); print(d.num_rows)"
    ),
}


def write_synthetic_rows(path: Path, rows: int, seed: int = 12, batch: int = 100_000) -> Path:
    """Write ``rows`` synthetic ``query, document, score`` rows to Parquet, ``batch`` rows per row group.

    Queries (~60 characters) and documents (~400) are slices at random offsets of one text of random words, so they are
    cheap to make and compress about like prose.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    text = " ".join(f"w{i}" for i in rng.integers(50_000, size=400_000))
    schema = pa.schema([("query", pa.string()), ("document", pa.string()), ("score", pa.float32())])
    path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, batch):
            n = min(batch, rows - start)
            q_at, d_at = rng.integers(len(text) - 500, size=(2, n)).tolist()
            writer.write_table(pa.table({
                "query": [text[i : i + 60] for i in q_at],
                "document": [text[i : i + 400] for i in d_at],
                "score": rng.normal(size=n).astype(np.float32),
            }, schema=schema))  # fmt: skip
    return path


def peak_rss_of(code: str, env: dict[str, str]) -> tuple[int, float, str]:
    """Run ``python -c code`` from the repository root; returns (its peak RSS in bytes, seconds, its stdout)."""
    import os
    import subprocess
    import sys
    import time

    root = Path(__file__).resolve().parents[2]
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=root, env=env, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise TrainDataError(f"the loading child failed (exit {proc.returncode}): {code}")
    return usage.ru_maxrss * 1024, time.perf_counter() - t0, out.strip()


def benchmark_report(sizes: Sequence[int], results: list[dict[str, Any]], load_start: Sequence[float]) -> dict[str, Any]:
    """The report ``data load-benchmark`` writes (committed run: ``eval/results/train/data-loading-benchmark.json``).

    The synthetic tables: query (~60 characters), document (~400), score; Parquet, 100,000-row row groups; each loader
    runs in a fresh process with an empty ``datasets`` cache (the conversion included).

    Args:
        sizes: The table sizes, in rows.
        results: One record per (loader, size): ``loader, rows, rows_loaded, peak_rss_bytes, seconds, file_bytes``.
        load_start: The machine's 1/5/15-minute load average at the start.
    """
    import os

    from ettin.provenance import base_provenance

    ratios = {}
    for loader in _LOADERS:
        mine = sorted((r for r in results if r["loader"] == loader), key=lambda r: r["rows"])
        if len(mine) >= 2:
            ratios[loader] = round(mine[-1]["peak_rss_bytes"] / mine[0]["peak_rss_bytes"], 3)
    return {
        "kind": "train data loading benchmark",
        "command": "python -m train data load-benchmark " + " ".join(f"--rows {r}" for r in sizes),
        "results": results,
        "peak_rss_ratio_largest_over_smallest": ratios,
        "machine_load_1_5_15min": {"start": [round(x, 2) for x in load_start], "end": [round(x, 2) for x in os.getloadavg()]},
        "provenance": base_provenance(),
    }


def _benchmark_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rows", type=int, action="append", help="table sizes (default: 500000 and 5000000)")
    p.add_argument("--work", required=True, help="folder for the synthetic tables and each run's datasets cache")
    p.add_argument("--out", help="JSON report (default: <work>/load_benchmark.json)")
    p.add_argument("--skip-baseline", action="store_true", help="measure only the memory-mapped loader")


@verb(
    "data load-benchmark",
    help="peak RSS of `fit`'s data loading on synthetic tables of growing size, with the whole-table read as baseline",
    arguments=_benchmark_arguments,
)
def load_benchmark_command(args: argparse.Namespace) -> int:
    """``python -m train data load-benchmark``: one fresh process per (loader, size); prints a table, writes JSON."""
    import os
    import shutil

    from ettin.io import write_json_atomic

    sizes = args.rows or [500_000, 5_000_000]
    work = Path(args.work)
    load_start = os.getloadavg()
    results = []
    for rows in sizes:
        table = work / f"synthetic_{rows}.parquet"
        if not table.is_file():
            write_synthetic_rows(table, rows)
        for loader, template in _LOADERS.items():
            if args.skip_baseline and "baseline" in loader:
                continue
            cache = work / "cache"
            shutil.rmtree(cache, ignore_errors=True)  # every run converts from scratch (the worst case)
            env = {**os.environ, "ETTIN_CACHE": str(cache), "HF_DATASETS_CACHE": str(cache / "hf")}
            rss, seconds, printed = peak_rss_of(template.format(path=str(table)), env)
            results.append({"loader": loader, "rows": rows, "rows_loaded": int(printed.splitlines()[-1]),
                            "peak_rss_bytes": rss, "seconds": round(seconds, 1),
                            "file_bytes": table.stat().st_size})  # fmt: skip
            print(f"{loader:32s} {rows:>10,} rows  peak RSS {rss / 2**20:8.0f} MiB  {seconds:6.1f} s", flush=True)
    report = benchmark_report(sizes, results, load_start)
    ratios = report["peak_rss_ratio_largest_over_smallest"]
    print("\npeak RSS, largest / smallest table: " + ", ".join(f"{k}: {v}x" for k, v in ratios.items()))
    write_json_atomic(Path(args.out) if args.out else work / "load_benchmark.json", report)
    return 0
