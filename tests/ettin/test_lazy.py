"""Lazy re-exports: a package's public names load on first use, and importing the package stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ettin.lazy import lazy_exports


def test_names_and_modules_resolve_on_first_use():
    getattr_ = lazy_exports("pkg", {"evaluate_run": "ettin.metrics", "metrics": "ettin.metrics"})
    from ettin import metrics

    assert getattr_("evaluate_run") is metrics.evaluate_run
    assert getattr_("metrics") is metrics
    with pytest.raises(AttributeError, match="'pkg' has no attribute 'nope'"):
        getattr_("nope")


def test_importing_ettin_loads_no_heavy_library():
    code = "import sys, ettin; ettin.registry; print(sorted(m for m in ('torch', 'transformers', 'numpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.strip() == "[]"
