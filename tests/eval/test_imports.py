"""``python -m eval --help`` stays light: the packages re-export lazily; the verbs import heavy code when they run."""

from __future__ import annotations

import subprocess
import sys

from ettin.paths import PROJECT_ROOT


def test_building_the_cli_imports_no_pandas_numpy_or_torch():
    code = (
        "import sys\n"
        "from ettin.cli import build_parser\n"
        "from eval.__main__ import VERB_MODULES\n"
        "import eval.retrieval, eval.speed, eval.leaderboard, eval.scale\n"
        "build_parser('python -m eval', '', VERB_MODULES)\n"
        "print(sorted(m for m in ('pandas', 'numpy', 'torch', 'plotly') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_lazy_reexports_are_the_modules_names():
    from eval import leaderboard as lb
    from eval import retrieval, scale, speed

    for package in (lb, retrieval, scale, speed):
        assert all(getattr(package, name) is not None for name in package.__all__)

