"""Where the browser tests are required (tests/run.sh, CI) a missing chromium fails the run; elsewhere it skips."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = '''
def test_needs_a_browser(browser):
    pass
'''


def _run_probe(tmp_path: Path, require: bool) -> subprocess.CompletedProcess:
    probe = ROOT / "tests" / "app" / f"test_zz_probe_{os.getpid()}.py"
    probe.write_text(PROBE, encoding="utf-8")
    env = {**os.environ, "ETTIN_CHROMIUM": str(tmp_path / "no-chromium-here")}
    env.pop("ETTIN_REQUIRE_BROWSER", None)
    if require:
        env["ETTIN_REQUIRE_BROWSER"] = "1"
    try:
        return subprocess.run(
            [sys.executable, "-m", "pytest", str(probe), "-q", "-rs"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )
    finally:
        probe.unlink()


@pytest.mark.parametrize("require", [True, False], ids=["required-fails", "optional-skips"])
def test_missing_chromium(tmp_path, require):
    done = _run_probe(tmp_path, require)
    out = done.stdout + done.stderr
    assert "chromium is not installed (apt-get install chromium)" in out
    if require:
        assert done.returncode == 1 and "1 error" in out and "required here" in out
    else:
        assert done.returncode == 0 and "1 skipped" in out
