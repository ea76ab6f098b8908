"""Measure the app as a user meets it: start, first search, warm searches, fair sharing and concurrency.

``python -m demo load --models-dir models [--reranker 17m] [--embedder sentence-transformers/all-MiniLM-L6-v2]``

Starts ``python app.py`` as a subprocess on a free port of 127.0.0.1 and drives its API with ``gradio_client``, each
client its own browser session:

1. cold start: seconds from process start to the first HTTP 200 on ``/`` (with ``--compile`` auto or on the app runs
   with ``--warm-up-first``, so this includes loading the start-up models and compiling the reranker with a fresh
   inductor cache; with ``--compile off`` it serves at once, as ``python app.py`` does);
2. first search: the bundled sample, right after that first 200 (what the first visitor waits: with
   ``--compile off``, the start-up models' loading);
3. warm search over the whole SciFact corpus (5,183 abstracts) at each ``--k``: one search to load it, then one per
   query over ``--queries`` SciFact test claims, one at a time; p50/p95 of the client-side wall time;
4. fair sharing (``--fair-docs`` > 0): two sessions each upload a corpus of that many documents and search it with the
   embedder (so both need their corpus embedded: the app runs with an empty ``$ETTIN_CACHE`` of its own) while a third session runs BM25 searches over the sample: the third's
   latencies, and how the two uploads ended;
5. concurrency: ``--concurrent`` clients search the sample at once; all must succeed; p50/p95 and the server's resident
   memory (sampled every 0.2 s) before, at peak and after.

Prints one JSON object (and writes it with ``--out``). Not a test: timings depend on the machine and its load, which the
file records (load average at start and end).

``python -m demo load-api [--model minilm-scifact] [--out eval/results/app/rerank-api-load.json]`` measures the rerank
API the same way (:func:`measure_rerank_api`): the app started as above, then ``POST /v2/rerank`` with 30 and 100
SciFact abstracts through the ``cohere`` SDK (``ClientV2``) and through plain HTTP (httpx, the same body), interleaved
one request at a time: p50 and p99 of the client-side latency; then ``--concurrent`` clients of each kind at once:
requests/s. Prints a table and writes JSON with provenance (model, random_init, hardware, load, date, versions).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from demo.texts import FULL_SCIFACT, MINE, SAMPLE
from demo.tools.server import running_app
from ettin.cli import verb
from ettin.errors import UserError
from ettin.runtime.compiled import COMPILE_MODES

__all__ = ["MemorySampler", "load", "load_api", "measure", "measure_rerank_api", "percentile"]


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


def _search(client, query: str, mode: str, embedder: str, reranker: str, k: int, top_n: int) -> float:
    """One search through the app's API; its client-side wall time in seconds."""
    t = time.perf_counter()
    client.predict(query=query, mode=mode, embedder=embedder, reranker=reranker, k=k, top_n=top_n, api_name="/search")
    return time.perf_counter() - t


def _latencies(times: list[float]) -> dict[str, Any]:
    return {"n": len(times), "p50_s": round(statistics.median(times), 3), "p95_s": round(percentile(times, 0.95), 3),
            "max_s": round(max(times), 3)}  # fmt: skip


def _warm_full_scifact(client, args: argparse.Namespace, queries: list[str]) -> dict[str, Any]:
    """Per K: one search that loads the full corpus's first stage, then one per query."""
    out = {}
    for k in args.k:
        first = _search(client, queries[0], FULL_SCIFACT, args.embedder, args.reranker, k, args.top_n)
        warm = [_search(client, q, FULL_SCIFACT, args.embedder, args.reranker, k, args.top_n) for q in queries[1:]]
        out[f"k{k}"] = {"first_s": round(first, 3), **_latencies(warm)}
    return out


def _upload_file(folder: Path, n_docs: int, seed: int) -> Path:
    """A JSONL file of ``n_docs`` real SciFact abstracts (a seeded shuffle, so the two uploads differ)."""
    import random

    from ettin.corpus import scifact

    corpus = scifact("test").corpus
    rows = random.Random(seed).sample(range(len(corpus)), min(n_docs, len(corpus)))
    path = folder / f"upload-{seed}.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for i in rows:
            f.write(json.dumps({"id": f"u{seed}-{corpus.ids[i]}", "title": corpus.titles[i], "text": corpus.texts[i]}) + "\n")
    return path


