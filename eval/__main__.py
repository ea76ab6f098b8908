"""``python -m eval <verb>``: the project's numbers, regenerated (verbs registered with :func:`ettin.cli.verb`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ettin.cli import main as run_cli

VERB_MODULES = ("eval.retrieval.cli", "eval.speed.cli", "eval.leaderboard.cli", "eval.scale.cli")


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m eval`` with ``argv`` (default: the command line); returns the exit status."""
    return run_cli("python -m eval", "Regenerate the project's numbers.", VERB_MODULES, argv)


if __name__ == "__main__":
    sys.exit(main())
