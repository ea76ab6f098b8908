"""The evaluation worker's threads follow the app: every core while the app process is idle, half of them while it
computes (read from the app's CPU time in /proc), so an evaluation alone runs like the CLI and a search comes first."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from demo.evaluate.worker import ThreadGovernor

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads CPU time from /proc (Linux)")


def _governor_of(pid: int) -> ThreadGovernor:
    return ThreadGovernor(pid, busy=1, idle=2, interval=0.3)


def test_all_threads_while_the_app_is_idle_half_while_it_computes():
    import torch

    before = torch.get_num_threads()
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        calm = _governor_of(idle.pid)
        assert calm.threads == torch.get_num_threads() == 1  # before the first look: as if busy
        time.sleep(0.5)
        assert calm.adjust() == 2 and torch.get_num_threads() == 2
        spinning = _governor_of(busy.pid)
        time.sleep(0.5)
        assert spinning.adjust() == 1 and torch.get_num_threads() == 1
    finally:
        idle.kill(), busy.kill()
        torch.set_num_threads(before)


def test_an_unreadable_app_counts_as_busy():
    import torch

    before = torch.get_num_threads()
    try:
        gone = _governor_of(2**22 + 12345)  # no such process
        assert gone.app_cpu_s() is None
        time.sleep(0.4)
        assert gone.adjust() == 1
    finally:
        torch.set_num_threads(before)
