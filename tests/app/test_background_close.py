"""What the app runs in the background stops when the app closes: a backend build's child process is killed and nothing
is swapped in, the warm-up is waited for and no build starts after it, and evaluations end (waiting or running). A
build left running by one test ran beside the rates later tests timed at load, and outlived the test session."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from types import SimpleNamespace

from demo.evaluate import intake
from demo.evaluate.jobs import EvaluationQueue
from demo.search.playground import Playground
from ettin.runtime import accelerate
from tests.app.test_evaluate_queue import wait_for


def test_a_cancelled_build_kills_its_child_process_and_swaps_nothing_in(monkeypatch):
    children: list[subprocess.Popen] = []
    attached: list[object] = []

    def child_build(reranker, backend, precision, timeout=3600, started=None):
        with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"]) as child:
            children.append(child)
            started(child)
            return f"exit {child.wait()}"

    monkeypatch.setattr(accelerate, "build_in_child", child_build)
    monkeypatch.setattr(accelerate, "attach_backend", lambda *a, **kw: attached.append(a))
    build = accelerate.start_backend_build(SimpleNamespace(name="m"), "auto", "auto")
    assert wait_for(lambda: children) and build.state == "building"
    t0 = time.monotonic()
    build.cancel()
    assert time.monotonic() - t0 < 30 and children[0].poll() is not None and not build.thread.is_alive()
    assert build.done.is_set() and build.error == build.CANCELLED and build.state == "failed" and attached == []


def test_closing_a_playground_waits_for_its_warm_up_then_cancels_its_builds_and_starts_none(tmp_path):
    play = Playground(tmp_path, include_hub=False, backend="auto")
    cancelled: list[float | None] = []
    play._builds[("m", "auto")] = SimpleNamespace(cancel=cancelled.append)
    loading = threading.Event()
    play.warming = threading.Thread(target=loading.wait, name="ettin-warm-up")
    play.warming.start()
    closing = threading.Thread(target=play.close)
    closing.start()
    time.sleep(0.3)
    assert closing.is_alive() and cancelled == []  # the warm-up is still loading: waited for first
    loading.set()
    closing.join(10)
    assert not closing.is_alive() and len(cancelled) == 1
    assert play.accelerate(SimpleNamespace(key="n", spec="n")) is None  # no build starts after the close


def test_closing_the_evaluations_ends_the_running_worker_and_the_waiting_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("ETTIN_CACHE", str(tmp_path / "cache"))
    queue = EvaluationQueue(worker_module="tests.app.test_evaluate_queue")  # its stand-in worker sleeps as told
    running = queue.submit(intake.new_session(), {"sleep": 60})
    waiting = queue.submit(intake.new_session(), {"sleep": 0})
    assert wait_for(lambda: running.progress().get("phase") == "sleeping")
    t0 = time.monotonic()
    queue.close()
    assert time.monotonic() - t0 < 30 and running.finished.is_set() and waiting.finished.is_set()
    assert (running.state, waiting.state) == ("stopped", "stopped")
    assert not any(t.name == "ettin-evaluate" for t in threading.enumerate())


def test_closing_the_app_closes_its_playground_then_its_board_then_its_evaluations(tmp_path, app_results,
                                                                                  monkeypatch):  # fmt: skip
    import app
    from demo.board.store import BoardStore

    closed: list[str] = []
    for part in (Playground, BoardStore, EvaluationQueue):
        monkeypatch.setattr(part, "close", lambda self, timeout=60.0, name=part.__name__: closed.append(name))
    demo = app.build_app(models_dir=tmp_path, results_dir=app_results, include_hub=False, default_first_stage="bm25")
    demo.close()
    assert closed == ["Playground", "BoardStore", "EvaluationQueue"]
