"""The speed benchmark: its settings, the models and configs it runs, and one model's rows (baseline + configs).

Every model gets the baseline, plain ``CrossEncoder(model).predict(pairs, batch_size=32)`` with default loading, then a
batch-size search per config of the project runtime on the same pairs; each row carries its ratio to the baseline, the
largest score difference against it, and its fraction of the machine's matmul ceiling (:mod:`eval.speed.ceiling`).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ettin.errors import UserError

if TYPE_CHECKING:  # numpy (via measure) is imported only when a model is benchmarked, not for ``--help``
    from eval.speed.measure import Timing

__all__ = [
    "BASELINE_BATCH",
    "CONFIGS",
    "DEFAULT_CONFIGS",
    "DEFAULT_MEMORY_CAP_GB",
    "Ceilings",
    "ModelSpec",
    "SpeedError",
    "SpeedSettings",
    "benchmark_model",
    "config_skip_reason",
    "load_baseline",
    "load_runtime",
    "model_shape",
    "parse_list",
    "resolve_device",
    "resolve_models",
]

CONFIGS: dict[str, dict[str, str]] = {
    "fp32-sdpa": {"dtype": "float32", "attn": "sdpa", "unpad": "no"},
    "bf16-sdpa": {"dtype": "bfloat16", "attn": "sdpa", "unpad": "no"},
    "bf16-fa2-padded": {"dtype": "bfloat16", "attn": "flash_attention_2", "unpad": "no"},
    "bf16-fa2-unpadded": {"dtype": "bfloat16", "attn": "flash_attention_2", "unpad": "yes"},
    "bf16-sdpa-compiled": {"dtype": "bfloat16", "attn": "sdpa", "unpad": "no", "compile": "yes"},
}
DEFAULT_CONFIGS = tuple(c for c, spec in CONFIGS.items() if spec.get("compile") != "yes")  # compiling is opt-in: slow
BASELINE_BATCH = 32
DEFAULT_MEMORY_CAP_GB = 8.0


class SpeedError(UserError, RuntimeError):
    """Bad input to the speed benchmark; the message says what to change."""


def _help(text: str, **more: Any) -> dict[str, Any]:
    return {"help": text, **more}


@dataclass(frozen=True)
class SpeedSettings:
    """Everything ``python -m eval speed`` can be told; each field is one flag (``n_pairs`` -> ``--n-pairs``).

    ``n_pairs`` and ``max_batch`` left as ``None`` depend on the device; :meth:`resolved` fills them in.
    """

    models: str = field(default="17m", metadata=_help("comma-separated Ettin sizes, Hub ids or local folders, or 'none'"))
    replica: bool = field(default=False, metadata=_help("benchmark faithful random replicas of Ettin sizes (offline)"))
    configs: str = field(
        default=",".join(DEFAULT_CONFIGS),
        metadata=_help(f"project-runtime configs (comma-separated) of {', '.join(CONFIGS)}; compiled ones are opt-in"),
    )
    max_length: int = field(default=512, metadata=_help("truncate pairs at this many tokens"))
    pairs: str = field(
        default="scifact",
        metadata=_help("pair source: bundled SciFact (offline) or natural-questions (online)", choices=("scifact", "nq")),
    )
    n_pairs: int | None = field(default=None, metadata=_help("number of pairs (default: 128 on CPU, 2048 on GPU)"))
    seed: int = field(default=0, metadata=_help("seed of the random pairs"))
    passes: int = field(default=3, metadata=_help("timed passes per batch size (median kept)"))
    warmup_pairs: int = field(default=32, metadata=_help("warm-up pass over the first max(batch, N) pairs (0 = all)"))
    start_batch: int = field(default=8, metadata=_help("first batch size of the search"))
    max_batch: int | None = field(default=None, metadata=_help("largest batch size tried (default: 256 CPU, 4096 GPU)"))
    memory_cap_gb: float = field(default=DEFAULT_MEMORY_CAP_GB, metadata=_help("CPU: stop the batch search past this RSS"))
    device: str = field(default="auto", metadata=_help("cpu, cuda or auto"))
    threads: int | None = field(default=None, metadata=_help("torch threads (default: torch's choice)"))
    output: str | None = field(
        default=None, metadata=_help("JSON file (default: eval/results/speed/<hardware>_<UTC time>.json)")
    )
    accuracy_model: str | None = field(
        default=None, metadata=_help("a TRAINED CrossEncoder folder: check bf16 vs fp32 (Spearman, NDCG@10)")
    )
    accuracy_queries: int = field(default=100, metadata=_help("SciFact test queries for the NDCG@10 check"))
    accuracy_k: int = field(default=30, metadata=_help("BM25 candidates reranked per query in the NDCG@10 check"))
    backends: str = field(
        default="all",
        metadata=_help("exported CPU backends benchmarked: all, none, or backend/precision items (e.g. openvino/int8)"),
    )
    gate_model: str = field(
        default="minilm-scifact",
        metadata=_help("TRAINED reranker the backends' correctness gate runs on ('none': no gate)"),
    )
    gate_pairs: int = field(default=128, metadata=_help("benchmark pairs the gate compares on (the first N)"))
    gate_ndcg_queries: int = field(
        default=0, metadata=_help("also gate on SciFact test NDCG@10 (within 0.005 of fp32) over N queries (0: off)")
    )

    def resolved(self) -> SpeedSettings:
        """A copy with the device resolved (``auto`` -> cuda or cpu) and the device-dependent defaults filled in.

        Raises:
            SpeedError: an unknown device, or CUDA asked for where there is none.
        """
        device = resolve_device(self.device)
        gpu = device.startswith("cuda")
        return dataclasses.replace(
            self,
            device=device,
            n_pairs=self.n_pairs if self.n_pairs is not None else (2048 if gpu else 128),
            max_batch=self.max_batch if self.max_batch is not None else (4096 if gpu else 256),
        )

    def validate(self) -> None:
        """Raise :class:`SpeedError` naming the first bad value (call on :meth:`resolved` settings)."""
        if self.max_length < 8:
            raise SpeedError(f"--max-length {self.max_length} is too small: use at least 8 tokens (the blog uses 512)")
        if self.n_pairs < 1:
            raise SpeedError("--n-pairs must be positive")
        if self.passes < 1:
            raise SpeedError("--passes must be positive")
        if self.start_batch < 1 or self.max_batch < self.start_batch:
            raise SpeedError("--start-batch must be positive and not above --max-batch")
        if self.memory_cap_gb <= 0:
            raise SpeedError("--memory-cap-gb must be positive")
        if self.gate_pairs < 2 or self.gate_ndcg_queries < 0:
            raise SpeedError("--gate-pairs must be at least 2 and --gate-ndcg-queries not negative")

    @property
    def memory_cap_bytes(self) -> int | None:
        """The CPU memory cap of the batch search (``None`` on a GPU, where out-of-memory ends it)."""
        return int(self.memory_cap_gb * 1024**3) if not self.device.startswith("cuda") else None


def resolve_device(requested: str | None) -> str:
    """``auto`` -> ``cuda`` when available else ``cpu``; refuse unknown devices and CUDA without a GPU."""
    import torch

    if requested in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise SpeedError("--device cuda requested but no CUDA GPU is available here")
    if requested != "cpu" and not requested.startswith("cuda"):
        raise SpeedError(f"--device must be cpu, cuda or auto (got {requested!r})")
    return requested


# --------------------------------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class ModelSpec:
    """One model to benchmark: its label in results, where it loads from, and whether it is a random replica."""

    label: str
    path: str
    size: str | None
    random_init: bool


def parse_list(value: str, what: str, allowed: Sequence[str] | None = None) -> list[str]:
    """Split a comma-separated option; refuse empty items and (when ``allowed`` is given) unknown ones."""
    items = [v.strip() for v in value.split(",")]
    if not value.strip() or any(not v for v in items):
        raise SpeedError(f"--{what}: give a comma-separated list without empty items (got {value!r})")
    if allowed is not None:
        unknown = [v for v in items if v not in allowed]
        if unknown:
            raise SpeedError(f"--{what}: unknown {', '.join(map(repr, unknown))}; choose from: {', '.join(allowed)}")
    return list(dict.fromkeys(items))


def _registry_spec(key: str, replica: bool, progress: Callable[[str], None]) -> ModelSpec:
    from ettin import registry
    from ettin.paths import cache_dir

    meta = registry.RERANKERS[key]
    if not replica:
        return ModelSpec(meta.hub_id, meta.hub_id, key, False)
    from ettin.replica import build_replica

    target = cache_dir() / "replicas" / key
    if not target.is_dir():
        progress(f"building the {key} replica (once) in the project cache …")
    return ModelSpec(meta.hub_id, str(build_replica(key, target, seed=0)), key, True)


def resolve_models(names: Sequence[str], replica: bool, progress: Callable[[str], None] = print) -> list[ModelSpec]:
    """Turn sizes, Hub ids and local folders into loadable specs; ``replica`` builds (once) faithful random replicas.

    Raises:
        SpeedError: an unknown size, a malformed id, or a local folder that does not exist.
    """
    from ettin import registry
    from ettin.runtime import ModelLoadError, resolve_model

    specs = []
    for name in names:
        key = name.strip().lower()
        if key in registry.RERANKERS:
            specs.append(_registry_spec(key, replica, progress))
            continue
        if replica and re.fullmatch(r"\d+(\.\d+)?[mb]", key):
            raise SpeedError(f"unknown Ettin size {name!r}; known sizes: {', '.join(registry.SIZES)}")
        try:
            source = resolve_model(name, kind="reranker")
        except ModelLoadError as exc:
            raise SpeedError(f"{exc} (Ettin sizes: {', '.join(registry.SIZES)})") from None
        size = registry.reranker(source.replica_of).size if source.replica_of else None
        label = source.hub_id or (source.replica_of if source.random_init else Path(source.name_or_path).name)
        specs.append(ModelSpec(label or name, source.name_or_path, size, source.random_init))
    return specs


def config_skip_reason(config: str, device: str) -> str | None:
    """Why ``config`` cannot run on ``device`` (``None`` when it can)."""
    from ettin.runtime import compiler_missing_reason, cpu_has_native_bf16, flash_attention_available

    spec = CONFIGS[config]
    if spec.get("compile") == "yes" and (missing := compiler_missing_reason(device)):
        return missing
    if spec["attn"] == "flash_attention_2":
        if not device.startswith("cuda"):
            return "flash attention needs a CUDA GPU"
        if not flash_attention_available():
            return "flash-attn is not installed"
    if spec["dtype"] == "bfloat16" and device == "cpu" and not cpu_has_native_bf16():
        return "this CPU has no native bf16 (AVX512-BF16/AMX): bf16 would be emulated and slower"
    return None


# --------------------------------------------------------------------------------------------------------------------
# Models


def load_baseline(path: str, device: str, max_length: int) -> Any:
    """Plain ``CrossEncoder(path)`` with default loading (dtype and attention as sentence-transformers picks them)."""
    from sentence_transformers import CrossEncoder

    from ettin.runtime import ModelLoadError, resolve_model
    from ettin.runtime.sources import loading_error

    try:
        return CrossEncoder(path, device=device, max_length=max_length)
    except Exception as exc:  # noqa: BLE001 - worded as the project loader words it (e.g. the clear offline message)
        try:
            source = resolve_model(path, kind="reranker")
        except ModelLoadError as invalid:
            raise SpeedError(str(invalid)) from None
        raise SpeedError(str(loading_error(source, exc))) from None


def load_runtime(path: str, config: str, device: str, max_length: int) -> Any:
    """The project runtime (``ettin.runtime.load_reranker``) with ``config``'s dtype, attention and unpadding (a
    compiled config is compiled by the caller, timed)."""
    from ettin.runtime import ModelLoadError, RuntimeSettings, load_reranker

    spec = CONFIGS[config]
    settings = RuntimeSettings(device, spec["dtype"], spec["attn"], max_length, f"speed config {config}")
    try:
        reranker = load_reranker(path, settings)
    except ModelLoadError as exc:
        raise SpeedError(str(exc)) from None
    first = reranker.model[0]
    if spec["unpad"] == "no" and getattr(first, "can_flatten_inputs", False):
        first.unpad_inputs = False
    if spec["unpad"] == "yes" and not getattr(first, "can_flatten_inputs", False):
        raise SpeedError("unpadded inputs are not available for this model here (needs flash attention varlen)")
    return reranker


def model_shape(model: Any) -> tuple[Any, bool]:
    """(:class:`~eval.speed.ceiling.EncoderShape`, whether the MLP is gated) of a loaded CrossEncoder."""
    from eval.speed.ceiling import EncoderShape

    config = model[0].model.config
    return EncoderShape.from_config(config), getattr(config, "model_type", "") == "modernbert"


# --------------------------------------------------------------------------------------------------------------------
# One model


@dataclass
class Ceilings:
    """The machine's matmul ceiling per layer shape (measured once per shape in a run)."""

    by_shape: dict[str, dict[str, float | None]] = field(default_factory=dict)

    def for_shape(self, shape: Any, glu: bool, device: str, log: Callable[[str], None]) -> tuple[str, dict[str, Any]]:
        """(shape key, ``{"fp32_flops", "bf16_flops"}``), measuring them the first time a shape is seen."""
        from eval.speed.ceiling import matmul_ceiling

        key = f"h{shape.hidden}-i{shape.intermediate}"
        if key not in self.by_shape:
            log(f"  machine ceiling: torch.matmul at {key} …")
            entry: dict[str, Any] = {"fp32_flops": matmul_ceiling(shape, "float32", device=device, glu=glu), "bf16_flops": None}
            if config_skip_reason("bf16-sdpa", device) is None:
                entry["bf16_flops"] = matmul_ceiling(shape, "bfloat16", device=device, glu=glu)
            self.by_shape[key] = entry
            log(f"    fp32 {entry['fp32_flops'] / 1e9:.1f} GFLOP/s, bf16 {(entry['bf16_flops'] or 0) / 1e9:.1f} GFLOP/s")
        return key, self.by_shape[key]

    def as_json(self) -> dict[str, Any]:
        """The file's ``ceiling`` section: the best fp32 and bf16 rates over all shapes, and each shape's."""
        if not self.by_shape:
            return {"fp32_flops": None, "bf16_flops": None, "by_shape": self.by_shape}
        bf = [v["bf16_flops"] for v in self.by_shape.values() if v["bf16_flops"]]
        return {
            "fp32_flops": max(v["fp32_flops"] for v in self.by_shape.values()),
            "bf16_flops": max(bf) if bf else None,
            "by_shape": self.by_shape,
        }


