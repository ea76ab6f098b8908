"""Measure the app as a user meets it: cold start to first HTTP 200, warm search latency, and concurrent searches.

``python -m demo load --models-dir models [--reranker 17m] [--embedder sentence-transformers/all-MiniLM-L6-v2]``

Starts ``python app.py`` as a subprocess on a free port of 127.0.0.1 and drives it with ``gradio_client``:

1. cold start: seconds from process start to the first HTTP 200 on ``/``;
2. warm search: one search to warm up (loads the models, embeds the sample corpus once), then one search per query over
   ``--queries`` different SciFact test claims, one at a time; p50/p95 of the client-side wall time;
3. concurrency: ``--concurrent`` clients search at once (each its own session); all must succeed; p50/p95 wall time and
   the server's resident memory (sampled every 0.2 s) before, at peak and after.

Prints one JSON object (and writes it with ``--out``). Not a test: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from demo.server import running_app
from demo.texts import SAMPLE
from ettin.cli import verb

__all__ = ["MemorySampler", "load", "measure", "percentile"]


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` by linear interpolation (NaN when empty)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _queries(n: int) -> list[str]:
    from ettin.corpus import load_queries
    from ettin.paths import BUNDLED_SCIFACT

    return list(load_queries(BUNDLED_SCIFACT).values())[:n]


class MemorySampler(threading.Thread):
    """Samples a process's RSS every ``interval`` seconds and keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.2):
        super().__init__(daemon=True)
        import psutil

        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()

    def rss(self) -> int:
        """Resident memory now, in bytes."""
        return int(self.proc.memory_info().rss)

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.rss())
            except Exception:  # noqa: BLE001 - the process may be gone
                return
            time.sleep(self.interval)

    def stop(self) -> None:
        """End the sampling loop."""
        self._stop.set()


def _concurrent(url: str, args: argparse.Namespace, queries: list[str], search) -> dict[str, Any]:
    """``args.concurrent`` clients search at once; their timings and failures."""
    from gradio_client import Client

    clients = [Client(url, verbose=False) for _ in range(args.concurrent)]
    conc_queries = (queries * (args.concurrent // len(queries) + 1))[: args.concurrent]
    failures: list[str] = []

    def one(i: int) -> float | None:
        try:
            return search(clients[i], conc_queries[i])
        except Exception as exc:  # noqa: BLE001 - counted
            failures.append(f"{type(exc).__name__}: {exc}")
            return None

    t_all = time.perf_counter()
    with ThreadPoolExecutor(args.concurrent) as pool:
        times = list(pool.map(one, range(args.concurrent)))
    wall_all = time.perf_counter() - t_all
    ok = [t for t in times if t is not None]
    return {"clients": args.concurrent, "succeeded": len(ok), "failures": failures[:5],
            "p50_s": round(percentile(ok, 0.5), 3), "p95_s": round(percentile(ok, 0.95), 3), "wall_s": round(wall_all, 2)}


def measure(args: argparse.Namespace) -> dict:
    """Start the app, measure it as the module docstring describes, stop it; the result as a JSON-ready dict."""
    from gradio_client import Client

    from ettin.provenance import base_provenance

    def search(client: Client, query: str) -> float:
        t = time.perf_counter()
        client.predict(query, SAMPLE, args.embedder, args.reranker, args.k, args.top_n, api_name="/search")
        return time.perf_counter() - t

    load_at_start = os.getloadavg()
    with running_app(["--models-dir", args.models_dir]) as app:
        sampler = MemorySampler(app.process.pid)
        rss_start = sampler.rss()
        client = Client(app.url, verbose=False)
        queries = _queries(args.queries + 1)
        first = search(client, queries[0])  # loads models, embeds the sample corpus (cached on disk afterwards)
        warm = [search(client, q) for q in queries[1:]]
        rss_warm = sampler.rss()
        sampler.start()
        concurrent = _concurrent(app.url, args, queries, search)
        sampler.stop()
        rss_end = sampler.rss()
    return {
        "provenance": {**base_provenance(), "command": " ".join(["python", "-m", "demo", *sys.argv[1:]]),
                       "load_average_1_5_15min": {"start": [round(x, 2) for x in load_at_start],
                                                  "end": [round(x, 2) for x in os.getloadavg()]}},
        "settings": {"embedder": args.embedder, "reranker": args.reranker, "k": args.k, "top_n": args.top_n,
                     "corpus": SAMPLE},
        "cold_start_to_http_200_s": round(app.cold_start_s, 2),
        "first_search_s": round(first, 2),
        "warm_search": {"n": len(warm), "p50_s": round(statistics.median(warm), 3), "p95_s": round(percentile(warm, 0.95), 3),
                        "max_s": round(max(warm), 3)},
        "concurrent": concurrent,
        "memory_rss_mb": {"after_start": round(rss_start / 2**20), "after_warm": round(rss_warm / 2**20),
                          "peak_during_concurrent": round(sampler.peak / 2**20), "after_concurrent": round(rss_end / 2**20)},
    }


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models-dir", default="models", help="folder with the reranker sub-folder (e.g. replicas)")
    p.add_argument("--reranker", default="17m")
    p.add_argument("--embedder", default="sentence-transformers/all-MiniLM-L6-v2")
    p.add_argument("--k", type=int, default=30)
    p.add_argument("--top-n", type=int, default=10)
    p.add_argument("--queries", type=int, default=20)
    p.add_argument("--concurrent", type=int, default=20)
    p.add_argument("--out", default=None, help="also write the JSON here")


@verb("load", help=__doc__.split("\n\n")[0], arguments=_arguments, description=__doc__)
def load(args: argparse.Namespace) -> int:
    """Print (and with ``--out`` write) the measurements; exit 1 unless every concurrent search succeeded."""
    result = measure(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        from ettin.io import atomic_open

        with atomic_open(args.out) as f:
            f.write(text + "\n")
    return 0 if result["concurrent"]["succeeded"] == args.concurrent else 1
