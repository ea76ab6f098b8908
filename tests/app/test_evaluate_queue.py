"""The evaluation queue: one evaluation at a time, the others see their place; Stop takes a waiting one out of the line
and ends a running one's worker process at once; a worker's refusal reaches the visitor as its one line.

Run as a module (``python -m tests.app.test_evaluate_queue JOB``) this file is a stand-in worker: it writes progress
and sleeps (``sleep`` in the spec) or refuses (``refuse``), so the queue is tested without loading a model.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from demo.evaluate import intake
from demo.evaluate.jobs import EvaluationQueue
from demo.evaluate.limits import EvaluateInputError

MODULE = "tests.app.test_evaluate_queue"


def _stand_in(job: Path) -> int:
    from ettin.io import write_json_atomic

    spec = json.loads((job / "spec.json").read_text())
    if spec.get("refuse"):
        write_json_atomic(job / "error.json", {"message": spec["refuse"]})
        return 1
    for i in range(int(spec.get("sleep", 0) * 10)):
        write_json_atomic(job / "progress.json", {"phase": "sleeping", "pairs_done": i, "pairs_total": 100})
        time.sleep(0.1)
    write_json_atomic(job / "report.json", {"runs": []})
    return 0


@pytest.fixture()
def queue(tmp_path, monkeypatch):
    monkeypatch.setenv("ETTIN_CACHE", str(tmp_path / "cache"))
    return EvaluationQueue(worker_module=MODULE)


def wait_for(predicate, seconds: float = 60.0) -> bool:
    """Whether ``predicate()`` turns true within ``seconds`` (polled every 50 ms)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_one_at_a_time_places_and_stop(queue):
    a, b, c = (intake.new_session() for _ in range(3))
    first = queue.submit(a, {"sleep": 30})
    second = queue.submit(b, {"sleep": 0})
    third = queue.submit(c, {"sleep": 0})
    assert wait_for(lambda: first.state == "running" and first.progress().get("phase") == "sleeping")
    assert (second.state, third.state) == ("waiting", "waiting")
    assert (queue.position(second), queue.position(third)) == (1, 2)
    with pytest.raises(EvaluateInputError, match="already waiting or running: Stop it first"):
        queue.submit(b, {"sleep": 0})
    assert queue.stop(c) and third.finished.is_set() and third.state == "stopped"
    assert queue.position(second) == 1
    t0 = time.time()
    assert queue.stop(a)
    assert first.finished.wait(20) and first.state == "stopped" and time.time() - t0 < 10, "Stop ends the worker at once"
    assert "score cache" in first.message
    assert second.finished.wait(60) and second.state == "done"
    assert not queue.stop(b), "nothing of b's is active any more"
    assert queue.latest(b) is second and second.folder.parent == intake.session_folder(b)


def test_refusal_in_the_worker_is_one_line(queue):
    job = queue.submit(intake.new_session(), {"refuse": "corpus.jsonl, line 3: not valid JSON"})
    assert job.finished.wait(60) and job.state == "failed"
    assert job.message == "corpus.jsonl, line 3: not valid JSON"


def test_the_line_is_bounded(queue, monkeypatch):
    from demo.evaluate import jobs

    monkeypatch.setattr(jobs, "MAX_WAITING", 1)
    running = queue.submit(intake.new_session(), {"sleep": 30})
    assert wait_for(lambda: running.state == "running")
    queue.submit(intake.new_session(), {"sleep": 0})
    with pytest.raises(EvaluateInputError, match="1 evaluations are already waiting"):
        queue.submit(intake.new_session(), {"sleep": 0})
    queue.stop(running.token)
    assert running.finished.wait(20) and running.state == "stopped"


if __name__ == "__main__":
    raise SystemExit(_stand_in(Path(sys.argv[1])))
