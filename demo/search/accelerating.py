"""Faster scoring while the app serves: the exported backend (ONNX Runtime or OpenVINO, :mod:`ettin.runtime.accelerate`)
of a reranker built, judged by the correctness gate and swapped in in the background, while searches keep running on
torch; and the words that say where a rerank ran.

The app starts a build for its start-up reranker once it is loaded (:mod:`demo.search.warmup`); builds run one at a
time, in a niced child process. Exports and the gate's verdicts persist in the cache folder (``$ETTIN_CACHE``; on a
Space its persistent storage when mounted), so a restart opens the chosen export without building or judging again.
"""

from __future__ import annotations

import os
import threading

from demo.sources.choices import RerankerChoice
from ettin.pipeline import InputError
from ettin.runtime import BACKENDS

__all__ = ["AccelerateMixin", "backend_mode", "runtime_text"]

BACKEND_NAMES = {"onnxruntime": "ONNX Runtime", "openvino": "OpenVINO", "torch": "torch"}


def backend_mode(value: str | None = None) -> str:
    """The backend the app builds for its rerankers (``value``, else ``$ETTIN_BACKEND``, else ``auto``), checked;
    ``torch`` builds nothing.

    Raises:
        InputError: a value not in :data:`~ettin.runtime.BACKENDS`, naming the allowed ones.
    """
    mode = (value if value is not None else os.environ.get("ETTIN_BACKEND", "auto")).strip().lower()
    if mode not in BACKENDS:
        raise InputError(f"backend must be one of {', '.join(BACKENDS)} (--backend or $ETTIN_BACKEND), not {mode[:40]!r}")
    return mode


def runtime_text(model, build=None) -> str:
    """Where ``model``'s forward passes run now, for the page and the API (e.g. ``OpenVINO fp32``, ``torch``), with
    the background build's state while there is one (``torch; OpenVINO/ONNX Runtime being built``)."""
    backend = getattr(model, "backend", None)
    if backend is not None:
        return f"{BACKEND_NAMES.get(backend.name, backend.name)} {backend.precision}"
    if build is not None and build.state in ("queued", "building"):
        return "torch; a faster backend is being built in the background (it is swapped in when it passes the gate)"
    if build is not None and build.state in ("torch", "failed"):
        reason = build.error or (build.choice.reason if build.choice is not None else "")
        return f"torch (kept: {reason[:160]})" if reason else "torch"
    return "torch"


class AccelerateMixin:
    """Background backend builds for :class:`~demo.search.playground.Playground`.

    Uses the playground's ``backend`` mode (:func:`backend_mode`) and ``reranker`` from
    :class:`~demo.search.loading.LoadingMixin`.
    """

    backend: str
    _builds: dict
    _build_lock: threading.Lock
    _serial_builds: threading.Lock
    _builds_stopped = False  # set by stop_builds: no build starts after

    def accelerate(self, choice: RerankerChoice, precision: str = "auto"):
        """Start building the fastest gated backend for ``choice`` (loaded in ``precision``) in the background, once;
        the model keeps serving on torch until it is swapped in.

        Returns:
            The :class:`~ettin.runtime.accelerate.BackendBuild` (the one already started, if any); ``None`` when this
            playground builds none (backend ``torch``, or after :meth:`stop_builds`) or the model already runs on one.
        """
        from ettin.runtime import start_backend_build

        if self.backend == "torch":
            return None
        key = (choice.spec, precision)  # a fused system and its reranker share one loaded model
        with self._build_lock:
            if self._builds_stopped:
                return self._builds.get(key)
            if key not in self._builds:
                model = self.reranker(choice, precision)
                if model.backend is not None:
                    return None
                self._builds[key] = start_backend_build(model, self.backend, "auto", lock=self._serial_builds)
            return self._builds[key]

    def stop_builds(self, timeout: float | None = 60.0) -> None:
        """Cancel every background build (its child process killed, nothing swapped in) and start none after; waits up
        to ``timeout`` seconds for each to end."""
        with self._build_lock:
            self._builds_stopped = True
            builds = list(self._builds.values())
        for build in builds:
            build.cancel(timeout)

    def backend_build(self, choice: RerankerChoice | None, precision: str = "auto"):
        """The background build started for ``choice`` in ``precision`` (``None``: none was)."""
        return None if choice is None else self._builds.get((choice.spec, precision))
