"""What the ``python -m train`` verbs share; each verb lives in the module that owns its work (see ``train/__main__.py``)."""

from __future__ import annotations

import argparse
import json

__all__ = ["INTERRUPTED", "print_json", "quiet_argument"]

INTERRUPTED = "interrupted; rerun the same command (with --resume for fit) to continue"


def print_json(data: object) -> None:
    """Print a verb's summary as indented JSON on standard output."""
    print(json.dumps(data, indent=2, default=str))


def quiet_argument(parser: argparse.ArgumentParser) -> None:
    """The ``--quiet`` flag every verb with progress bars has."""
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