def _row(spec: ModelSpec, runtime: str, config: str, **kw: Any) -> dict[str, Any]:
    row = {
        "model": spec.label,
        "size": spec.size,
        "random_init": spec.random_init,
        "runtime": runtime,
        "config": config,
        "pairs_per_s": None,
        "batch_size": None,
        "peak_memory_bytes": None,
        "ratio_to_baseline": None,
        "ceiling_fraction": None,
        "max_abs_diff_vs_baseline": None,
        "spearman_vs_baseline": None,
        "gate": None,
        "skipped": None,
    }
    row.update(kw)
    return row


def _spearman(a: Any, b: Any) -> float | None:
    from ettin.runtime.gate import spearman

    rho = spearman(a, b)
    return None if rho != rho else round(rho, 6)


@dataclass
class _ModelRun:
    """What one model's rows share: its spec, pairs, settings, FLOPs per pair, ceiling and baseline."""

    spec: ModelSpec
    pairs: Sequence[tuple[str, str]]
    settings: SpeedSettings
    flops_pair: float
    ceiling: dict[str, Any]
    log: Callable[[str], None]
    baseline: Timing | None = None

    def fraction(self, pps: float, dtype: str) -> float | None:
        peak = self.ceiling["bf16_flops" if dtype == "bfloat16" else "fp32_flops"]
        return round(pps * self.flops_pair / peak, 4) if peak else None

    def baseline_row(self, model: Any) -> dict[str, Any]:
        """Time plain ``CrossEncoder.predict`` at batch 32: the reference of every other row."""
        from eval.speed.measure import time_passes

        s = self.settings
        self.log(f"  baseline: CrossEncoder.predict(pairs, batch_size={BASELINE_BATCH}), default loading")
        dtype = str(next(model.parameters()).dtype).replace("torch.", "")
        t = time_passes(
            lambda p, bs: model.predict(list(p), batch_size=bs, show_progress_bar=False, convert_to_numpy=True),
            self.pairs, BASELINE_BATCH, s.device, s.passes, s.warmup_pairs,
        )
        self.log(f"    {t.pairs_per_s:.1f} pairs/s")
        self.baseline = t
        attn = getattr(model[0].model.config, "_attn_implementation", None)
        config = f"{'bf16' if dtype == 'bfloat16' else 'fp32'}-{'fa2' if attn == 'flash_attention_2' else attn}"
        return _row(
            self.spec, "baseline", config, pairs_per_s=round(t.pairs_per_s, 3), batch_size=BASELINE_BATCH,
            peak_memory_bytes=t.peak_memory_bytes, ratio_to_baseline=1.0, ceiling_fraction=self.fraction(t.pairs_per_s, dtype),
            max_abs_diff_vs_baseline=0.0,
        )

    def _compile(self, reranker: Any) -> float:
        """Compile the encoder on the first pairs (a full batch and a one-pair batch); its seconds.

        Raises:
            SpeedError: compiling failed (the message says why).
        """
        from ettin.runtime import compile_encoder

        self.log("    compiling")
        forward = compile_encoder(reranker, self.pairs, batch_size=self.settings.start_batch)
        if forward is None or forward.state != "ready":
            raise SpeedError(f"compiling failed: {forward.error if forward else 'the model has no encoder to compile'}")
        self.log(f"    compiled in {forward.seconds:.1f} s")
        return round(forward.seconds, 2)

    def config_row(self, config: str, searches: dict[str, Any]) -> dict[str, Any]:
        """Batch-size search of one config of the project runtime (a skipped row when it cannot run here)."""
        import numpy as np

        from eval.speed.measure import batch_search, free

        s, spec = self.settings, self.spec
        reason = config_skip_reason(config, s.device)
        if reason:
            self.log(f"  ettin {config}: skipped ({reason})")
            return _row(spec, "ettin", config, skipped=reason)
        self.log(f"  ettin {config}: batch-size search")
        try:
            reranker = load_runtime(spec.path, config, s.device, s.max_length)
        except SpeedError as exc:
            self.log(f"    skipped: {exc}")
            return _row(spec, "ettin", config, skipped=str(exc))
        try:
            compile_s = self._compile(reranker) if CONFIGS[config].get("compile") == "yes" else None
        except SpeedError as exc:
            self.log(f"    skipped: {exc}")
            return _row(spec, "ettin", config, skipped=str(exc))
        best, tried, stop = batch_search(
            lambda p, bs: reranker.score_pairs(p, batch_size=bs), self.pairs, s.device, start=s.start_batch,
            max_batch=s.max_batch, memory_cap_bytes=s.memory_cap_bytes, passes=s.passes, warmup_pairs=s.warmup_pairs,
            log=self.log,
        )
        searches[config] = {"tried": tried, "stopped": stop, "settings": reranker.settings.as_dict(), "compile_s": compile_s}
        del reranker
        free()
        if best is None:
            return _row(spec, "ettin", config, skipped=stop or "no batch size ran")
        base = self.baseline.scores.reshape(-1)
        base_pps = self.baseline.pairs_per_s
        diff = float(np.max(np.abs(best.scores - base))) if len(base) else None
        self.log(f"    best: batch {best.batch_size}, {best.pairs_per_s:.1f} pairs/s = {best.pairs_per_s / base_pps:.2f}x baseline, max |diff| {diff:.2e}")
        return _row(
            spec, "ettin", config, pairs_per_s=round(best.pairs_per_s, 3), batch_size=best.batch_size,
            peak_memory_bytes=best.peak_memory_bytes, ratio_to_baseline=round(best.pairs_per_s / base_pps, 4),
            ceiling_fraction=self.fraction(best.pairs_per_s, CONFIGS[config]["dtype"]), max_abs_diff_vs_baseline=diff,
            spearman_vs_baseline=_spearman(base, best.scores),
        )


