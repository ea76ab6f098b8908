"""First run without models: build a replica (17m by default; any Ettin size, each offered with its parameters, disk
size and build time on this machine) into the models folder so the app has a reranker to show.

The reranker trained here (shipped as an adapter) is offered whenever its adapter is intact, so this panel appears only
when it is missing or damaged and nothing else is offered; replicas stay available for speed.

No Gradio here: the Search tab shows the panel and calls :func:`build_first_reranker`.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from ettin.errors import UserError
from ettin.paths import PROJECT_ROOT, cache_dir

__all__ = [
    "BUILD_TIMES_FILE",
    "FIRST_SIZE",
    "PROOF_RUN_REPORT",
    "FirstRunError",
    "build_first_reranker",
    "needs_first_run",
    "proof_run_time",
    "shown_path",
    "size_choices",
    "target_folder",
]

FIRST_SIZE = "17m"
BUILD_TIMES_FILE = "replica-build-times.json"
"""In the cache folder: size -> seconds its last build took here (what the size choices quote)."""
PROOF_RUN_REPORT = PROJECT_ROOT / "eval" / "results" / "train" / "scifact-proof-run.json"
"""The committed report of ``python -m train scifact`` (the offline proof run the panel suggests)."""
_BUILDING = threading.Lock()  # one build at a time, whoever clicks


class FirstRunError(UserError):
    """The replica cannot be built where the app keeps models."""


def needs_first_run(play) -> bool:
    """``True`` when the playground offers no reranker at all (no models folder, no cached Hub model)."""
    return not play.rerankers


def target_folder(play) -> Path:
    """Where the replica goes: the app's models folder, or ``models`` under the cache folder when it has none."""
    return Path(play.models_dir) if play.models_dir else cache_dir() / "models"


def shown_path(path: str | Path) -> str:
    """A folder as a person should read it: relative to the working folder when inside it (``models/17m``), else with
    ``~`` for the home folder (``~/.cache/ettin/models/17m``), else absolute — never its last name alone."""
    full = Path(path).expanduser().resolve()
    for base, prefix in ((Path.cwd().resolve(), ""), (Path.home().resolve(), "~/")):
        try:
            return prefix + full.relative_to(base).as_posix()
        except ValueError:
            continue
    return full.as_posix()


def _build_times() -> dict[str, float]:
    try:
        data = json.loads((cache_dir() / BUILD_TIMES_FILE).read_text(encoding="utf-8"))
        return {str(k): float(v) for k, v in data.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def _record_build_time(size: str, seconds: float) -> None:
    from ettin.io import write_json_atomic

    try:
        write_json_atomic(cache_dir() / BUILD_TIMES_FILE, {**_build_times(), size: round(seconds, 1)})
    except OSError:
        pass  # a read-only cache folder: the next estimate says "not measured" again


def _build_time_text(size: str, measured: dict[str, float] | None = None) -> str:
    """``built here in 9 s``, ``about 120 s here (scaled …)``, or ``build time not measured here yet``, from
    ``measured`` (default: the build times file)."""
    from ettin import registry

    measured = _build_times() if measured is None else measured
    if size in measured:
        return f"built here in {measured[size]:,.0f} s"
    rates = [t / registry.RERANKERS[s].total_parameters for s, t in measured.items() if s in registry.RERANKERS]
    if rates:
        return f"about {max(rates) * registry.RERANKERS[size].total_parameters:,.0f} s here (scaled by parameters)"
    return "build time not measured here yet"


def size_choices() -> list[tuple[str, str]]:
    """(label, size) for every Ettin size: ``17m — 17M parameters, 68 MB on disk, built here in 9 s``.

    The disk size is the fp32 weights a replica saves (4 bytes a parameter); the time is this machine's own: the size's
    last build here, else scaled by parameters from a size built here, else not measured.
    """
    from ettin import registry

    measured = _build_times()
    return [(f"{m.size} — {m.total_parameters / 1e6:,.0f}M parameters, {4 * m.total_parameters / 1e6:,.0f} MB on disk, "
             f"{_build_time_text(m.size, measured)}", m.size) for m in registry.RERANKERS.values()]  # fmt: skip


def proof_run_time(report: Path = PROOF_RUN_REPORT) -> str:
    """How long the committed ``python -m train scifact`` took, from its report: ``"83 min on 2 cores, 4,959 s"``.

    The time is the sum of the report's ``timings_s`` (candidates, teacher scores, selection, training, evaluation), the
    cores its ``provenance.hardware``. Without a readable report: ``"an unmeasured time"``.
    """
    try:
        data = json.loads(Path(report).read_text(encoding="utf-8"))
        total = sum(float(v) for v in data["timings_s"].values())
        cores = (data.get("provenance") or {}).get("hardware", {}).get("cpu_cores")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return "an unmeasured time"
    where = f" on {cores} cores" if cores else ""
    return f"{total / 60:.0f} min{where}, {total:,.0f} s"


def build_first_reranker(play, progress=None, size: str = FIRST_SIZE):
    """Build the ``size`` replica (random weights, real architecture) into :func:`target_folder` and offer it.

    Sets ``play.models_dir`` to that folder when the app had none, then rediscovers the rerankers
    (``play.refresh()``). A replica already there is reused. A build's time is recorded for :func:`size_choices`.

    Args:
        play: The app's :class:`~demo.search.playground.Playground`.
        progress: Called with (fraction, description) before the build and when it is done.
        size: An Ettin size (``17m`` … ``1b``).

    Returns:
        The new :class:`~demo.sources.choices.RerankerChoice`.

    Raises:
        FirstRunError: an unknown size, or the folder cannot be written.
    """
    import time

    from ettin import registry
    from ettin.replica import METADATA_FILE, build_replica

    if size not in registry.RERANKERS:
        raise FirstRunError(f"unknown size {str(size)[:20]!r}: choose one of {', '.join(registry.RERANKERS)}")
    folder = target_folder(play)
    with _BUILDING:
        if progress:
            progress(0.05, f"building the {size} replica in {shown_path(folder / size)} ({_build_time_text(size)})")
        reused = (folder / size / METADATA_FILE).is_file()
        t0 = time.perf_counter()
        try:
            build_replica(size, folder / size, seed=0)
        except OSError as exc:  # no permission, a folder that is not a replica, a full disk
            raise FirstRunError(
                f"cannot build the replica in {shown_path(folder / size)}: {exc.__class__.__name__}: "
                f"{exc.strerror or exc}"
                "; start the app with --models-dir pointing to a folder you can write"
            ) from None
        if not reused:
            _record_build_time(size, time.perf_counter() - t0)
        if play.models_dir is None:
            play.models_dir = folder.resolve()
        play.refresh()
    if progress:
        progress(1.0, "done")
    choice = next((c for c in play.rerankers if c.key == size), None)
    if choice is None:  # the models folder holds one model itself, not sub-folders
        raise FirstRunError(f"built {shown_path(folder / size)}, but the models folder is a model itself: start "
                            "the app with --models-dir pointing to its parent")
    return choice
