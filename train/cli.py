"""What the ``python -m train`` verbs share; each verb lives in the module that owns its work (see ``train/__main__.py``)."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable

__all__ = ["INTERRUPTED", "print_json", "resumable", "quiet_argument"]

INTERRUPTED = "interrupted; rerun the same command (with --resume for fit) to continue"

Run = Callable[[argparse.Namespace], "int | None"]


def print_json(data: object) -> None:
    """Print a verb's summary as indented JSON on standard output."""
    print(json.dumps(data, indent=2, default=str))


def resumable(run: Run) -> Run:
    """Wrap a verb so that Ctrl-C says how to continue (every step resumes from what it wrote) and exits with 130."""

    @functools.wraps(run)
    def wrapper(args: argparse.Namespace) -> int | None:
        try:
            return run(args)
        except KeyboardInterrupt:
            print(INTERRUPTED, file=sys.stderr)
            return 130

    return wrapper


def quiet_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--quiet`` flag every verb with progress bars has."""
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
