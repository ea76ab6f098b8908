"""The exported CPU runtimes a reranker's forward passes can run on, beside torch: ONNX Runtime (fp32, dynamic int8)
and OpenVINO (fp32, bf16 where the CPU computes it natively, NNCF static int8).

A :class:`Backend` runs one padded batch (int64 token arrays, as :func:`ettin.runtime.fast.padded_batch` makes them)
and returns one raw score per row; ``Reranker.score_pairs`` keeps the tokenisation and the length-sorted batching, so
a backend never computes on more padding than torch does. Each runtime gets one thread per physical core; OpenVINO
also pins them (``ENABLE_CPU_PINNING``) and runs one latency stream, and is told ``f32`` explicitly for fp32 and int8
(its default on a bf16 CPU is bf16).
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ettin.runtime.exports import ExportError, model_file

__all__ = ["SETTINGS", "Backend", "backend_missing_reason", "load_backend"]

SETTINGS: tuple[tuple[str, str], ...] = (
    ("onnxruntime", "fp32"),
    ("onnxruntime", "int8"),
    ("openvino", "fp32"),
    ("openvino", "bf16"),
    ("openvino", "int8"),
)
"""Every (backend, precision) an export can run in."""

_NEEDS = {
    ("onnxruntime", "fp32"): ("onnx", "onnxscript", "onnxruntime"),
    ("onnxruntime", "int8"): ("onnx", "onnxscript", "onnxruntime"),
    ("openvino", "fp32"): ("onnx", "onnxscript", "openvino"),
    ("openvino", "bf16"): ("onnx", "onnxscript", "openvino"),
    ("openvino", "int8"): ("onnx", "onnxscript", "openvino", "nncf"),
}


def backend_missing_reason(backend: str, precision: str, device: str = "cpu") -> str | None:
    """Why (backend, precision) cannot run here (``None`` when it can): a GPU device, a package not installed, or bf16
    on a CPU without native bf16 (the project's own detection, :func:`~ettin.runtime.device.cpu_has_native_bf16`)."""
    from ettin.runtime.device import cpu_has_native_bf16

    if (backend, precision) not in _NEEDS:
        return f"{backend} has no {precision} setting (settings: {', '.join('/'.join(s) for s in SETTINGS)})"
    if not device.startswith("cpu"):
        return f"the exported backends run on the CPU; this reranker runs on {device}"
    missing = [name for name in _NEEDS[(backend, precision)] if importlib.util.find_spec(name) is None]
    if missing:
        return f"{', '.join(missing)} not installed (pip install -r requirements.txt)"
    if precision == "bf16" and not cpu_has_native_bf16():
        return "this CPU has no native bf16 (AVX512-BF16/AMX): bf16 would be emulated and slower"
    return None


@dataclass
class Backend:
    """One export loaded in its runtime, ready to score padded batches from any thread.

    Attributes:
        name: ``onnxruntime`` or ``openvino``.
        precision: ``fp32``, ``bf16`` or ``int8``.
        folder: The artifact folder it was loaded from.
        inputs: The input names the export takes (``token_type_ids`` only for models that use token types).
        threads: Threads it runs on.
        verdict: The gate's verdict on it (set once judged).
    """

    name: str
    precision: str
    folder: Path
    inputs: tuple[str, ...]
    threads: int
    _session: Any = field(repr=False)
    verdict: dict[str, Any] | None = None
    _local: threading.local = field(default_factory=threading.local, repr=False)

    def run(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        """Raw scores (float32, one per row) of one padded batch."""
        feed = {name: np.ascontiguousarray(arrays[name], dtype=np.int64) for name in self.inputs}
        if self.name == "onnxruntime":
            out = self._session.run(None, feed)[0]
        else:
            request = getattr(self._local, "request", None)
            if request is None:  # one infer request per thread: a request is not shared between threads
                request = self._local.request = self._session.create_infer_request()
            out = request.infer(feed)[0]
        return np.asarray(out, dtype=np.float32).reshape(-1)

    @property
    def export_id(self) -> str:
        """The export it runs (weights hash, max length, export format and artifact): part of a score's identity."""
        return f"{self.folder.parent.name}/{self.folder.name}"

    def provenance(self) -> dict[str, Any]:
        from ettin.runtime.exports import recipe

        return {"backend": self.name, "precision": self.precision, "export": self.export_id, "recipe": recipe(self.folder),
                "threads": self.threads, "gate": self.verdict}  # fmt: skip


def _onnxruntime_session(path: Path, threads: int) -> tuple[Any, tuple[str, ...]]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session, tuple(i.name for i in session.get_inputs())


def _openvino_model(path: Path, precision: str, threads: int) -> tuple[Any, tuple[str, ...]]:
    import openvino as ov

    config = {
        "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_NUM_THREADS": threads,
        "ENABLE_CPU_PINNING": True,
    }
    compiled = ov.Core().compile_model(str(path), "CPU", config)
    return compiled, tuple(port.any_name for port in compiled.inputs)


def load_backend(folder: Path, backend: str, precision: str, threads: int | None = None) -> Backend:
    """Open an artifact folder in its runtime.

    Raises:
        ExportError: the runtime cannot read the export (a damaged or foreign file).
    """
    from ettin.runtime.device import physical_cores

    threads = threads or physical_cores()
    path = model_file(folder)
    try:
        if backend == "onnxruntime":
            session, inputs = _onnxruntime_session(path, threads)
        else:
            session, inputs = _openvino_model(path, precision, threads)
    except Exception as exc:  # noqa: BLE001 - an unreadable export is a reason to stay on torch, not a crash
        raise ExportError(f"{backend} cannot read the {folder.name} export: {type(exc).__name__}: {str(exc)[:300]}") from exc
    return Backend(backend, precision, folder, inputs, threads, session)
