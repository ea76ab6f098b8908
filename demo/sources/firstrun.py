"""First run without models: build the 17m replica into the models folder so the app has a reranker to show.

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
    "FIRST_SIZE",
    "PROOF_RUN_REPORT",
    "FirstRunError",
    "build_first_reranker",
    "needs_first_run",
    "proof_run_time",
    "shown_path",
    "target_folder",
]

FIRST_SIZE = "17m"
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


def build_first_reranker(play, progress=None):
    """Build the 17m replica (random weights, real architecture) into :func:`target_folder` and offer it.

    Sets ``play.models_dir`` to that folder when the app had none, then rediscovers the rerankers
    (``play.refresh()``). A replica already there is reused.

    Args:
        play: The app's :class:`~demo.search.playground.Playground`.
        progress: Called with (fraction, description) before the build and when it is done.

    Returns:
        The new :class:`~demo.sources.choices.RerankerChoice`.

    Raises:
        FirstRunError: the folder cannot be written.
    """
    from ettin.replica import build_replica

    folder = target_folder(play)
    with _BUILDING:
        if progress:
            progress(0.05, f"building the {FIRST_SIZE} replica in {shown_path(folder / FIRST_SIZE)} (about 10 s)")
        try:
            build_replica(FIRST_SIZE, folder / FIRST_SIZE, seed=0)
        except OSError as exc:  # no permission, a folder that is not a replica, a full disk
            raise FirstRunError(
                f"cannot build the replica in {shown_path(folder / FIRST_SIZE)}: {exc.__class__.__name__}: "
                f"{exc.strerror or exc}"
                "; start the app with --models-dir pointing to a folder you can write"
            ) from None
        if play.models_dir is None:
            play.models_dir = folder.resolve()
        play.refresh()
    if progress:
        progress(1.0, "done")
    choice = next((c for c in play.rerankers if c.key == FIRST_SIZE), None)
    if choice is None:  # the models folder holds one model itself, not sub-folders
        raise FirstRunError(f"built {shown_path(folder / FIRST_SIZE)}, but the models folder is a model itself: start "
                            "the app with --models-dir pointing to its parent")
    return choice
