"""``python -m ettin.runtime.worker JOB``: the child process of :func:`ettin.runtime.accelerate.start_backend_build`.

``JOB`` is JSON: the reranker's ``source`` and ``settings`` (as dictionaries), and the ``backend`` and ``precision``
asked. The worker loads the reranker on torch, builds, judges and times the exports (:func:`prepare_backend`), which
leaves them and their verdicts in the cache, prints the choice's reason and exits 0; a failure exits 1 with the reason
on standard error. It runs at a lower CPU priority (``nice`` 10), so the process that serves keeps its latency, and
it ends itself when the process that started it is gone (killed, so that it could not kill its child first).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Sequence

__all__ = ["exit_with_parent", "main"]

PARENT_POLL_S = 1.0


def exit_with_parent(poll_s: float = PARENT_POLL_S) -> threading.Thread:
    """Watch, in a daemon thread, for this process's parent to end (the process is then re-parented, so its parent
    pid changes) and exit at once when it does: a build must not outlive the app it was building for."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)

    thread = threading.Thread(target=watch, name="ettin-parent-watch", daemon=True)
    thread.start()
    return thread


def main(argv: Sequence[str] | None = None) -> int:
    """Run one build job; returns the exit status."""
    from ettin.runtime.accelerate import prepare_backend
    from ettin.runtime.device import RuntimeSettings
    from ettin.runtime.models import load_reranker
    from ettin.runtime.sources import ModelSource

    args = list(sys.argv[1:] if argv is None else argv)
    exit_with_parent()
    if hasattr(os, "nice"):
        os.nice(10)
    try:
        job = json.loads(args[0])
        reranker = load_reranker(ModelSource(**job["source"]), RuntimeSettings(**job["settings"]))
        choice = prepare_backend(reranker, job["backend"], job["precision"], log=lambda line: None)
    except Exception as exc:  # noqa: BLE001 - the parent logs this one line and keeps torch
        print(f"{type(exc).__name__}: {str(exc)[:500]}", file=sys.stderr)
        return 1
    print(choice.reason)
    return 0


if __name__ == "__main__":
    sys.exit(main())
