"""Exports of a reranker for the CPU runtimes, built once per (weights hash, backend, precision, max length).

The path the stack allows (measured: see the project's stack notes): ``torch.onnx.export(dynamo=True)`` of the whole
scoring model (encoder, pooling and head; raw logits), with dynamic batch and sequence axes, is the ONNX Runtime fp32
export; ``onnxruntime.quantization.quantize_dynamic`` makes its int8 twin; OpenVINO reads that ONNX and saves its IR
(fp32 and bf16 share it: bf16 is an inference-precision hint); ``nncf.quantize`` on calibration pairs makes the
OpenVINO int8 IR. sentence-transformers' own ``backend="onnx"/"openvino"`` needs optimum, whose exporters do not import
under transformers 5 and do not know ModernBERT, and converting the torch module straight to OpenVINO gave NaN on
padded batches: every export is gated (:mod:`ettin.runtime.gate`) before it is used.

Layout, under ``$ETTIN_CACHE/exports/<weights hash>-len<max length>-v<format>/``: one folder per artifact (``onnx``,
``onnx-int8``, ``openvino``, ``openvino-int8``), each built in a temporary folder and renamed into place with its
``provenance.json`` (what was exported, how, file sizes and SHA-256, package versions), so a reader sees a complete
export or none.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ettin.errors import UserError

__all__ = [
    "ARTIFACTS",
    "EXPORT_FORMAT",
    "PROVENANCE_FILE",
    "ExportError",
    "artifact_folder",
    "ensure_artifact",
    "export_root",
    "model_file",
    "recipe",
    "verify_artifact",
]

logger = logging.getLogger("ettin.runtime")

EXPORT_FORMAT = 2
"""Bumped when the export recipe changes; older exports are then never read (2: per-channel ONNX Runtime int8)."""
PROVENANCE_FILE = "provenance.json"
ONNX_OPSET = 18
"""ONNX Runtime 1.32 rejects the opset-23 export of ModernBERT (fused rotary embedding: a cos/sin cache shape error)."""

ARTIFACTS: dict[tuple[str, str], str] = {
    ("onnxruntime", "fp32"): "onnx",
    ("onnxruntime", "int8"): "onnx-int8",
    ("openvino", "fp32"): "openvino",
    ("openvino", "bf16"): "openvino",
    ("openvino", "int8"): "openvino-int8",
}
"""(backend, precision) -> the artifact folder it runs from."""
_MODEL_FILE = {"onnx": "model.onnx", "onnx-int8": "model.onnx", "openvino": "model.xml", "openvino-int8": "model.xml"}


class ExportError(UserError, RuntimeError):
    """An export could not be built or read; the runtime falls back to torch and logs the message."""


def export_root(weights_sha256: str, max_length: int) -> Path:
    """The folder of every export of one set of weights at one max length."""
    from ettin.paths import cache_dir

    return cache_dir() / "exports" / f"{weights_sha256[:24]}-len{max_length}-v{EXPORT_FORMAT}"


def artifact_folder(root: Path, backend: str, precision: str) -> Path:
    return root / ARTIFACTS[(backend, precision)]


def recipe(folder: Path) -> str | None:
    """How an artifact folder was made (from its provenance), ``None`` when unreadable."""
    import json

    try:
        return json.loads((folder / PROVENANCE_FILE).read_text(encoding="utf-8")).get("recipe")
    except (OSError, ValueError):
        return None


def model_file(folder: Path) -> Path:
    """The file a runtime opens in an artifact folder."""
    return folder / _MODEL_FILE[folder.name]


def verify_artifact(folder: Path) -> str | None:
    """Why ``folder`` is not a complete export (``None`` when it is): no provenance, or a file whose size differs
    from the one recorded (a truncated or replaced file)."""
    import json

    try:
        info = json.loads((folder / PROVENANCE_FILE).read_text(encoding="utf-8"))
        files = info["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return "it has no readable provenance"
    for name, meta in files.items():
        path = folder / name
        if not path.is_file() or path.stat().st_size != meta["bytes"]:
            return f"{name} is missing or not the size recorded when it was built"
    return None


def _build_atomically(folder: Path, build: Callable[[Path], dict[str, Any]], describe: dict[str, Any]) -> Path:
    """Build into a temporary sibling, write ``provenance.json`` last, then rename into place; a damaged folder there is
    replaced, a complete one another process built meanwhile is kept."""
    from ettin.io import sha256_file, write_json_atomic
    from ettin.provenance import BACKEND_PACKAGES, base_provenance, package_versions

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        t0 = time.perf_counter()
        details = build(tmp)
        files = {p.name: {"bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in sorted(tmp.iterdir()) if p.is_file()}
        info = {"schema": "ettin.export/1", "format": EXPORT_FORMAT, **describe, **details, "files": files,
                "seconds": round(time.perf_counter() - t0, 2), **base_provenance(),
                "backend_packages": package_versions(BACKEND_PACKAGES)}  # fmt: skip
        write_json_atomic(tmp / PROVENANCE_FILE, info)
        if folder.exists() and verify_artifact(folder) is None:
            shutil.rmtree(tmp, ignore_errors=True)
            return folder
        if folder.exists():
            shutil.rmtree(folder)
        os.rename(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


class _Scorer:
    """Builds the torch module that is exported: the CrossEncoder's whole forward, from token arrays to raw scores."""

    @staticmethod
    def module(cross_encoder: Any, with_types: bool) -> Any:
        import torch

        class Scorer(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.cross_encoder = cross_encoder

            def forward(self, input_ids, attention_mask, token_type_ids=None):  # noqa: ANN001 - traced
                features = {"input_ids": input_ids, "attention_mask": attention_mask, "modality": "text"}
                if with_types:
                    features["token_type_ids"] = token_type_ids
                return self.cross_encoder(features)["scores"].reshape(-1).float()

        return Scorer().eval()


def _sample_arrays(cross_encoder: Any, pairs: Sequence[tuple[str, str]], max_length: int) -> dict[str, Any]:
    import numpy as np

    from ettin.runtime.fast import encode_pairs, padded_batch

    tokenizer = cross_encoder[0].tokenizer
    enc = encode_pairs(tokenizer, list(pairs)[:3], max_length)
    lengths = np.array([len(x) for x in enc["input_ids"]])
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    return padded_batch(enc["input_ids"], enc.get("token_type_ids"), lengths, np.arange(len(lengths)), pad)


def _export_onnx(cross_encoder: Any, pairs: Sequence[tuple[str, str]], max_length: int, out: Path) -> dict[str, Any]:
    """``torch.onnx.export(dynamo=True)`` of the scoring model with dynamic batch and sequence axes."""
    import torch
    from torch.export import Dim

    arrays = _sample_arrays(cross_encoder, pairs, max_length)
    names = list(arrays)
    module = _Scorer.module(cross_encoder, "token_type_ids" in arrays)
    batch, seq = Dim("batch", min=1, max=4096), Dim("sequence", min=2, max=max(3, max_length))
    args = tuple(torch.from_numpy(arrays[n]) for n in names)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module, args, dynamo=True, input_names=names, output_names=["scores"], opset_version=ONNX_OPSET,
            dynamic_shapes=tuple({0: batch, 1: seq} for _ in names), verbose=False,
        )
        program.save(str(out / "model.onnx"))
    return {"inputs": names, "recipe": f"torch.onnx.export(dynamo=True, opset {ONNX_OPSET}), dynamic batch and sequence"}


