"""``python -m train data|score|fit|scifact``: the distillation recipe (verbs registered with :func:`ettin.cli.verb`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ettin.cli import main as run_cli
from train.cli import INTERRUPTED

VERB_MODULES = (
    "train.data.candidates",
    "train.data.select",
    "train.data.mix",
    "train.data.load_benchmark",
    "train.score",
    "train.fit",
    "train.scifact",
    "train.reranker",
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m train`` with ``argv`` (default: the command line); returns the exit status."""
    return run_cli("python -m train", "The Ettin distillation recipe.", VERB_MODULES, argv, interrupted=INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
