"""The speed result file (schema ``ettin.speed/1``): where it goes, its provenance, its tables, and its one reader."""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from eval.retrieval.store import DEFAULT_RESULTS_DIR

__all__ = [
    "RESULTS_DIR",
    "SCHEMA",
    "SpeedFile",
    "default_output",
    "format_table",
    "hardware_slug",
    "load_average",
    "read_results",
    "run_provenance",
    "size_ratio_table",
]

SCHEMA = "ettin.speed/1"
RESULTS_DIR = DEFAULT_RESULTS_DIR / "speed"


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def hardware_slug(hardware: dict[str, Any]) -> str:
    """Short file-name-safe hardware label, e.g. ``nvidia-h100-80gb-hbm3`` or ``intel-xeon-processor-2c``."""
    if hardware.get("gpu"):
        text = str(hardware["gpu"])
    else:
        text = f"{hardware.get('cpu', 'cpu')} {hardware.get('cpu_cores', '')}c"
    text = re.sub(r"\((r|tm)\)", "", text, flags=re.I)
    text = re.sub(r"\b(cpu|@.*)$", "", text, flags=re.I)
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:60] or "unknown"


def default_output(hardware: dict[str, Any], when: datetime | None = None) -> Path:
    """``eval/results/speed/<hardware>_<UTC time>.json``."""
    when = when or datetime.now(timezone.utc)
    return RESULTS_DIR / f"{hardware_slug(hardware)}_{when.strftime('%Y%m%d-%H%M%S')}.json"


def run_provenance(device: str) -> dict[str, Any]:
    """Packages, hardware (CPU flags, torch threads, GPU memory) and the load average at the start of a run."""
    import torch

    from ettin.provenance import base_provenance
    from ettin.runtime import cpu_flags

    prov = base_provenance()
    hw = prov["hardware"]
    hw["cpu_flags"] = sorted(f for f in cpu_flags() if re.match(r"(avx|amx|fma|sse4|f16c|vnni)", f))
    hw["device"] = device
    if device.startswith("cuda"):
        hw["gpu_memory_bytes"] = int(torch.cuda.get_device_properties(0).total_memory)
        hw["cuda"] = torch.version.cuda
    prov["load_average_start"] = load_average()
    prov["command"] = " ".join(["python", "-m", "eval", *sys.argv[1:]]) if sys.argv[1:] else None
    return prov


def format_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of result rows; ``gate`` is the verdict on the trained gate model (exported backends only)."""
    head = ("| model | runtime | config | pairs/s | batch | peak MiB | x baseline | ceiling | max abs diff | Spearman | gate "
            "| skipped |")  # fmt: skip
    lines = [head, "|" + "---|" * 12]

    def f(v: Any, fmt: str) -> str:
        return "" if v is None else format(v, fmt)

    for r in rows:
        mem = None if r["peak_memory_bytes"] is None else r["peak_memory_bytes"] / 2**20
        gate = r.get("gate")
        state = "n/a" if gate and gate.get("skipped") else "pass" if gate and gate.get("passed") else "FAIL"
        verdict = "" if not gate else f"{state} ({gate.get('reason', '')})"
        lines.append(
            f"| {r['model'].split('/')[-1]}{' (replica)' if r['random_init'] else ''} | {r['runtime']} | {r['config']} | "
            f"{f(r['pairs_per_s'], '.1f')} | {f(r['batch_size'], 'd')} | {f(mem, '.0f')} | "
            f"{f(r['ratio_to_baseline'], '.2f')} | {f(r['ceiling_fraction'], '.3f')} | "
            f"{f(r['max_abs_diff_vs_baseline'], '.2e')} | {f(r.get('spearman_vs_baseline'), '.5f')} | {verdict} | "
            f"{r['skipped'] or ''} |"
        )
    return "\n".join(lines)


def size_ratio_table(rows: list[dict[str, Any]]) -> str:
    """Each size's pairs/s relative to the 17m's (baseline and project runtime), next to the blog's CPU (i7-13700K) ratios."""
    from ettin import registry
    from ettin.published import published

    blog = published().cpu_speed
    pps: dict[tuple[str, str], float] = {}
    for r in rows:
        if r["size"] and r["pairs_per_s"]:
            pps[(r["size"], "baseline" if r["runtime"] == "baseline" else r["config"])] = r["pairs_per_s"]
    if ("17m", "baseline") not in pps:
        return ""
    blog17 = blog.pairs_per_s[registry.RERANKERS["17m"].hub_id]

    def cell(size: str, key: str) -> str:
        if (size, key) not in pps or ("17m", key) not in pps:
            return "| | "
        return f"| {pps[(size, key)]:.1f} | {pps[(size, key)] / pps[('17m', key)]:.3f} "

    lines = [
        "| size | baseline pairs/s | / 17m | ettin fp32 pairs/s | / 17m | ettin bf16 pairs/s | / 17m | blog CPU pairs/s | / 17m (blog) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for size in registry.SIZES:
        if (size, "baseline") not in pps:
            continue
        b = blog.rate(registry.RERANKERS[size].hub_id)
        lines.append(
            f"| {size} "
            + cell(size, "baseline")
            + cell(size, "fp32-sdpa")
            + cell(size, "bf16-sdpa")
            + f"| {b} | {b / blog17:.3f} |"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class SpeedFile:
    """One readable speed result file: its path relative to the results folder, and its content."""

    file: str
    stem: str
    data: dict[str, Any]


def read_results(results_dir: str | Path) -> tuple[list[SpeedFile], list[str]]:
    """Every ``ettin.speed/1`` file in ``<results_dir>/speed`` (not its sub-folders), plus one message per file skipped.

    Messages name files relative to ``results_dir`` (never a machine path).
    """
    root = Path(results_dir)
    found, problems = [], []
    folder = root / "speed"
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        rel = path.relative_to(root).as_posix()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("schema") != SCHEMA:
                raise ValueError(f"schema is not {SCHEMA}")
        except (OSError, ValueError) as exc:
            problems.append(f"{rel}: {type(exc).__name__}: {str(exc)[:120]}")
            continue
        found.append(SpeedFile(rel, path.stem, data))
    return found, problems
