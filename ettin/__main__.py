"""``python -m ettin replica|registry|search|latency``: the library's own commands (verbs in :mod:`ettin.commands`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ettin.cli import main as run_cli

VERB_MODULES = ("ettin.commands",)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m ettin`` with ``argv`` (default: the command line); returns the exit status."""
    return run_cli("python -m ettin", "Ettin rerankers: registry, replicas, search.", VERB_MODULES, argv)


if __name__ == "__main__":
    sys.exit(main())
