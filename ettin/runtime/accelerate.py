"""Choosing, building, gating and attaching an exported backend to a loaded reranker; synchronously or in the
background with a swap once it is ready.

:func:`prepare_backend` builds (once, cached) the exports a request covers, judges each with the gate
(:mod:`ettin.runtime.gate`) against torch fp32 on fixed SciFact pairs, times the ones that pass on those pairs, and picks
the fastest; ``auto`` keeps torch when no export beats it. Verdicts and timings are remembered per machine in the
export folder (``gate-<machine>.json``), so a later load opens the chosen export without judging again. Whatever
fails (a package missing, an exporter error, NaN, a damaged file, a failed gate) is one reason in the choice, and
the reranker keeps scoring on torch.

:func:`start_backend_build` does the same while the reranker serves: the exports are built and judged in a child
process (``torch.onnx.export`` traces modules process-wide, which must not happen beside other threads' forward passes,
and a crash there cannot take the server down); then the chosen backend is loaded here and swapped in with
``Reranker.use_backend``: a search running meanwhile finishes on torch, the next one runs on the export.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ettin.runtime.backends import SETTINGS, Backend, backend_missing_reason, load_backend
from ettin.runtime.exports import PROVENANCE_FILE, ExportError, artifact_folder, ensure_artifact, export_root
from ettin.runtime.fast import encode_pairs, fast_path_supported, padded_batch, score_pairs_fast
from ettin.runtime.gate import describe_pairs, gate_pairs, judge, padding_probe, score_batches

__all__ = [
    "BackendBuild",
    "BackendChoice",
    "attach_backend",
    "candidate_settings",
    "machine_key",
    "open_setting",
    "prepare_backend",
    "start_backend_build",
]

logger = logging.getLogger("ettin.runtime")

CALIBRATION_PAIRS = 64
TIMING_BATCH = 8
"""Batch size of the gate's timing pass (the best plain batch on a 2-core CPU, see the stack notes)."""


@dataclass
class BackendChoice:
    """What :func:`prepare_backend` decided: the backend to run (``None``: torch), why, and every verdict."""

    backend: Backend | None
    reason: str
    verdicts: dict[str, dict[str, Any]] = field(default_factory=dict)
    """``"backend/precision"`` -> the gate's verdict, its timing on the gate pairs, or why it could not run."""
    torch_pairs_per_s: float | None = None


def candidate_settings(backend: str, precision: str) -> list[tuple[str, str]]:
    """The (backend, precision) settings a request covers: ``auto`` is every backend, and precision ``auto`` every
    precision of it (``fp32`` asks for the lossless ones only)."""
    return [(b, p) for b, p in SETTINGS if backend in ("auto", b) and precision in ("auto", p)]


