"""The app, started once per test session on a free port of 127.0.0.1, with a 17m replica and a small results store."""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
import traceback
from pathlib import Path

import pytest

from demo.tools.server import free_port

PROJECT_THREADS = "ettin-"
"""The name every thread the app starts begins with (warm-up, leaderboard, evaluations, backend builds)."""
PROJECT_WORKERS = ("ettin.runtime.worker", "demo.evaluate.worker")
"""Child processes the app starts (a backend build, an evaluation)."""
LEFTOVER_GRACE_S = 60.0
"""How long a module's background work may take to end after its last test (a warm-up finishing its load)."""


def _project_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith(PROJECT_THREADS) and t.is_alive()}


def _project_workers() -> dict[int, str]:
    """This process's children that are project workers: pid -> the module it runs."""
    import psutil

    workers = {}
    for child in psutil.Process().children(recursive=True):
        try:
            found = [worker for worker in PROJECT_WORKERS if worker in child.cmdline()]
        except psutil.Error:
            continue
        if found:
            workers[child.pid] = found[0]
    return workers


def _where(thread: threading.Thread) -> str:
    frame = sys._current_frames().get(thread.ident)
    if frame is None:
        return ""
    top = traceback.extract_stack(frame)[-1]
    return f" at {Path(top.filename).name}:{top.lineno} {top.name}"


@pytest.fixture(scope="module", autouse=True)
def _no_background_work_left(request):
    """Fail a module that leaves the app's background work running: a project thread (``ettin-*``) or worker process
    still alive :data:`LEFTOVER_GRACE_S` after its last test. A backend build that test_compile's warm-up left behind
    ran beside the rates later modules timed at load, and past the session; whatever starts such work must stop it (an
    app's ``demo.close()``, a playground's ``close()``)."""
    threads_before, workers_before = _project_threads(), _project_workers()
    yield
    deadline = time.monotonic() + LEFTOVER_GRACE_S
    for thread in _project_threads() - threads_before:
        thread.join(max(0.0, deadline - time.monotonic()))
    while set(_project_workers()) - set(workers_before) and time.monotonic() < deadline:
        time.sleep(0.2)
    threads = [f"{t.name}{' (daemon)' if t.daemon else ''}{_where(t)}" for t in _project_threads() - threads_before]
    workers = [f"{module} (pid {pid})" for pid, module in _project_workers().items() if pid not in workers_before]
    if threads or workers:
        pytest.fail(f"{request.module.__name__} left background work running after its tests: "
                    f"{'; '.join(threads + workers)}", pytrace=False)  # fmt: skip


def _write_store(root: Path) -> Path:
    """Two regenerated retrieval results, one random-init result (to be refused) and one replica speed file."""
    prov = {
        "dataset": {"name": "scifact", "split": "test", "fingerprint": "f" * 16, "source": "bundled"},
        "protocol": {"top_k": 100, "max_length": 512, "dtype": "float32", "attn_implementation": "sdpa"},
        "packages": {"torch": "2.13.0"},
        "hardware": {"description": "Test CPU"},
        "date": "2026-11-27T12:00:00+00:00",
    }
    for reranker, ndcg, random_init in [(None, 0.66, False), ("cross-encoder/ettin-reranker-17m-v1", 0.70, False),
                                        ("models/17m", 0.01, True)]:
        slug = (reranker or "retriever-only").replace("/", "__")
        path = root / "retrieval" / "scifact" / "test" / "bm25" / f"{slug}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({
            "schema": "ettin.retrieval/1", "dataset": "scifact", "split": "test", "first_stage": "bm25",
            "reranker": reranker, "metrics": {"ndcg_at_10": ndcg, "mrr_at_10": ndcg, "map_at_10": ndcg,
                                              "recall_at_10": 0.8, "recall_at_100": 0.9},
            "n_queries": 300, "random_init": random_init, "provenance": prov,
        }))
    speed = root / "speed" / "test-cpu_20261127-120000.json"
    speed.parent.mkdir(parents=True)
    speed.write_text(json.dumps({
        "schema": "ettin.speed/1", "provenance": prov, "ceiling": {},
        "rows": [{"model": "models/17m", "size": "17m", "random_init": True, "runtime": "ettin", "config": "fp32-sdpa",
                  "pairs_per_s": 50.0, "batch_size": 32, "peak_memory_bytes": 1e8, "skipped": None}],
    }))
    return root


@pytest.fixture(scope="session")
def app_results(tmp_path_factory) -> Path:
    return _write_store(tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="session")
def app_url(replica_17m, app_results):
    """URL of the running app (BM25 selected at start so the first search needs no corpus embedding)."""
    import app

    demo = app.build_app(
        models_dir=replica_17m.parent, results_dir=app_results, include_hub=False, default_first_stage="bm25"
    )
    port = free_port()
    app.serve(demo, block=False, server_name="127.0.0.1", server_port=port, quiet=True, max_file_size="2mb")
    yield f"http://127.0.0.1:{port}"
    demo.close()


def failed_figures(output) -> list[str]:
    """The messages of the "could not be drawn" figures (:func:`eval.leaderboard.figures.safe`) in an API answer.

    gradio_client returns a plot as ``{"type": "plotly", "plot": <figure JSON>}``, alone or inside the answer's tuple.
    """
    from eval.leaderboard.figures import FAILED_FIGURE

    if isinstance(output, dict) and output.get("type") == "plotly" and isinstance(output.get("plot"), str):
        annotations = json.loads(output["plot"]).get("layout", {}).get("annotations", [])
        return [str(a.get("text")) for a in annotations if str(a.get("text", "")).startswith(FAILED_FIGURE)]
    if isinstance(output, dict):
        return [text for value in output.values() for text in failed_figures(value)]
    if isinstance(output, (list, tuple)):
        return [text for value in output for text in failed_figures(value)]
    return []


@pytest.fixture(name="failed_figures")
def _failed_figures():
    """:func:`failed_figures`, for tests."""
    return failed_figures


@pytest.fixture(scope="session")
def make_client():
    """``make_client(url)``: a gradio_client ``Client`` whose every answer is checked: no figure in it may be the
    "could not be drawn" figure (every figure is wrapped so that an exception becomes one, which would pass unseen)."""
    from gradio_client import Client

    class CheckedClient(Client):
        def predict(self, *args, **kwargs):
            out = super().predict(*args, **kwargs)
            failed = failed_figures(out)
            assert not failed, f"{kwargs.get('api_name')}: {len(failed)} figure(s) could not be drawn: {failed}"
            return out

    return lambda url: CheckedClient(url, verbose=False)


@pytest.fixture()
def client(app_url, make_client):
    return make_client(app_url)


CHROMIUM = os.environ.get("ETTIN_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _no_browser(reason: str) -> None:
    """Fail where a browser is required (``ETTIN_REQUIRE_BROWSER=1``, set by tests/run.sh and so CI), else skip."""
    if os.environ.get("ETTIN_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}; the browser tests are required here (ETTIN_REQUIRE_BROWSER=1)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by playwright (never ``playwright install``: it would download a browser)."""
    try:
        from playwright import sync_api
    except ImportError:
        _no_browser("playwright is not installed (pip install -r requirements-test.txt)")
    if not Path(CHROMIUM).exists():
        _no_browser("chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
