"""The layering the README promises: app.py -> demo -> eval/train -> ettin, and Gradio only in the app (read from the code)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# package -> top-level names it must never import (directly or lazily inside a function)
FORBIDDEN = {
    "ettin": {"eval", "train", "demo", "app", "gradio"},
    "eval": {"train", "demo", "app", "gradio"},
    "train": {"demo", "app", "gradio"},
    "demo": {"app"},
}


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_go_one_way(package):
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_roots(path) & FORBIDDEN[package])
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_every_package_opens_with_a_docstring():
    for init in sorted(init for package in FORBIDDEN for init in (ROOT / package).rglob("__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc) > 40, f"{init.relative_to(ROOT)} needs a docstring describing its layout"
