"""Lazy re-exports for package ``__init__`` modules, so importing a package (or its CLI) never pulls in heavy modules."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` (PEP 562) that imports each public name from its module on first use.

    Args:
        package: The package's ``__name__`` (for the error message).
        exports: Public name -> the module that defines it (a name equal to its module's last part is the module).

    Usage, in ``pkg/__init__.py``: ``__getattr__ = lazy_exports(__name__, {"load": "pkg.io", "io": "pkg.io"})``.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if module.rsplit(".", 1)[-1] == name:
            return importlib.import_module(module)
        return getattr(importlib.import_module(module), name)

    return __getattr__
