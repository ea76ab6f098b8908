"""``python -m demo mteb-data TASK --out DIR [--split SPLIT]``: an MTEB retrieval task's split written as a BEIR folder,
exactly as the Evaluate tab reads it (:mod:`demo.evaluate.mteb_task`: the dataset at the revision mteb pins, read by
mteb's own loader), so the tab's "run it without limit" command can be reproduced on the same data with
``python -m eval retrieval --data DIR``. The folder records its origin (``origin.json``), which the results' provenance
then names. Written in a staging folder beside ``DIR`` and renamed into place, so a killed run leaves no half folder.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from ettin.cli import verb
from ettin.errors import UserError

__all__ = ["write_mteb_folder"]


def write_mteb_folder(task: str, split: str | None, out: Path) -> str:
    """Write ``task``'s ``split`` (``None``: its eval split) as BEIR files into ``out``; returns its origin line.

    Raises:
        UserError: ``out`` exists and is not empty, or the task is refused (see :func:`fetch_mteb_task`).
    """
    from demo.evaluate.intake import ORIGIN_FILE
    from demo.evaluate.mteb_task import fetch_mteb_task

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out.as_posix()} exists and is not empty: pass --out with a new folder")
    staging = out.parent / f".{out.name}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        source = fetch_mteb_task(task, split, staging)
        (staging / ORIGIN_FILE).write_text(json.dumps({"origin": source.describe()}), encoding="utf-8")
        if out.exists():
            out.rmdir()
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return source.describe()


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", help="the MTEB retrieval task's name, e.g. SciFact or NFCorpus")
    p.add_argument("--out", type=Path, required=True, help="the BEIR folder to write (new or empty)")
    p.add_argument("--split", default=None, help="the split (default: the task's eval split)")


@verb("mteb-data", help="write an MTEB retrieval task's split as a BEIR folder, as the Evaluate tab reads it",
      arguments=_arguments, description=__doc__)  # fmt: skip
def mteb_data(args: argparse.Namespace) -> int:
    """Write the folder and say where it came from."""
    origin = write_mteb_folder(args.task, args.split, args.out)
    print(f"wrote {args.out.as_posix()} from {origin}")
    return 0
