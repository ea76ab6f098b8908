"""``python -m eval``: one argparse CLI whose verbs live in their own modules.

Each module listed in ``VERB_MODULES`` exposes ``register(subparsers)`` that adds its verb(s) with ``set_defaults(func=...)``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

VERB_MODULES = ("eval.cli_retrieval", "eval.speed", "eval.leaderboard")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m eval", description="Regenerate the project's numbers.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in VERB_MODULES:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