def machine_key() -> str:
    """A short name of this machine for remembered verdicts and timings: CPU, cores, native bf16, threads, packages."""
    import torch

    from ettin.provenance import BACKEND_PACKAGES, package_versions
    from ettin.runtime.device import cpu_has_native_bf16, cpu_model, physical_cores

    facts = [cpu_model(), os.cpu_count(), physical_cores(), cpu_has_native_bf16(), torch.__version__,
             torch.get_num_threads(), package_versions(BACKEND_PACKAGES)]  # fmt: skip
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class _Judge:
    """One reranker's gate run: its gate pairs, torch fp32 reference scores (computed once, on demand) and the
    remembered verdicts of this machine."""

    def __init__(self, reranker: Any, pairs: Sequence[tuple[str, str]], log: Callable[[str], None]):
        self.reranker, self.pairs, self.log = reranker, list(pairs), log
        tokenizer = reranker.model[0].tokenizer
        self.max_length = int(reranker.settings.max_length or reranker.model.max_seq_length)
        self.encoded = encode_pairs(tokenizer, self.pairs, self.max_length)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.weights = reranker.weights_hash()
        self.root = export_root(self.weights, self.max_length)
        self.file = self.root / f"gate-{machine_key()}.json"
        self.record = self._read()
        self._reference: Any = None
        self._reference_scores: np.ndarray | None = None
        self.loaded: dict[str, Backend] = {}

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
            if data.get("schema") == "ettin.gate/1" and data.get("pairs") == describe_pairs(self.pairs):
                return data
        except (OSError, ValueError):
            pass
        return {"schema": "ettin.gate/1", "pairs": describe_pairs(self.pairs), "verdicts": {}, "torch": {}}

    def save(self) -> None:
        from ettin.io import write_json_atomic
        from ettin.provenance import base_provenance

        write_json_atomic(self.file, {**self.record, "model": self.describe(), "provenance": base_provenance()})

    def describe(self) -> dict[str, Any]:
        prov = self.reranker.provenance()
        return {"id": prov["id"], "revision": prov["revision"], "weights_sha256": self.weights,
                "random_init": prov["random_init"], "max_length": self.max_length}  # fmt: skip

    def reference(self) -> Any:
        """The torch fp32 reranker: this one when it already is, otherwise an fp32 copy (loaded once)."""
        if self._reference is None:
            settings = self.reranker.settings
            fp32 = settings.dtype == "float32" and settings.attn_implementation in ("sdpa", "eager")
            self._reference = self.reranker if fp32 else self.reranker.fp32_copy()
        return self._reference

    def reference_scores(self) -> np.ndarray:
        if self._reference_scores is None:
            self._reference_scores = score_pairs_fast(self.reference().model, self.pairs, batch_size=TIMING_BATCH)
        return self._reference_scores

    def calibration(self) -> list[dict[str, np.ndarray]]:
        from ettin.runtime.gate import scifact_pairs

        enc = encode_pairs(self.reranker.model[0].tokenizer, scifact_pairs(CALIBRATION_PAIRS, seed=1), self.max_length)
        lengths = np.array([len(x) for x in enc["input_ids"]])
        return [padded_batch(enc["input_ids"], enc.get("token_type_ids"), lengths, np.array([i]), self.pad_id)
                for i in range(len(lengths))]  # fmt: skip

    def _artifact_sha(self, folder: Path) -> str | None:
        try:
            info = json.loads((folder / PROVENANCE_FILE).read_text(encoding="utf-8"))
            return hashlib.sha256(json.dumps(info["files"], sort_keys=True).encode()).hexdigest()[:16]
        except (OSError, ValueError, KeyError):
            return None

    def verdict(self, backend: str, precision: str) -> dict[str, Any]:
        """The remembered verdict of (backend, precision) if its export is unchanged, else build, judge and time it."""
        key = f"{backend}/{precision}"
        folder = ensure_artifact(
            self.root, backend, precision, reference=self.reference, pairs=self.pairs, calibration=self.calibration,
            describe=self.describe(),
        )
        known = self.record["verdicts"].get(key)
        if known and known.get("artifact") == self._artifact_sha(folder):
            return known
        self.log(f"  gate: {key} on {describe_pairs(self.pairs)}")
        loaded = load_backend(folder, backend, precision)
        scores = score_batches(loaded.run, self.encoded, self.pad_id, TIMING_BATCH)
        found = judge(self.reference_scores(), scores, precision, padding_probe(self.encoded, self.pad_id, loaded.run))
        if found["passed"]:
            t0 = time.perf_counter()
            score_batches(loaded.run, self.encoded, self.pad_id, TIMING_BATCH)
            found["pairs_per_s"] = round(len(self.pairs) / (time.perf_counter() - t0), 3)
        loaded.verdict = found
        self.loaded[key] = loaded
        found["artifact"] = self._artifact_sha(folder)
        self.record["verdicts"][key] = found
        return found

    def torch_speed(self) -> float:
        """pairs/s of the reranker's own torch model on the gate pairs (remembered per dtype and attention)."""
        s = self.reranker.settings
        key = f"{s.dtype}/{s.attn_implementation}"
        if key not in self.record["torch"]:
            model = self.reranker.model
            score_pairs_fast(model, self.pairs[:TIMING_BATCH], batch_size=TIMING_BATCH)
            t0 = time.perf_counter()
            score_pairs_fast(model, self.pairs, batch_size=TIMING_BATCH)
            self.record["torch"][key] = round(len(self.pairs) / (time.perf_counter() - t0), 3)
        return float(self.record["torch"][key])


