"""One evaluation at a time per app: a first-in first-out queue whose single runner starts each job as a worker process
(:mod:`demo.evaluate.worker`), with its place in line, its progress and Stop.

Why a process: Stop ends it at once (the score cache keeps every committed chunk, so running it again — or the CLI —
rescores nothing done, also after an app restart); a crash or an out-of-memory kill cannot take the app down; and it
runs at a lower priority, with half the threads while the app computes, so other visitors' searches keep their latency.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from demo.evaluate.intake import session_folder
from demo.evaluate.limits import EvaluateInputError

__all__ = ["MAX_WAITING", "EvaluationQueue", "Job", "worker_idle_threads", "worker_threads"]

MAX_WAITING = 8
_POLL_S = 0.2


def worker_threads() -> int:
    """Torch threads of the worker on CPU while the app computes: half the machine's cores (at least one), the other
    half for searches. While the app is idle the worker uses every core (:func:`worker_idle_threads`)."""
    return max(1, (os.cpu_count() or 2) // 2)


def worker_idle_threads() -> int:
    """Torch threads of the worker on CPU while the app is idle: every core."""
    return max(1, os.cpu_count() or 1)


@dataclass
class Job:
    """One evaluation: its folder (inside its session's), state and outcome."""

    token: str
    folder: Path
    spec: dict[str, Any]
    state: str = "waiting"
    """``waiting``, ``running``, ``done``, ``failed`` or ``stopped``."""
    message: str = ""
    stop_requested: bool = False
    finished: threading.Event = field(default_factory=threading.Event)
    started_at: float | None = None

    @property
    def active(self) -> bool:
        return self.state in ("waiting", "running")

    def progress(self) -> dict[str, Any]:
        """The worker's last ``progress.json`` (``{}`` before it wrote one)."""
        try:
            return json.loads((self.folder / "progress.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def report(self) -> dict[str, Any]:
        """The finished run's ``report.json``."""
        return json.loads((self.folder / "report.json").read_text(encoding="utf-8"))


class EvaluationQueue:
    """The app's evaluations: one runs, the rest wait in order (at most :data:`MAX_WAITING`); one active job per session.

    Args:
        python: The interpreter the workers run on (default this one).
        worker_module: The module run as ``python -m <module> JOB_FOLDER`` (default :mod:`demo.evaluate.worker`).
    """

    def __init__(self, python: str | None = None, worker_module: str = "demo.evaluate.worker") -> None:
        self.python = python or sys.executable
        self.worker_module = worker_module
        self._waiting: deque[Job] = deque()
        self._running: Job | None = None
        self._by_token: dict[str, Job] = {}
        self._lock = threading.Condition()
        self._proc: subprocess.Popen | None = None
        self._runner: threading.Thread | None = None

    def submit(self, token: str, spec: dict[str, Any]) -> Job:
        """Queue ``spec`` for session ``token``.

        Raises:
            EvaluateInputError: this session already has an evaluation waiting or running, or the line is full.
        """
        folder = session_folder(token) / f"job-{time.strftime('%Y%m%d-%H%M%S')}-{os.urandom(3).hex()}"
        with self._lock:
            current = self._by_token.get(token)
            if current is not None and current.active:
                raise EvaluateInputError("an evaluation of yours is already waiting or running: Stop it first, or wait")
            if len(self._waiting) >= MAX_WAITING:
                raise EvaluateInputError(f"{MAX_WAITING} evaluations are already waiting: try again in a few minutes")
            folder.mkdir(parents=True)
            from ettin.io import write_json_atomic

            write_json_atomic(folder / "spec.json", {**spec, "threads": worker_threads(),
                                                     "threads_idle": worker_idle_threads()})  # fmt: skip
            job = Job(token, folder, spec)
            self._by_token[token] = job
            self._waiting.append(job)
            if self._runner is None or not self._runner.is_alive():
                self._runner = threading.Thread(target=self._run_all, name="ettin-evaluate", daemon=True)
                self._runner.start()
            self._lock.notify_all()
        return job

    def position(self, job: Job) -> int:
        """0 while ``job`` runs (or is over), else how many evaluations are ahead of it (the running one included)."""
        with self._lock:
            if job not in self._waiting:
                return 0
            return list(self._waiting).index(job) + (self._running is not None)

    def latest(self, token: str) -> Job | None:
        """Session ``token``'s latest evaluation (``None`` before its first)."""
        with self._lock:
            return self._by_token.get(token)

    def stop(self, token: str) -> bool:
        """Stop session ``token``'s evaluation (taken out of the line, or its worker ended); ``False`` if none."""
        with self._lock:
            job = self._by_token.get(token)
            if job is None or not job.active:
                return False
            self._stop_locked(job, "stopped before it started")
        return True

    def close(self, timeout: float | None = 60.0) -> None:
        """Stop every evaluation (the waiting ones taken out of the line, the running one's worker ended) and wait up to
        ``timeout`` seconds for the runner thread to end, so that neither outlives the app."""
        with self._lock:
            for job in [*self._waiting, *([self._running] if self._running is not None else [])]:
                self._stop_locked(job, "stopped: the app closed")
            runner = self._runner
        if runner is not None:
            runner.join(timeout)

    def _stop_locked(self, job: Job, message: str) -> None:
        """Stop ``job`` (the lock held): a waiting one leaves the line with ``message``; the running one's worker ends."""
        job.stop_requested = True
        if job in self._waiting:
            self._waiting.remove(job)
            self._finish(job, "stopped", message)
        elif self._running is job and self._proc is not None:
            self._proc.terminate()

    def _finish(self, job: Job, state: str, message: str) -> None:
        job.state, job.message = state, message
        job.finished.set()

    def _run_all(self) -> None:
        while True:
            with self._lock:
                if not self._waiting:
                    self._runner = None
                    return
                job = self._running = self._waiting.popleft()
                job.state, job.started_at = "running", time.time()
            try:
                self._run(job)
            finally:
                with self._lock:
                    self._running, self._proc = None, None

    def _run(self, job: Job) -> None:
        log = open(job.folder / "worker.log", "wb")
        with log:
            with self._lock:
                if job.stop_requested:
                    return self._finish(job, "stopped", "stopped by the user")
                threads = str(worker_idle_threads())  # the pools' size; the worker sets how many it uses
                env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
                       "TOKENIZERS_PARALLELISM": "false"}  # fmt: skip
                self._proc = subprocess.Popen(  # noqa: S603 - our own module, our own interpreter
                    [self.python, "-m", self.worker_module, str(job.folder)],
                    stdout=log, stderr=subprocess.STDOUT, cwd=str(Path(__file__).resolve().parents[2]), env=env,
                )  # fmt: skip
            code = self._proc.wait()
        if job.stop_requested:
            self._finish(job, "stopped", "stopped by the user: what was scored is kept in the score cache")
        elif code == 0 and (job.folder / "report.json").is_file():
            self._finish(job, "done", "")
        else:
            try:
                message = json.loads((job.folder / "error.json").read_text(encoding="utf-8"))["message"]
            except (OSError, ValueError, KeyError):
                message = f"the evaluation worker ended unexpectedly (exit code {code}); try a smaller run"
            self._finish(job, "failed", message)
