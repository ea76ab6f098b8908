"""The backend-build worker ends with the process that started it (:func:`ettin.runtime.worker.exit_with_parent`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHILD = "from ettin.runtime.worker import exit_with_parent; import time; exit_with_parent(0.05); time.sleep(60)"
PARENT = textwrap.dedent(f"""
    import subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", {CHILD!r}])
    print(child.pid, flush=True)
    time.sleep(60)
""")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:  # a zombie no one has reaped yet counts as gone
        return stat.read().split(") ")[-1][0] != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc to tell a zombie from a live process")
def test_a_killed_parent_takes_its_build_child_along():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    child_pid = int(parent.stdout.readline())
    try:
        time.sleep(0.5)
        assert _alive(child_pid), "the child should run while its parent does"
        parent.send_signal(signal.SIGKILL)  # no chance to kill its child itself
        parent.wait(10)
        deadline = time.monotonic() + 10
        while _alive(child_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child_pid), "the child outlived its killed parent"
    finally:
        if _alive(child_pid):
            os.kill(child_pid, signal.SIGKILL)
        parent.stdout.close()