def open_setting(
    reranker: Any, backend: str, precision: str, pairs: Sequence[tuple[str, str]] | None = None,
    log: Callable[[str], None] = logger.info,
) -> tuple[Backend | None, dict[str, Any]]:
    """One (backend, precision) built, judged and opened whatever its verdict, for measuring it (``eval speed``);
    scoring code uses :func:`prepare_backend`, which never returns a setting that failed the gate.

    Returns:
        The opened backend (``None`` when it cannot run or be built) and its verdict (or why it could not run).
    """
    reason = _unsupported(reranker) or backend_missing_reason(backend, precision, reranker.settings.device)
    if reason:
        return None, {"passed": False, "reason": reason, "skipped": True}
    judge_run = _Judge(reranker, pairs or gate_pairs(), log)
    key = f"{backend}/{precision}"
    try:
        verdict = judge_run.verdict(backend, precision)
        opened = judge_run.loaded.get(key) or load_backend(artifact_folder(judge_run.root, backend, precision), backend, precision)
    except ExportError as exc:
        return None, {"passed": False, "reason": str(exc)}
    finally:
        judge_run.save()
    opened.verdict = verdict
    return opened, verdict


def _unsupported(reranker: Any) -> str | None:
    if not fast_path_supported(reranker.model):
        return "this model needs CrossEncoder.predict (prompt, left padding or unpadded inputs), which runs on torch only"
    if not str(reranker.settings.device).startswith("cpu"):
        return f"the exported backends run on the CPU; this reranker runs on {reranker.settings.device}"
    if reranker.weights_hash() is None:
        return "its weight files cannot be hashed here (needed to key the exports)"
    return None


def _pick(verdicts: dict[str, dict[str, Any]], torch_pps: float | None) -> str | None:
    passed = {k: v for k, v in verdicts.items() if v.get("passed") and v.get("pairs_per_s")}
    if not passed:
        return None
    best = max(passed, key=lambda k: passed[k]["pairs_per_s"])
    return best if torch_pps is None or passed[best]["pairs_per_s"] > torch_pps else None


def _reason(pick: str | None, verdicts: dict[str, dict[str, Any]], torch_pps: float | None) -> str:
    if pick is not None:
        v = verdicts[pick]
        faster = f", {v['pairs_per_s'] / torch_pps:.2f}x torch on them" if torch_pps else ""
        return f"{pick}: passed the gate ({v['reason']}; {v['rule']}, on {v.get('n_pairs')} pairs){faster}"
    failed = "; ".join(f"{k}: {v.get('reason')}" for k, v in verdicts.items() if not v.get("passed"))
    if torch_pps is not None and any(v.get("passed") for v in verdicts.values()):
        also = f"; {failed}" if failed else ""
        return f"no export is faster than torch here ({torch_pps:.1f} pairs/s on the gate pairs){also}; scoring stays on torch"
    return f"no export passed ({failed or 'none could run'}); scoring stays on torch"


