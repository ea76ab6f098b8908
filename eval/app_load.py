"""Measure the app as a user meets it: cold start to first HTTP 200, warm search latency, and concurrent searches.

``python -m eval.app_load --models-dir models [--reranker 17m] [--embedder sentence-transformers/all-MiniLM-L6-v2]``

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
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = "Bundled SciFact sample"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentile(values: list[float], q: float) -> float:
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
    """Samples a process's RSS (with children) every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.2):
        super().__init__(daemon=True)
        import psutil

        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()

    def rss(self) -> int:
        return int(self.proc.memory_info().rss)

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.rss())
            except Exception:  # noqa: BLE001 - the process may be gone
                return
            time.sleep(self.interval)

    def stop(self) -> None:
        self._stop.set()


def measure(args: argparse.Namespace) -> dict:
    from gradio_client import Client

    port = _free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}
    cmd = [sys.executable, "app.py", "--port", str(port), "--models-dir", args.models_dir]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        cold = None
        while time.perf_counter() - t0 < 120:
            try:
                with urllib.request.urlopen(url + "/", timeout=2) as r:
                    if r.status == 200:
                        cold = time.perf_counter() - t0
                        break
            except OSError:
                time.sleep(0.05)
        if cold is None:
            raise RuntimeError("the app did not answer within 120 s")
        sampler = MemorySampler(proc.pid)
        rss_start = sampler.rss()

        def search(client: Client, query: str) -> float:
            t = time.perf_counter()
            client.predict(query, SAMPLE, args.embedder, args.reranker, args.k, args.top_n, api_name="/search")
            return time.perf_counter() - t

        client = Client(url, verbose=False)
        queries = _queries(args.queries + 1)
        first = search(client, queries[0])  # loads models, embeds the sample corpus (cached on disk afterwards)
        warm = [search(client, q) for q in queries[1:]]
        rss_warm = sampler.rss()

        sampler.start()
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
        sampler.stop()
        ok = [t for t in times if t is not None]
        rss_end = sampler.rss()
        from ettin.provenance import base_provenance

        return {
            "provenance": {**base_provenance(), "command": " ".join(["python", "-m", "eval.app_load", *sys.argv[1:]])},
            "settings": {"embedder": args.embedder, "reranker": args.reranker, "k": args.k, "top_n": args.top_n,
                         "corpus": SAMPLE},
            "cold_start_to_http_200_s": round(cold, 2),
            "first_search_s": round(first, 2),
            "warm_search": {"n": len(warm), "p50_s": round(statistics.median(warm), 3), "p95_s": round(_percentile(warm, 0.95), 3),
                            "max_s": round(max(warm), 3)},
            "concurrent": {"clients": args.concurrent, "succeeded": len(ok), "failures": failures[:5],
                           "p50_s": round(_percentile(ok, 0.5), 3), "p95_s": round(_percentile(ok, 0.95), 3),
                           "wall_s": round(wall_all, 2)},
            "memory_rss_mb": {"after_start": round(rss_start / 2**20), "after_warm": round(rss_warm / 2**20),
                              "peak_during_concurrent": round(sampler.peak / 2**20), "after_concurrent": round(rss_end / 2**20)},
        }
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m eval.app_load", description=__doc__.split("\n\n")[0])
    p.add_argument("--models-dir", default="models", help="folder with the reranker sub-folder (e.g. replicas)")
    p.add_argument("--reranker", default="17m")
    p.add_argument("--embedder", default="sentence-transformers/all-MiniLM-L6-v2")
    p.add_argument("--k", type=int, default=30)
    p.add_argument("--top-n", type=int, default=10)
    p.add_argument("--queries", type=int, default=20)
    p.add_argument("--concurrent", type=int, default=20)
    p.add_argument("--out", default=None, help="also write the JSON here")
    args = p.parse_args(argv)
    result = measure(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        from ettin.io import atomic_open

        with atomic_open(args.out) as f:
            f.write(text + "\n")
    return 0 if result["concurrent"]["succeeded"] == args.concurrent else 1


if __name__ == "__main__":
    sys.exit(main())
