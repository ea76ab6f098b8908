"""``python -m eval scale``: print the plan's section of docs/scale.md, write it there (``--markdown``) or as JSON."""

from __future__ import annotations

import argparse
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

from ettin.cli import parse_positive_int, verb
from ettin.io import atomic_open, write_json_atomic
from ettin.registry import published
from eval.scale.markdown import BEGIN_MARKER, END_MARKER, fill_markers, render_markdown
from eval.scale.plan import GPUS_PER_NODE, TURNAROUND_HOURS, ScalePlan, build_plan
from eval.scale.tasks import ScaleInputError, mteb_version

__all__ = ["scale"]


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gpus-per-node", type=parse_positive_int, default=GPUS_PER_NODE,
                   help=f"GPUs per node (default {GPUS_PER_NODE}, the post's node)")
    p.add_argument("--turnaround-hours", type=float, default=TURNAROUND_HOURS,
                   help=f"wall-clock goal per job in hours (default {TURNAROUND_HOURS:g})")
    p.add_argument("--out", default=None, help="also write the plan as JSON here")
    p.add_argument("--markdown", default=None, metavar="DOC",
                   help=f"rewrite the section between '{BEGIN_MARKER}' and '{END_MARKER}' of this Markdown file")
    p.add_argument("--check", action="store_true",
                   help="with --markdown: change nothing, exit 1 if the file's figures differ from a fresh run")


def _write_json(plan: ScalePlan, args: argparse.Namespace) -> None:
    """Write the plan as JSON to ``--out``, with the provenance of this run."""
    data = plan.to_json()
    data["provenance"] = {
        "command": f"python -m eval scale --gpus-per-node {args.gpus_per_node} --turnaround-hours {args.turnaround_hours:g}",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "mteb": mteb_version(),
        "published": published().source.cite("1 (H100, bf16)"),
        "measured": "nothing: every figure is computed from published throughputs and task metadata",
    }
    write_json_atomic(args.out, data)
    print(f"wrote {args.out}")


def _update_markdown(path: Path, section: str, check: bool) -> int:
    """Rewrite the generated section of ``path`` or, with ``check``, compare it with ``section``; the exit status.

    Raises:
        ScaleInputError: ``path`` does not exist or lacks the markers.
    """
    if not path.is_file():
        raise ScaleInputError(f"{path} does not exist; create it with the two markers '{BEGIN_MARKER}' and "
                              f"'{END_MARKER}' where the figures belong")
    current = path.read_text(encoding="utf-8")
    updated = fill_markers(current, section)
    if check:
        if updated != current:
            print(f"{path}: figures differ from a fresh run; regenerate with python -m eval scale --markdown {path}",
                  file=sys.stderr)
            return 1
        print(f"{path}: figures up to date")
        return 0
    with atomic_open(path) as f:
        f.write(updated)
    print(f"wrote {path}")
    return 0


@verb(
    "scale",
    help="the full-scale plan: pairs, GPU-hours, nodes and storage per job (docs/scale.md), computed",
    arguments=_arguments,
    description="Pairs per job (teacher rescoring of the published set, the MTEB(eng, v2) grid, NanoBEIR), GPU-hours at the\n"
    "post's measured H100 throughput, nodes for a one-day turnaround, storage and the torchrun commands. Inputs: the\n"
    "post's tables (ettin.published), the registry and mteb's task metadata (offline).",
)
def scale(args: argparse.Namespace) -> int:
    """Run ``python -m eval scale``: print the section, then write ``--out`` and ``--markdown`` (or ``--check`` it).

    Raises:
        ScaleInputError: a bad flag combination or value, or an input the plan lacks.
    """
    if args.turnaround_hours <= 0:
        raise ScaleInputError(f"--turnaround-hours must be positive, got {args.turnaround_hours}")
    if args.check and not args.markdown:
        raise ScaleInputError("--check compares a document: give it with --markdown docs/scale.md")
    plan = build_plan(gpus_per_node=args.gpus_per_node, turnaround_hours=args.turnaround_hours)
    section = render_markdown(plan)
    if not args.check:
        print(section)
    if args.out:
        _write_json(plan, args)
    if args.markdown:
        return _update_markdown(Path(args.markdown), section, args.check)
    return 0
