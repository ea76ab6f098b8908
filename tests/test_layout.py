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


MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def _project_files() -> list[Path]:
    return [ROOT / "app.py", *(path for package in sorted(FORBIDDEN) for path in sorted((ROOT / package).rglob("*.py")))]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_project_modules(path: Path, modules: set[str]) -> set[str]:
    """Every project module ``path`` imports, at module level or lazily inside a function, relative imports resolved."""
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for name in names:
            target = known(name)
            # a package's own __init__ is loaded before its modules, so an import of a parent is not an edge
            if target and target != me and not me.startswith(target + "."):
                targets.add(target)
    return targets


def test_no_import_circle_even_through_lazy_imports():
    import graphlib

    files = _project_files()
    modules = {_module_name(path) for path in files}
    graph = {_module_name(path): _imported_project_modules(path, modules) for path in files}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as circle:
        pytest.fail(f"import circle: {' -> '.join(circle.args[1])}; move what both need into a module below both")


def test_no_module_over_600_lines():
    long = {str(p.relative_to(ROOT)): n for p in _project_files() if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines (split them by job): {long}"


def test_no_function_over_80_lines():
    long = {
        f"{path.relative_to(ROOT)}:{node.name}": node.end_lineno - node.lineno + 1
        for path in _project_files()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    }
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines (compose them of named parts): {long}"
