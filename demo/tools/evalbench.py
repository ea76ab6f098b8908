"""``python -m demo evaluate-bench [--out eval/results/app/evaluate-bench.json]``: the Evaluate tab against the CLI on
the same evaluation, same machine, same run — the bundled SciFact test split (300 queries), BM25 top-100 reranked by
the 17m replica (random weights: the speed is real, the scores are not).

Runs, one after the other, each over a fresh score cache of its own (so both score every pair):

1. the CLI: ``python -m eval retrieval --split test --first-stage bm25 --reranker MODELS/17m --top-k 100`` as a
   subprocess, its wall time from start to exit (interpreter start, model load and writing the results included);
2. the tab: ``python app.py --models-dir MODELS --backend torch`` started first, then ``/evaluate_preview`` and
   ``/evaluate`` through ``gradio_client`` as a visitor's browser calls them; the wall time of ``/evaluate`` from submit
   to its last answer (the queue, the worker process, its model load and the results files included).

Prints a table with the tab's time as a ratio of the CLI's and whether the two wrote the same results (every metric,
per-query value, interval and ranking), and writes JSON with provenance (load average at start and end).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from ettin.cli import verb

__all__ = ["evaluate_bench", "measure_evaluate_bench"]

COMPARED = ("metrics", "per_query", "intervals", "rankings", "n_queries", "random_init")


def _records_in(paths: list[tuple[str, bytes]]) -> dict[tuple[str, str | None], dict]:
    """(first stage, reranker) -> the ``ettin.retrieval/2`` record, of the JSON files given as (name, bytes)."""
    out = {}
    for name, data in paths:
        record = json.loads(data)
        if isinstance(record, dict) and record.get("schema", "").startswith("ettin.retrieval/"):
            out[(record["first_stage"], record["reranker"])] = record
    return out


def _folder_records(root: Path) -> dict[tuple[str, str | None], dict]:
    return _records_in([(p.name, p.read_bytes()) for p in root.rglob("*.json")])


def _zip_records(path: str) -> dict[tuple[str, str | None], dict]:
    with zipfile.ZipFile(path) as zf:
        return _records_in([(n, zf.read(n)) for n in zf.namelist() if n.endswith(".json")])


def _same_results(tab: dict, cli: dict) -> tuple[bool, list[str]]:
    """Whether the tab's records equal the CLI's in every compared field; the differences."""
    differences = [f"systems: tab {sorted(map(str, tab))}, CLI {sorted(map(str, cli))}"] if tab.keys() != cli.keys() else []
    for key in tab.keys() & cli.keys():
        differences += [f"{key}: {f}" for f in COMPARED if tab[key].get(f) != cli[key].get(f)]
    return not differences, differences


def _run_cli(args: argparse.Namespace, models: Path, work: Path) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "eval", "retrieval", "--split", "test", "--first-stage", args.first_stage,
           "--reranker", str(models / args.size), "--top-k", str(args.top_k), "--results-dir", str(work / "cli"),
           "--score-cache", str(work / "cli-scores.sqlite")]  # fmt: skip
    env = {**os.environ, "ETTIN_CACHE": str(work / "cli-cache")}
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)  # noqa: S603 - our own module
    return time.perf_counter() - t0, _folder_records(work / "cli")


def _run_tab(args: argparse.Namespace, models: Path, work: Path) -> tuple[float, dict, str]:
    from gradio_client import Client

    from demo.tabs.evaluate import BUNDLED
    from demo.tools.server import running_app

    app_args = ["--models-dir", str(models), "--backend", "torch", "--compile", "off"]
    with running_app(app_args, timeout=300, env={"ETTIN_CACHE": str(work / "app-cache")}) as app:
        client = Client(app.url, verbose=False)
        client.predict(BUNDLED, None, None, None, None, "test", api_name="/evaluate_preview")
        t0 = time.perf_counter()
        status, *_, zip_out, _csv, _command, _choice = client.predict(
            [args.first_stage], [args.size], args.top_k, 0, 0, api_name="/evaluate")
        seconds = time.perf_counter() - t0
    if not str(status).startswith("✅"):
        raise RuntimeError(f"the tab's evaluation did not finish: {status}")
    return seconds, _zip_records(zip_out), str(status)


def measure_evaluate_bench(args: argparse.Namespace) -> dict[str, Any]:
    """The two runs the module docstring describes; a JSON-ready dict."""
    from ettin.provenance import base_provenance, package_versions
    from ettin.replica import build_replica

    load_at_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ettin-evaluate-bench-") as tmp:
        work = Path(tmp)
        build_replica(args.size, work / "models" / args.size, seed=0)
        cli_s, cli = _run_cli(args, work / "models", work)
        print(f"CLI: {cli_s:.1f} s", file=sys.stderr)
        tab_s, tab, status = _run_tab(args, work / "models", work)
        print(f"tab: {tab_s:.1f} s", file=sys.stderr)
    same, differences = _same_results(tab, cli)
    reranked = cli.get((args.first_stage, args.size)) or next(iter(cli.values()))
    return {
        "schema": "ettin.evaluate-bench/1",
        "provenance": {**base_provenance(), "packages": package_versions(("torch", "gradio", "gradio_client")),
                       "command": " ".join(["python", "-m", "demo", *sys.argv[1:]]),
                       "load_average_1_5_15min": {"start": [round(x, 2) for x in load_at_start],
                                                  "end": [round(x, 2) for x in os.getloadavg()]}},
        "settings": {"dataset": "scifact (bundled)", "split": "test", "first_stage": args.first_stage,
                     "reranker": f"{args.size} replica (random weights, seed 0)", "random_init": True,
                     "top_k": args.top_k, "n_queries": reranked.get("n_queries")},
        "cli_s": round(cli_s, 2), "tab_s": round(tab_s, 2), "tab_over_cli": round(tab_s / cli_s, 3),
        "same_results": same, "differences": differences[:20], "tab_status": status[:300],
    }  # fmt: skip


def bench_table(result: dict[str, Any]) -> str:
    """The two runs as a Markdown table."""
    s = result["settings"]
    return "\n".join([
        f"{s['dataset']} {s['split']}, {s['n_queries']} queries, {s['first_stage']} top-{s['top_k']} → {s['reranker']}",
        "| run | wall s | vs CLI |", "|---|---|---|",
        f"| CLI (`python -m eval retrieval`) | {result['cli_s']} | 1.00x |",
        f"| Evaluate tab (`/evaluate`) | {result['tab_s']} | {result['tab_over_cli']:.2f}x the CLI's time |",
        f"same results: {'yes' if result['same_results'] else 'NO: ' + '; '.join(result['differences'])}",
    ])  # fmt: skip


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", default="17m", help="the replica size reranking")
    p.add_argument("--first-stage", default="bm25")
    p.add_argument("--top-k", type=int, default=100)
    p.add_argument("--out", default="eval/results/app/evaluate-bench.json", help="where the JSON is written")


@verb("evaluate-bench", help="Time the Evaluate tab against the CLI on full SciFact test (BM25 top-100, 17m).",
      arguments=_arguments, description=__doc__)  # fmt: skip
def evaluate_bench(args: argparse.Namespace) -> int:
    """Print the table, write the JSON to ``--out``."""
    from demo.tools.server import publish

    result = measure_evaluate_bench(args)
    publish(result, bench_table(result), args.out)
    return 0 if result["same_results"] else 1