def prepare_backend(
    reranker: Any,
    backend: str = "auto",
    precision: str = "auto",
    *,
    pairs: Sequence[tuple[str, str]] | None = None,
    log: Callable[[str], None] = logger.info,
) -> BackendChoice:
    """Build, judge and time the exports ``backend``/``precision`` cover, and pick one (nothing is attached).

    Args:
        backend: ``auto`` (every backend; an export is picked only when faster than the reranker's torch model on
            the gate pairs), ``onnxruntime`` or ``openvino`` (its fastest passing precision), or ``torch``.
        precision: ``auto``, ``fp32``, ``bf16`` or ``int8``.
        pairs: The gate's pairs (default :func:`~ettin.runtime.gate.gate_pairs`).

    Never raises for a setting that cannot run: its reason is in the choice's ``verdicts``.
    """
    if backend == "torch":
        return BackendChoice(None, "torch requested")
    reason = _unsupported(reranker)
    if reason:
        return BackendChoice(None, f"{reason}; scoring stays on torch")
    wanted = candidate_settings(backend, precision)
    if not wanted:
        return BackendChoice(None, f"{backend} has no {precision} setting; scoring stays on torch")
    judge_run = _Judge(reranker, pairs or gate_pairs(), log)
    verdicts: dict[str, dict[str, Any]] = {}
    for b, p in wanted:
        missing = backend_missing_reason(b, p, reranker.settings.device)
        if missing:
            verdicts[f"{b}/{p}"] = {"passed": False, "reason": missing, "skipped": True}
            continue
        try:
            verdicts[f"{b}/{p}"] = judge_run.verdict(b, p)
        except ExportError as exc:
            verdicts[f"{b}/{p}"] = {"passed": False, "reason": str(exc)}
        except Exception as exc:  # noqa: BLE001 - a runtime failing on the gate pairs is a reason, never a crash
            failure = f"{b} failed on the gate pairs: {type(exc).__name__}: {str(exc)[:200]}"
            verdicts[f"{b}/{p}"] = {"passed": False, "reason": failure}
    torch_pps = judge_run.torch_speed() if backend == "auto" else None
    judge_run.save()
    pick = _pick(verdicts, torch_pps)
    chosen = None
    if pick is not None:
        chosen = judge_run.loaded.get(pick)
        if chosen is None:
            b, p = pick.split("/")
            try:
                chosen = load_backend(artifact_folder(judge_run.root, b, p), b, p)
            except ExportError as exc:
                verdicts[pick] = {**verdicts[pick], "passed": False, "reason": str(exc)}
                return BackendChoice(None, _reason(None, verdicts, torch_pps), verdicts, torch_pps)
            chosen.verdict = verdicts[pick]
    return BackendChoice(chosen, _reason(pick, verdicts, torch_pps), verdicts, torch_pps)


def attach_backend(reranker: Any, backend: str = "auto", precision: str = "auto", **kw: Any) -> BackendChoice:
    """:func:`prepare_backend`, then run the reranker on the choice (``Reranker.use_backend``); a fallback to torch
    is logged once, with its reason."""
    choice = prepare_backend(reranker, backend, precision, **kw)
    reranker.use_backend(choice.backend, choice.reason)
    if choice.backend is None and backend != "torch":
        logger.warning("%s (%s %s): %s", reranker.name, backend, precision, choice.reason)
    else:
        logger.info("%s: %s", reranker.name, choice.reason)
    return choice