def benchmark_model(
    spec: ModelSpec,
    pairs: Sequence[tuple[str, str]],
    configs: Sequence[str],
    settings: SpeedSettings,
    ceilings: Ceilings,
    log: Callable[[str], None] = print,
    more_rows: Callable[[_ModelRun, dict[str, Any]], list[dict[str, Any]]] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Baseline, then each config of the project runtime, then ``more_rows(run, searches)`` (the exported backends'
    rows, :func:`eval.speed.backends.backend_rows`), for one model (``settings`` already resolved).

    Returns:
        The model's rows and its details (shape, token lengths, FLOPs per pair, every batch size tried).
    """
    from eval.speed.ceiling import mean_flops_per_pair
    from eval.speed.measure import free
    from eval.speed.pairs import length_stats, token_lengths

    log(f"\n== {spec.label}{' (random replica)' if spec.random_init else ''}")
    base_model = load_baseline(spec.path, settings.device, settings.max_length)
    shape, glu = model_shape(base_model)
    lengths = token_lengths(base_model.tokenizer, pairs, settings.max_length)
    flops_pair = mean_flops_per_pair(shape, lengths, glu)
    key, ceiling = ceilings.for_shape(shape, glu, settings.device, log)
    run = _ModelRun(spec, pairs, settings, flops_pair, ceiling, log)
    rows = [run.baseline_row(base_model)]
    del base_model
    free()
    details: dict[str, Any] = {
        "model": spec.label,
        "path_is_local": os.path.isdir(spec.path),
        "shape": shape.__dict__,
        "token_lengths": length_stats(lengths),
        "flops_per_pair_mean": flops_pair,
        "ceiling_key": key,
        "baseline_passes_s": run.baseline.passes_s,
        "searches": {},
    }
    rows += [run.config_row(config, details["searches"]) for config in configs]
    if more_rows is not None:
        rows += more_rows(run, details["searches"])
    return rows, details
