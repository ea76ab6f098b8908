"""``python -m demo cold-start [--out eval/results/app/cold-start.json]``: how soon the app answers, and how soon it
reranks fast, from an empty cache and from a warm one, with torch alone as the baseline in the same run.

Starts ``python app.py`` (the offline default: the reranker trained here, its fused system first) three times, one
after the other, each on a free port of 127.0.0.1 with ``$ETTIN_CACHE`` set to a folder of this run's own:

1. ``--backend torch`` over an empty cache: the baseline (nothing is built);
2. ``--backend auto`` over an empty cache: the exports are built, judged and swapped in in the background;
3. ``--backend auto`` again over the cache the second start filled: the chosen export is opened, not rebuilt.

Each start reports the seconds to the first HTTP 200, the first search on the bundled sample through the Search tab's
API (what the first visitor waits), the seconds until ``POST /rerank`` reports a backend other than torch (polled every
``--poll`` seconds; none when the gate kept torch), and the median ``POST /rerank`` latency of ``--docs`` SciFact
abstracts once settled, with its ratio to the baseline's. Prints a table and writes JSON with provenance; timings
depend on the machine and its load, which the file records.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from typing import Any

from demo.texts import SAMPLE
from demo.tools.server import publish, running_app
from ettin.cli import verb

__all__ = ["cold_start", "measure_cold_start"]

PHASES = (("torch, empty cache", "torch", True), ("auto, empty cache", "auto", True), ("auto, warm cache", "auto", False))


def _rerank_once(http, body: dict[str, Any]) -> tuple[float, str]:
    """One ``POST /rerank``: (seconds, the runtime it reports)."""
    t0 = time.perf_counter()
    response = http.post("/rerank", json=body)
    seconds = time.perf_counter() - t0
    response.raise_for_status()
    return seconds, str(response.json().get("runtime", "?"))


def _wait_for_backend(http, body: dict[str, Any], t_start: float, timeout: float, poll: float) -> tuple[float | None, str]:
    """Poll ``/rerank`` until it reports a backend, or the build kept torch, or ``timeout``: (seconds since the app
    started, or ``None``; the last runtime reported)."""
    runtime = "?"
    while time.perf_counter() - t_start < timeout:
        _, runtime = _rerank_once(http, body)
        if not runtime.startswith("torch"):
            return time.perf_counter() - t_start, runtime
        if runtime.startswith("torch (kept"):
            return None, runtime
        time.sleep(poll)
    return None, runtime


def _search_reranker(args: argparse.Namespace) -> str:
    """``--search-reranker``, or the first reranker the app offers offline (the shipped one's better system on dev)."""
    if args.search_reranker:
        return args.search_reranker
    from demo.sources.choices import discover_rerankers

    from ettin.errors import UserError

    offered = discover_rerankers(None, include_hub=False, include_trained=True)
    if not offered:
        raise UserError("no reranker is offered offline here: pass --search-reranker with one the app lists")
    return offered[0].key


def _one_start(args: argparse.Namespace, backend: str, cache: str, body: dict[str, Any], reranker: str) -> dict[str, Any]:
    import httpx
    from gradio_client import Client

    from demo.tools.load import _queries

    env = {"ETTIN_CACHE": cache, "TORCHINDUCTOR_CACHE_DIR": os.path.join(cache, "inductor")}
    t_start = time.perf_counter()
    with running_app(["--backend", backend, "--compile", "off"], timeout=300, env=env) as app:
        client = Client(app.url, verbose=False)
        t0 = time.perf_counter()
        client.predict(query=_queries(1)[0], mode=SAMPLE, embedder=args.embedder, reranker=reranker, k=30,
                       top_n=10, api_name="/search")  # fmt: skip
        first_search = time.perf_counter() - t0
        with httpx.Client(base_url=app.url, timeout=600) as http:
            swapped, runtime = _wait_for_backend(http, body, t_start, args.timeout, args.poll) if backend != "torch" \
                else (None, "torch")  # fmt: skip
            _rerank_once(http, body)  # one warm call on what it settled on
            times = [_rerank_once(http, body)[0] for _ in range(args.requests)]
    return {"cold_start_to_http_200_s": round(app.cold_start_s, 2), "first_search_sample_s": round(first_search, 2),
            "backend_swapped_in_after_s": None if swapped is None else round(swapped, 1), "runtime": runtime,
            "rerank_p50_ms": round(statistics.median(times) * 1000, 1), "requests": len(times)}  # fmt: skip


def measure_cold_start(args: argparse.Namespace) -> dict[str, Any]:
    """The three starts the module docstring describes; a JSON-ready dict."""
    from demo.tools.load import _api_documents, _queries
    from ettin.provenance import base_provenance, package_versions

    load_at_start = os.getloadavg()
    search_reranker = _search_reranker(args)
    body = {"model": args.rerank_model, "query": _queries(1)[0], "documents": _api_documents(args.docs), "top_n": 5}
    phases = {}
    with tempfile.TemporaryDirectory(prefix="ettin-cold-baseline-") as baseline, \
            tempfile.TemporaryDirectory(prefix="ettin-cold-cache-") as shared:  # fmt: skip
        for name, backend, _ in PHASES:
            phases[name] = _one_start(args, backend, baseline if backend == "torch" else shared, body, search_reranker)
            print(f"{name}: {phases[name]}", file=sys.stderr)
    base = phases[PHASES[0][0]]["rerank_p50_ms"]
    for row in phases.values():
        row["rerank_speedup_vs_torch"] = round(base / row["rerank_p50_ms"], 2)
    return {
        "schema": "ettin.cold-start/1",
        "provenance": {**base_provenance(), "packages": package_versions(("onnxruntime", "openvino", "nncf", "torch")),
                       "command": " ".join(["python", "-m", "demo", *sys.argv[1:]]),
                       "load_average_1_5_15min": {"start": [round(x, 2) for x in load_at_start],
                                                  "end": [round(x, 2) for x in os.getloadavg()]}},
        "settings": {"search_reranker": search_reranker, "rerank_model": args.rerank_model, "docs": args.docs,
                     "embedder": args.embedder, "compile": "off"},
        "phases": phases,
    }  # fmt: skip


def cold_start_table(result: dict[str, Any]) -> str:
    """The three starts as a Markdown table."""
    rows = ["| start | HTTP 200 s | first search s | backend swapped in after s | runtime | rerank p50 ms | vs torch |",
            "|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, r in result["phases"].items():
        swapped = "—" if r["backend_swapped_in_after_s"] is None else r["backend_swapped_in_after_s"]
        rows.append(f"| {name} | {r['cold_start_to_http_200_s']} | {r['first_search_sample_s']} | {swapped} | "
                    f"{r['runtime'][:60]} | {r['rerank_p50_ms']} | {r['rerank_speedup_vs_torch']}x |")  # fmt: skip
    return "\n".join(rows)


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--search-reranker", default=None,
                   help="the reranker the first search uses (default: the app's offline default, read from the shipped card)")  # fmt: skip
    p.add_argument("--rerank-model", default="minilm-scifact", help="the model POST /rerank scores with")
    p.add_argument("--embedder", default="sentence-transformers/all-MiniLM-L6-v2")
    p.add_argument("--docs", type=int, default=30, help="SciFact abstracts per /rerank request")
    p.add_argument("--requests", type=int, default=15, help="timed /rerank requests once settled")
    p.add_argument("--poll", type=float, default=2.0, help="seconds between /rerank polls while the backend builds")
    p.add_argument("--timeout", type=float, default=900, help="give up waiting for the backend after this many seconds")
    p.add_argument("--out", default="eval/results/app/cold-start.json", help="where the JSON is written")


@verb("cold-start", help="Measure the app's start: first HTTP 200, first search, backend swap; empty vs warm cache.",
      arguments=_arguments, description=__doc__)  # fmt: skip
def cold_start(args: argparse.Namespace) -> int:
    """Print the table, write the JSON to ``--out``."""
    result = measure_cold_start(args)
    publish(result, cold_start_table(result), args.out)
    return 0