def _quantize_onnx(onnx_folder: Path, out: Path) -> dict[str, Any]:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # per-channel weight scales: on the trained MiniLM reranker, Spearman vs fp32 0.994 instead of 0.940 per tensor
    quantize_dynamic(str(model_file(onnx_folder)), str(out / "model.onnx"), weight_type=QuantType.QInt8, per_channel=True)
    return {"recipe": "onnxruntime.quantization.quantize_dynamic(weight_type=QInt8, per_channel=True) of the fp32 ONNX export"}


def _openvino_ir(onnx_folder: Path, out: Path) -> dict[str, Any]:
    import openvino as ov

    model = ov.Core().read_model(str(model_file(onnx_folder)))
    ov.save_model(model, str(out / "model.xml"), compress_to_fp16=False)
    return {"recipe": "openvino.Core().read_model(fp32 ONNX export), saved as IR in fp32"}


def _nncf_int8(ir_folder: Path, calibration: Sequence[dict[str, Any]], out: Path) -> dict[str, Any]:
    import nncf
    import openvino as ov

    model = ov.Core().read_model(str(model_file(ir_folder)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantized = nncf.quantize(
            model, nncf.Dataset(list(calibration)), model_type=nncf.ModelType.TRANSFORMER, subset_size=len(calibration)
        )
    ov.save_model(quantized, str(out / "model.xml"), compress_to_fp16=False)
    return {"recipe": f"nncf.quantize(ModelType.TRANSFORMER) of the OpenVINO IR on {len(calibration)} calibration pairs"}


def ensure_artifact(
    root: Path,
    backend: str,
    precision: str,
    *,
    reference: Callable[[], Any],
    pairs: Sequence[tuple[str, str]],
    calibration: Callable[[], Sequence[dict[str, Any]]],
    describe: dict[str, Any],
) -> Path:
    """The artifact folder of (backend, precision) under ``root``, built (with what it derives from) when missing or
    damaged.

    Args:
        reference: Returns the torch fp32 reranker to export (called only when the ONNX export must be built).
        pairs: Pairs whose tokens make the sample inputs of the ONNX export.
        calibration: Returns the padded calibration batches of the NNCF int8 export (called only for it).
        describe: What every artifact's provenance records about the model (id, weights hash, max length, …).

    Raises:
        ExportError: a step failed (the message names it and why).
    """
    name = ARTIFACTS[(backend, precision)]
    folder = root / name
    if verify_artifact(folder) is None:
        return folder
    if folder.exists():
        logger.warning("the %s export is damaged (%s): rebuilding it", name, verify_artifact(folder))
    step = {"backend": backend, "precision": precision, "artifact": name, **describe}
    try:
        if name == "onnx":
            model = reference().model
            return _build_atomically(folder, lambda out: _export_onnx(model, pairs, describe["max_length"], out), step)
        onnx = ensure_artifact(root, "onnxruntime", "fp32", reference=reference, pairs=pairs, calibration=calibration,
                               describe=describe)  # fmt: skip
        if name == "onnx-int8":
            return _build_atomically(folder, lambda out: _quantize_onnx(onnx, out), step)
        if name == "openvino":
            return _build_atomically(folder, lambda out: _openvino_ir(onnx, out), step)
        ir = ensure_artifact(root, "openvino", "fp32", reference=reference, pairs=pairs, calibration=calibration,
                             describe=describe)  # fmt: skip
        batches = calibration()
        return _build_atomically(folder, lambda out: _nncf_int8(ir, batches, out), step)
    except ExportError:
        raise
    except Exception as exc:  # noqa: BLE001 - any exporter failure becomes one reason, and torch keeps scoring
        raise ExportError(f"building the {name} export failed: {type(exc).__name__}: {str(exc)[:300]}") from exc