def _fair_sharing(url: str, args: argparse.Namespace, queries: list[str]) -> dict[str, Any]:
    """Two sessions embed their uploads while a third searches with BM25; the third's latencies and the uploads' fates."""
    from gradio_client import Client, handle_file

    outcomes: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        uploads = [_upload_file(Path(tmp), args.fair_docs, seed) for seed in (1, 2)]

        def embed(i: int) -> None:
            client = Client(url, verbose=False)
            t = time.perf_counter()
            try:
                client.predict(pasted=None, upload=handle_file(str(uploads[i])), api_name="/load_documents")
                _search(client, queries[0], MINE, args.embedder, "none", 10, 5)
                outcomes[f"upload_{i + 1}"] = f"searched after {time.perf_counter() - t:.1f} s"
            except Exception as exc:  # noqa: BLE001 - an honest refusal (time budget) is an outcome, recorded
                outcomes[f"upload_{i + 1}"] = f"{type(exc).__name__} after {time.perf_counter() - t:.1f} s: {str(exc)[:300]}"

        threads = [threading.Thread(target=embed, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        time.sleep(args.fair_delay)  # let both uploads reach the embedding
        third = Client(url, verbose=False)
        bm25 = []
        while any(t.is_alive() for t in threads) and len(bm25) < args.queries:
            bm25.append(_search(third, queries[len(bm25) % len(queries)], SAMPLE, "bm25", args.reranker, 30, args.top_n))
        for t in threads:
            t.join()
    return {"documents_per_upload": args.fair_docs, "third_session_bm25": _latencies(bm25) if bm25 else None, **outcomes}


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
        return _search(client, query, SAMPLE, args.embedder, args.reranker, 30, args.top_n)

    load_at_start = os.getloadavg()
    queries = _queries(args.queries + 1)
    fresh_cache = tempfile.TemporaryDirectory(prefix="ettin-load-cache-")  # no corpus embedded by an earlier run
    env = {"ETTIN_CACHE": fresh_cache.name, "TORCHINDUCTOR_CACHE_DIR": os.path.join(fresh_cache.name, "inductor"),
           "ETTIN_COMPILE": args.compile}  # a first start: nothing embedded or compiled by an earlier run
    app_args = ["--models-dir", args.models_dir, *(["--warm-up-first"] if args.compile != "off" else [])]
    with fresh_cache, running_app(app_args, timeout=300, env=env) as app:
        sampler = MemorySampler(app.process.pid)
        rss_start = sampler.rss()
        client = Client(app.url, verbose=False)
        first = search(client, queries[0])
        warm = _warm_full_scifact(client, args, queries)
        rss_warm = sampler.rss()
        fair = _fair_sharing(app.url, args, queries) if args.fair_docs else None
        sampler.start()
        concurrent = _concurrent(app.url, args, queries, search)
        sampler.stop()
        rss_end = sampler.rss()
    return {
        "provenance": {**base_provenance(), "command": " ".join(["python", "-m", "demo", *sys.argv[1:]]),
                       "load_average_1_5_15min": {"start": [round(x, 2) for x in load_at_start],
                                                  "end": [round(x, 2) for x in os.getloadavg()]}},
        "settings": {"embedder": args.embedder, "reranker": args.reranker, "k": args.k, "top_n": args.top_n,
                     "precision": "auto (the app's default)", "compile": args.compile},
        "cold_start_to_http_200_s": round(app.cold_start_s, 2),
        "first_search_sample_s": round(first, 2),
        "warm_search_full_scifact": warm,
        "fair_sharing": fair,
        "concurrent_sample": concurrent,
        "memory_rss_mb": {"after_start": round(rss_start / 2**20), "after_warm": round(rss_warm / 2**20),
                          "peak_during_concurrent": round(sampler.peak / 2**20), "after_concurrent": round(rss_end / 2**20)},
    }  # fmt: skip


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models-dir", default="models", help="folder with the reranker sub-folder (e.g. replicas)")
    p.add_argument("--reranker", default="17m")
    p.add_argument("--embedder", default="sentence-transformers/all-MiniLM-L6-v2")
    p.add_argument("--k", type=int, nargs="+", default=[30, 100], help="first-stage depths of the warm searches")
    p.add_argument("--top-n", type=int, default=10)
    p.add_argument("--queries", type=int, default=20)
    p.add_argument("--concurrent", type=int, default=20)
    p.add_argument("--fair-docs", type=int, default=1000, help="documents per uploaded corpus in the fair-sharing run (0: skip)")
    p.add_argument("--fair-delay", type=float, default=3.0, help="seconds between the uploads and the third session's searches")
    p.add_argument("--compile", choices=COMPILE_MODES, default="auto",
                   help="the app's --compile (default auto, as python app.py runs)")
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
    return 0 if result["concurrent_sample"]["succeeded"] == args.concurrent else 1


# ---- python -m demo load-api: the rerank API through the Cohere SDK and plain HTTP ------------------------------------

API_PATH = "/v2/rerank"
API_PACKAGES = ("cohere", "httpx", "fastapi", "starlette", "uvicorn")


def _api_documents(n: int) -> list[str]:
    """The first ``n`` abstracts of the bundled SciFact corpus, ``title + " " + text`` (what the Search tab reranks)."""
    from ettin.corpus import scifact_corpus

    corpus = scifact_corpus()
    titles = corpus.titles or ("",) * len(corpus.texts)
    return [f"{t} {x}".strip() for t, x in zip(titles[:n], corpus.texts[:n])]


def _api_clients(url: str):
    """A ``cohere.ClientV2`` and an httpx client, both for ``url`` (no retries: a failure is counted, not hidden)."""
    import httpx

    try:
        import cohere
    except ImportError:
        raise UserError("load-api needs the cohere SDK: pip install -r requirements-test.txt") from None
    sdk = cohere.ClientV2(api_key=os.environ.get("ETTIN_API_KEY") or "unused", base_url=url, timeout=300)
    headers = {"Authorization": f"Bearer {os.environ.get('ETTIN_API_KEY') or 'unused'}"}
    return sdk, httpx.Client(base_url=url, timeout=300, headers=headers)


def _api_call(kind: str, clients, body: dict[str, Any]) -> float:
    """One rerank through the SDK or plain HTTP; its client-side wall time in seconds."""
    sdk, http = clients
    t = time.perf_counter()
    if kind == "cohere_sdk":
        sdk.rerank(**body, request_options={"max_retries": 0})
    else:
        http.post(API_PATH, json=body).raise_for_status()
    return time.perf_counter() - t


def _ms(times: list[float]) -> dict[str, Any]:
    return {"n": len(times), "p50_ms": round(percentile(times, 0.5) * 1000, 1),
            "p99_ms": round(percentile(times, 0.99) * 1000, 1), "mean_ms": round(statistics.fmean(times) * 1000, 1)}  # fmt: skip


def _api_latency(clients, body: dict[str, Any], requests: int) -> dict[str, Any]:
    """SDK and plain-HTTP requests interleaved one at a time (so drift in the machine's load hits both alike)."""
    times: dict[str, list[float]] = {"cohere_sdk": [], "http": []}
    for _ in range(requests):
        for kind, out in times.items():
            out.append(_api_call(kind, clients, body))
    return {kind: _ms(out) for kind, out in times.items()}


def _api_concurrent(url: str, kind: str, body: dict[str, Any], clients_n: int, per_client: int) -> dict[str, Any]:
    """``clients_n`` clients of one kind, each sending ``per_client`` requests back to back: requests/s over the wall."""
    clients = [_api_clients(url) for _ in range(clients_n)]
    failures: list[str] = []

    def one(i: int) -> list[float]:
        out = []
        for _ in range(per_client):
            try:
                out.append(_api_call(kind, clients[i], body))
            except Exception as exc:  # noqa: BLE001 - counted
                failures.append(f"{type(exc).__name__}: {str(exc)[:200]}")
        return out

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients_n) as pool:
        times = [t for out in pool.map(one, range(clients_n)) for t in out]
    wall = time.perf_counter() - t0
    return {"clients": clients_n, "requests": clients_n * per_client, "succeeded": len(times), "wall_s": round(wall, 2),
            "requests_per_s": round(len(times) / wall, 2), **_ms(times), "failures": failures[:5]}  # fmt: skip


def measure_rerank_api(args: argparse.Namespace) -> dict[str, Any]:
    """Start the app, measure its rerank API as the module docstring describes, stop it; a JSON-ready dict."""
    from ettin.provenance import base_provenance, package_versions

    load_at_start = os.getloadavg()
    docs = _api_documents(max(args.docs))
    app_args = ["--models-dir", args.models_dir] if args.models_dir else []
    query = _queries(1)[0]
    with running_app(app_args, timeout=600, env={"ETTIN_COMPILE": args.compile}) as app:
        clients = _api_clients(app.url)
        bodies = {n: {"model": args.model, "query": query, "documents": docs[:n], "top_n": args.top_n} for n in args.docs}
        # the app's own form says what scored (model, random_init, dtype); it loads the model too
        first = clients[1].post("/rerank", json=bodies[min(args.docs)])
        if first.status_code != 200:
            raise UserError(f"the app refused the first rerank ({first.status_code}): {first.text[:300]}")
        answered = first.json()
        for n in args.docs:  # one warm request per size and kind, not measured
            _api_latency(clients, bodies[n], 1)
        latency = {str(n): _api_latency(clients, bodies[n], args.requests) for n in args.docs}
        body = bodies[args.concurrent_docs if args.concurrent_docs in bodies else min(args.docs)]
        concurrent = {kind: _api_concurrent(app.url, kind, body, args.concurrent, args.per_client)
                      for kind in ("cohere_sdk", "http")}  # fmt: skip
    return {
        "schema": "ettin.rerank-api-load/1",
        "provenance": {**base_provenance(), "client_packages": package_versions(API_PACKAGES),
                       "command": " ".join(["python", "-m", "demo", *sys.argv[1:]]),
                       "load_average_1_5_15min": {"start": [round(x, 2) for x in load_at_start],
                                                  "end": [round(x, 2) for x in os.getloadavg()]}},
        "settings": {"path": API_PATH, "model": answered.get("model"), "random_init": answered.get("random_init"),
                     "precision": "auto (the app's default)", "dtype": answered.get("dtype"), "compile": args.compile, "top_n": args.top_n,
                     "documents": args.docs, "requests_per_size_and_client": args.requests,
                     "query": query, "documents_source": "the first SciFact corpus abstracts, title + text",
                     "cold_start_to_http_200_s": round(app.cold_start_s, 2)},
        "latency": latency,
        "concurrent": {"documents": len(body["documents"]), **concurrent},
    }  # fmt: skip


def api_table(result: dict[str, Any]) -> str:
    """The measurements as a Markdown table (latency per size and client; requests/s at the concurrency)."""
    rows = ["| documents | client | p50 ms | p99 ms | n |", "|---|---|---|---|---|"]
    for n, kinds in result["latency"].items():
        rows += [f"| {n} | {kind} | {m['p50_ms']} | {m['p99_ms']} | {m['n']} |" for kind, m in kinds.items()]
    conc = result["concurrent"]
    rows += ["", f"| {conc['documents']} documents, concurrent clients | client | requests/s | p50 ms | p99 ms | ok/sent |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for kind in ("cohere_sdk", "http"):
        c = conc[kind]
        rows.append(f"| {c['clients']} | {kind} | {c['requests_per_s']} | {c['p50_ms']} | {c['p99_ms']} | "
                    f"{c['succeeded']}/{c['requests']} |")  # fmt: skip
    return "\n".join(rows)


def _api_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models-dir", default=None, help="folder of local rerankers (default: none; the app's own offer)")
    p.add_argument("--model", default="minilm-scifact", help="the reranker key sent (default: the one trained here)")
    p.add_argument("--docs", type=int, nargs="+", default=[30, 100], help="documents per request, one run per size")
    p.add_argument("--requests", type=int, default=30, help="requests per size and client kind")
    p.add_argument("--top-n", type=int, default=10)
    p.add_argument("--concurrent", type=int, default=8, help="clients at once in the throughput run")
    p.add_argument("--per-client", type=int, default=5, help="requests each concurrent client sends")
    p.add_argument("--concurrent-docs", type=int, default=30, help="documents per request in the throughput run")
    p.add_argument("--compile", choices=COMPILE_MODES, default="off", help="the app's --compile (default off: no minutes-long compile first)")
    p.add_argument("--out", default="eval/results/app/rerank-api-load.json", help="where the JSON is written")


@verb("load-api", help="Measure the rerank API: Cohere SDK vs plain HTTP latency, and requests/s at 8 clients.",
      arguments=_api_arguments, description=__doc__)  # fmt: skip
def load_api(args: argparse.Namespace) -> int:
    """Print the table, write the JSON to ``--out``; exit 1 unless every concurrent request succeeded."""
    from demo.tools.server import publish

    result = measure_rerank_api(args)
    publish(result, api_table(result), args.out)
    ok = all(result["concurrent"][k]["succeeded"] == result["concurrent"][k]["requests"] for k in ("cohere_sdk", "http"))
    return 0 if ok else 1