class BackendBuild:
    """A backend being built for a reranker that keeps serving on torch meanwhile (:func:`start_backend_build`);
    :meth:`cancel` stops it.

    Attributes:
        done: Set once the build ended (swapped in or not).
        choice: The :class:`BackendChoice` (``None`` until done, or when the build itself failed).
        error: Why the build failed (``None`` unless it did).
    """

    CANCELLED = "cancelled (its app or playground closed)"

    def __init__(self, reranker: Any, backend: str, precision: str, isolate: bool,
                 on_done: Callable[[BackendBuild], None] | None, lock: Any = None):  # fmt: skip
        self.reranker, self.backend, self.precision, self.isolate = reranker, backend, precision, isolate
        self.on_done, self.lock = on_done, lock
        self.started = threading.Event()
        self.done = threading.Event()
        self.choice: BackendChoice | None = None
        self.error: str | None = None
        self.thread = threading.Thread(target=self._run, name=f"ettin-backend-{reranker.name}", daemon=True)
        self._cancelled = threading.Event()
        self._child_lock = threading.Lock()
        self._child: subprocess.Popen | None = None

    def cancel(self, timeout: float | None = 60.0) -> None:
        """Stop the build: its child process is killed, nothing is swapped in, and its thread is waited for (up to
        ``timeout`` seconds; a backend already being loaded here finishes loading first)."""
        self._cancelled.set()
        with self._child_lock:
            if self._child is not None and self._child.poll() is None:
                self._child.kill()
        if self.thread.ident is not None:
            self.thread.join(timeout)

    def _child_started(self, child: subprocess.Popen) -> None:
        with self._child_lock:
            self._child = child
            if self._cancelled.is_set():
                child.kill()

    @property
    def state(self) -> str:
        """``queued`` (waiting for another build sharing its lock), ``building``, ``ready`` (a backend swapped in),
        ``torch`` (judged: torch stays, e.g. no export passed the gate or beat it) or ``failed``."""
        if not self.done.is_set():
            return "building" if self.started.is_set() else "queued"
        if self.error is not None:
            return "failed"
        return "ready" if self.choice is not None and self.choice.backend is not None else "torch"

    def _run(self) -> None:
        if self.lock is None:
            self._build()
        else:
            with self.lock:  # one build at a time among the builds sharing it
                self._build()

    def _build(self) -> None:
        self.started.set()
        try:
            if self.isolate and not self._cancelled.is_set():
                self.error = build_in_child(self.reranker, self.backend, self.precision, started=self._child_started)
            if self._cancelled.is_set():
                self.error = self.CANCELLED
            if self.error is None:
                self.choice = attach_backend(self.reranker, self.backend, self.precision)
        except Exception as exc:  # noqa: BLE001 - a failed build leaves the reranker on torch
            self.error = f"{type(exc).__name__}: {str(exc)[:300]}"
        if self.error == self.CANCELLED:
            logger.info("%s: the %s backend build was %s", self.reranker.name, self.backend, self.error)
        elif self.error is not None:
            logger.warning("%s: building the %s backend failed, scoring stays on torch: %s", self.reranker.name,
                           self.backend, self.error)  # fmt: skip
        self.done.set()
        if self.on_done is not None:
            self.on_done(self)

    def wait(self, timeout: float | None = None) -> BackendChoice | None:
        """The choice once the build ended (``None`` on a timeout or a failed build)."""
        self.done.wait(timeout)
        return self.choice


def start_backend_build(
    reranker: Any,
    backend: str = "auto",
    precision: str = "auto",
    *,
    isolate: bool = True,
    on_done: Callable[[BackendBuild], None] | None = None,
    lock: Any = None,
) -> BackendBuild:
    """Build, judge and attach a backend in the background while ``reranker`` keeps scoring on torch.

    With ``isolate`` (the default) the exports are built and judged in a child process (``python -m
    ettin.runtime.worker``), which leaves their verdicts in the cache; this process then only opens the chosen export
    and swaps it in. ``on_done(build)`` runs in the build's thread once it ended. Builds given the same ``lock`` (a
    ``threading.Lock``) run one at a time.
    """
    build = BackendBuild(reranker, backend, precision, isolate, on_done, lock)
    build.thread.start()
    return build


def build_in_child(reranker: Any, backend: str, precision: str, timeout: float = 3600,
                   started: Callable[[subprocess.Popen], None] | None = None) -> str | None:  # fmt: skip
    """Run :func:`prepare_backend` for ``reranker`` in a child process; ``None`` on success, else why it failed.

    ``started(child)`` is called with the child process once it runs (so that :meth:`BackendBuild.cancel` can kill it).
    """
    from dataclasses import asdict

    from ettin.paths import PROJECT_ROOT

    job = {"source": asdict(reranker.source), "settings": {**asdict(reranker.settings), "backend": "torch"},
           "backend": backend, "precision": precision}  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")])}
    try:
        with subprocess.Popen([sys.executable, "-m", "ettin.runtime.worker", json.dumps(job)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as child:  # fmt: skip
            if started is not None:
                started(child)
            try:
                _, stderr = child.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                raise
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"the build process did not finish: {type(exc).__name__}: {exc}"
    if child.returncode != 0:
        return f"the build process failed (exit {child.returncode}): {stderr.strip()[-300:]}"
    return None
