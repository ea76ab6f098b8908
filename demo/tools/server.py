"""Run ``python app.py`` as a subprocess on a free port of 127.0.0.1, for the tools that measure or photograph it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ROOT", "RunningApp", "free_port", "publish", "running_app"]

ROOT = Path(__file__).resolve().parents[2]  # where app.py is


def free_port() -> int:
    """A TCP port of 127.0.0.1 that is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class RunningApp:
    """The app's URL, its process, and the seconds from starting it to its first HTTP 200."""

    url: str
    process: subprocess.Popen
    cold_start_s: float


def _wait_for_http_200(url: str, t0: float, timeout: float) -> float | None:
    while time.perf_counter() - t0 < timeout:
        try:
            with urllib.request.urlopen(url + "/", timeout=2) as r:
                if r.status == 200:
                    return time.perf_counter() - t0
        except OSError:
            time.sleep(0.05)
    return None


@contextmanager
def running_app(app_args: Sequence[str], timeout: float = 120, env: dict[str, str] | None = None) -> Iterator[RunningApp]:
    """Start ``python app.py --port N *app_args`` offline (unless ``HF_HUB_OFFLINE`` says otherwise), stop it after.

    ``env`` adds to (or overrides) this process's environment for the app.

    Raises:
        RuntimeError: the app did not answer within ``timeout`` seconds.
    """
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"),
           **(env or {})}
    cmd = [sys.executable, "app.py", "--port", str(port), *app_args]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        cold = _wait_for_http_200(url, t0, timeout)
        if cold is None:
            raise RuntimeError(f"the app did not answer within {timeout:.0f} s")
        yield RunningApp(url, proc, cold)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def publish(result: dict, table: str, out: str | Path) -> None:
    """How a measuring verb ends: print its table, write its JSON to ``out`` atomically, say where."""
    from ettin.io import write_json_atomic

    print(table)
    write_json_atomic(out, result)
    print(f"written: {out}")
