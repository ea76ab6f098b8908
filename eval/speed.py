"""``python -m eval speed``: the blog's speed protocol on this machine, with a same-run baseline and the machine's ceiling.

Protocol (blog, adapted to CPUs): (query, document) pairs at a natural length distribution, truncated at ``max_length``;
for each config a batch-size search from 8 doubling (GPU: until out of memory; CPU: until throughput stops improving, a
batch cap or a memory cap); per batch size one warm-up and three timed passes over all pairs, median kept; the best batch
size is reported with its pairs/s and peak memory (GPU: ``torch.cuda.max_memory_allocated``; CPU: sampled process RSS).

Every model also gets the baseline, plain ``CrossEncoder(model).predict(pairs, batch_size=32)`` with default loading, in
the same run on the same pairs, and each row carries its ratio to it and the largest score difference against it.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA = "ettin.speed/1"
RESULTS_DIR = Path(__file__).resolve().parent / "results" / "speed"

CONFIGS: dict[str, dict[str, str]] = {
    "fp32-sdpa": {"dtype": "float32", "attn": "sdpa", "unpad": "no"},
    "bf16-sdpa": {"dtype": "bfloat16", "attn": "sdpa", "unpad": "no"},
    "bf16-fa2-padded": {"dtype": "bfloat16", "attn": "flash_attention_2", "unpad": "no"},
    "bf16-fa2-unpadded": {"dtype": "bfloat16", "attn": "flash_attention_2", "unpad": "yes"},
}
DEFAULT_CONFIGS = tuple(CONFIGS)
BASELINE_BATCH = 32
DEFAULT_MEMORY_CAP_GB = 8.0


class SpeedError(RuntimeError):
    """Bad input to the speed benchmark; the message says what to change."""


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


def resolve_models(names: Sequence[str], replica: bool, progress: Callable[[str], None] = print) -> list[ModelSpec]:
    """Turn sizes, Hub ids and local folders into loadable specs; ``replica`` builds (once) faithful random replicas.

    Raises:
        SpeedError: an unknown size, a malformed id, or a local folder that does not exist.
    """
    from ettin import registry
    from ettin.paths import cache_dir
    from ettin.runtime import ModelLoadError, resolve_model

    specs = []
    for name in names:
        key = name.strip().lower()
        if key in registry.RERANKERS:
            meta = registry.RERANKERS[key]
            if replica:
                from ettin.replica import build_replica

                target = cache_dir() / "replicas" / key
                if not target.is_dir():
                    progress(f"building the {key} replica (once) in the project cache …")
                specs.append(ModelSpec(meta.hub_id, str(build_replica(key, target, seed=0)), key, True))
            else:
                specs.append(ModelSpec(meta.hub_id, meta.hub_id, key, False))
            continue
        if replica and re.fullmatch(r"\d+(\.\d+)?[mb]", key):
            raise SpeedError(f"unknown Ettin size {name!r}; known sizes: {', '.join(registry.SIZES)}")
        try:
            source = resolve_model(name, kind="reranker")
        except ModelLoadError as exc:
            raise SpeedError(f"{exc} (Ettin sizes: {', '.join(registry.SIZES)})") from None
        size = None
        if source.replica_of:
            size = registry.reranker(source.replica_of).size
        label = source.hub_id or (source.replica_of if source.random_init else Path(source.name_or_path).name)
        specs.append(ModelSpec(label or name, source.name_or_path, size, source.random_init))
    return specs


def config_skip_reason(config: str, device: str) -> str | None:
    """Why ``config`` cannot run on ``device`` (``None`` when it can)."""
    from ettin.runtime import cpu_has_native_bf16, flash_attention_available

    spec = CONFIGS[config]
    if spec["attn"] == "flash_attention_2":
        if not device.startswith("cuda"):
            return "flash attention needs a CUDA GPU"
        if not flash_attention_available():
            return "flash-attn is not installed"
    if spec["dtype"] == "bfloat16" and device == "cpu" and not cpu_has_native_bf16():
        return "this CPU has no native bf16 (AVX512-BF16/AMX): bf16 would be emulated and slower"
    return None


# --------------------------------------------------------------------------------------------------------------------
# Measurement


class PeakMemory:
    """Peak memory during a block: CUDA allocator peak on a GPU, sampled process RSS on a CPU."""

    def __init__(self, device: str, interval: float = 0.01):
        self.device = device
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PeakMemory:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        else:
            import psutil

            proc = psutil.Process()
            self.peak = proc.memory_info().rss

            def sample() -> None:
                while not self._stop.is_set():
                    self.peak = max(self.peak, proc.memory_info().rss)
                    self._stop.wait(self.interval)

            self._thread = threading.Thread(target=sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()
            self.peak = int(torch.cuda.max_memory_allocated())
        else:
            self._stop.set()
            if self._thread is not None:
                self._thread.join()


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def _is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in str(exc).lower()


@dataclass
class Timing:
    """Result of timing one scoring function at one batch size."""

    batch_size: int
    pairs_per_s: float
    passes_s: list[float]
    peak_memory_bytes: int
    scores: np.ndarray = field(repr=False)


def time_passes(
    score: Callable[[Sequence[tuple[str, str]], int], np.ndarray],
    pairs: Sequence[tuple[str, str]],
    batch_size: int,
    device: str,
    passes: int = 3,
    warmup_pairs: int | None = None,
) -> Timing:
    """One warm-up (on ``warmup_pairs`` pairs, default all), then ``passes`` timed passes over all pairs; median kept."""
    warm = pairs if not warmup_pairs else pairs[: max(batch_size, warmup_pairs)]
    score(warm, batch_size)
    _sync(device)
    times = []
    scores = np.zeros(0, dtype=np.float32)
    with PeakMemory(device) as mem:
        for _ in range(passes):
            t0 = time.perf_counter()
            scores = score(pairs, batch_size)
            _sync(device)
            times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    return Timing(batch_size, len(pairs) / median, [round(t, 4) for t in times], mem.peak, np.asarray(scores, np.float32))


def batch_search(
    score: Callable[[Sequence[tuple[str, str]], int], np.ndarray],
    pairs: Sequence[tuple[str, str]],
    device: str,
    *,
    start: int = 8,
    max_batch: int = 256,
    memory_cap_bytes: int | None = None,
    passes: int = 3,
    warmup_pairs: int | None = None,
    log: Callable[[str], None] = print,
) -> tuple[Timing | None, list[dict[str, Any]], str | None]:
    """Batch sizes from ``start`` doubling; stop at out-of-memory, at ``max_batch``, past the memory cap, or (CPU) when
    throughput stops improving.

    Returns:
        The best timing (``None`` if even the first size failed), every size tried, and why the search stopped.
    """
    best: Timing | None = None
    tried: list[dict[str, Any]] = []
    bs = start
    stop = None
    while True:
        try:
            t = time_passes(score, pairs, bs, device, passes, warmup_pairs)
        except Exception as exc:  # noqa: BLE001 - OOM ends the search; anything else is reported
            if _is_oom(exc):
                stop = f"out of memory at batch {bs}"
                if device.startswith("cuda"):
                    import torch

                    torch.cuda.empty_cache()
                break
            raise
        tried.append({"batch_size": bs, "pairs_per_s": round(t.pairs_per_s, 3), "passes_s": t.passes_s, "peak_memory_bytes": t.peak_memory_bytes})
        log(f"    batch {bs:>5}: {t.pairs_per_s:9.1f} pairs/s  (passes {', '.join(f'{x:.2f}' for x in t.passes_s)} s)")
        improved = best is None or t.pairs_per_s > best.pairs_per_s
        if improved:
            best = t
        if not device.startswith("cuda") and not improved:
            stop = f"throughput stopped improving at batch {bs}"
            break
        if memory_cap_bytes is not None and t.peak_memory_bytes > memory_cap_bytes:
            stop = f"memory cap reached at batch {bs}"
            break
        if bs * 2 > max_batch:
            stop = f"batch cap {max_batch} reached"
            break
        bs *= 2
    return best, tried, stop


# --------------------------------------------------------------------------------------------------------------------
# Model helpers


def _free(*objs: Any) -> None:
    del objs
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


def load_baseline(path: str, device: str, max_length: int) -> Any:
    """Plain ``CrossEncoder(path)`` with default loading (dtype and attention as sentence-transformers picks them)."""
    from sentence_transformers import CrossEncoder

    from ettin.runtime import ModelLoadError, load_reranker

    # validation and the clear offline message come from the project loader; the model itself is loaded plainly
    try:
        model = CrossEncoder(path, device=device, max_length=max_length)
    except Exception as exc:  # noqa: BLE001
        try:
            load_reranker(path)
        except ModelLoadError as clear:
            raise SpeedError(str(clear)) from None
        raise SpeedError(f"cannot load {path!r}: {type(exc).__name__}: {str(exc)[:300]}") from None
    return model


def load_runtime(path: str, config: str, device: str, max_length: int) -> Any:
    """The project runtime (``ettin.runtime.load_reranker``) with ``config``'s dtype, attention and unpadding."""
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
    from eval.speed_ceiling import EncoderShape

    config = model[0].model.config
    return EncoderShape.from_config(config), getattr(config, "model_type", "") == "modernbert"


# --------------------------------------------------------------------------------------------------------------------
# Provenance and output


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
    when = when or datetime.now(timezone.utc)
    return RESULTS_DIR / f"{hardware_slug(hardware)}_{when.strftime('%Y%m%d-%H%M%S')}.json"


def run_provenance(device: str) -> dict[str, Any]:
    import torch

    from ettin.provenance import base_provenance
    from ettin.runtime import cpu_flags

    prov = base_provenance()
    hw = prov["hardware"]
    hw["cpu_flags"] = sorted(f for f in cpu_flags() if re.match(r"(avx|amx|fma|sse4|f16c|vnni)", f))
    hw["device"] = device
    hw["torch_threads"] = torch.get_num_threads()
    if device.startswith("cuda"):
        hw["gpu_memory_bytes"] = int(torch.cuda.get_device_properties(0).total_memory)
        hw["cuda"] = torch.version.cuda
    prov["load_average_start"] = load_average()
    return prov


def format_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of result rows."""
    head = "| model | runtime | config | pairs/s | batch | peak MiB | x baseline | ceiling | max abs diff | skipped |"
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        def f(v: Any, fmt: str) -> str:
            return "" if v is None else format(v, fmt)

        mem = None if r["peak_memory_bytes"] is None else r["peak_memory_bytes"] / 2**20
        lines.append(
            f"| {r['model'].split('/')[-1]}{' (replica)' if r['random_init'] else ''} | {r['runtime']} | {r['config']} | "
            f"{f(r['pairs_per_s'], '.1f')} | {f(r['batch_size'], 'd')} | {f(mem, '.0f')} | "
            f"{f(r['ratio_to_baseline'], '.2f')} | {f(r['ceiling_fraction'], '.3f')} | "
            f"{f(r['max_abs_diff_vs_baseline'], '.2e')} | {r['skipped'] or ''} |"
        )
    return "\n".join(lines)


def size_ratio_table(rows: list[dict[str, Any]]) -> str:
    """Each size's pairs/s relative to the 17m's (baseline and project runtime), next to the blog's CPU (i7-13700K) ratios."""
    from ettin import registry

    blog = registry.published()["speed"]["cpu_i7_13700k"]
    pps: dict[tuple[str, str], float] = {}
    for r in rows:
        if r["size"] and r["pairs_per_s"]:
            pps[(r["size"], "baseline" if r["runtime"] == "baseline" else r["config"])] = r["pairs_per_s"]
    if ("17m", "baseline") not in pps:
        return ""
    blog17 = blog[registry.RERANKERS["17m"].hub_id]

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
        b = blog.get(registry.RERANKERS[size].hub_id)
        lines.append(
            f"| {size} "
            + cell(size, "baseline")
            + cell(size, "fp32-sdpa")
            + cell(size, "bf16-sdpa")
            + f"| {b} | {b / blog17:.3f} |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------------------
# The benchmark


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
        "skipped": None,
    }
    row.update(kw)
    return row


def benchmark_model(
    spec: ModelSpec,
    pairs: Sequence[tuple[str, str]],
    configs: Sequence[str],
    args: argparse.Namespace,
    ceilings: dict[str, Any],
    log: Callable[[str], None] = print,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Baseline, then each config of the project runtime, for one model. Returns rows and per-model details."""
    from eval.speed_ceiling import matmul_ceiling, mean_flops_per_pair
    from eval.speed_pairs import length_stats, token_lengths

    device = args.device
    memory_cap = int(args.memory_cap_gb * 1024**3) if not device.startswith("cuda") else None
    rows: list[dict[str, Any]] = []
    log(f"\n== {spec.label}{' (random replica)' if spec.random_init else ''}")

    base_model = load_baseline(spec.path, device, args.max_length)
    shape, glu = model_shape(base_model)
    lengths = token_lengths(base_model.tokenizer, pairs, args.max_length)
    flops_pair = mean_flops_per_pair(shape, lengths, glu)
    key = f"h{shape.hidden}-i{shape.intermediate}"
    if key not in ceilings["by_shape"]:
        log(f"  machine ceiling: torch.matmul at {key} …")
        entry: dict[str, Any] = {"fp32_flops": matmul_ceiling(shape, "float32", device=device, glu=glu), "bf16_flops": None}
        if config_skip_reason("bf16-sdpa", device) is None:
            entry["bf16_flops"] = matmul_ceiling(shape, "bfloat16", device=device, glu=glu)
        ceilings["by_shape"][key] = entry
        log(f"    fp32 {entry['fp32_flops'] / 1e9:.1f} GFLOP/s, bf16 {(entry['bf16_flops'] or 0) / 1e9:.1f} GFLOP/s")
    ceiling = ceilings["by_shape"][key]

    def fraction(pps: float, dtype: str) -> float | None:
        peak = ceiling["bf16_flops" if dtype == "bfloat16" else "fp32_flops"]
        return round(pps * flops_pair / peak, 4) if peak else None

    log(f"  baseline: CrossEncoder.predict(pairs, batch_size={BASELINE_BATCH}), default loading")
    base_dtype = str(next(base_model.parameters()).dtype).replace("torch.", "")
    t = time_passes(
        lambda p, bs: base_model.predict(list(p), batch_size=bs, show_progress_bar=False, convert_to_numpy=True),
        pairs,
        BASELINE_BATCH,
        device,
        args.passes,
        args.warmup_pairs,
    )
    log(f"    {t.pairs_per_s:.1f} pairs/s")
    base_scores = t.scores.reshape(-1)
    base_pps = t.pairs_per_s
    base_attn = getattr(base_model[0].model.config, "_attn_implementation", None)
    rows.append(
        _row(
            spec,
            "baseline",
            f"{'bf16' if base_dtype == 'bfloat16' else 'fp32'}-{'fa2' if base_attn == 'flash_attention_2' else base_attn}",
            pairs_per_s=round(base_pps, 3),
            batch_size=BASELINE_BATCH,
            peak_memory_bytes=t.peak_memory_bytes,
            ratio_to_baseline=1.0,
            ceiling_fraction=fraction(base_pps, base_dtype),
            max_abs_diff_vs_baseline=0.0,
        )
    )
    _free(base_model)
    del base_model
    gc.collect()

    details: dict[str, Any] = {
        "model": spec.label,
        "path_is_local": os.path.isdir(spec.path),
        "shape": shape.__dict__,
        "token_lengths": length_stats(lengths),
        "flops_per_pair_mean": flops_pair,
        "ceiling_key": key,
        "baseline_passes_s": t.passes_s,
        "searches": {},
    }
    for config in configs:
        reason = config_skip_reason(config, device)
        if reason:
            log(f"  ettin {config}: skipped ({reason})")
            rows.append(_row(spec, "ettin", config, skipped=reason))
            continue
        log(f"  ettin {config}: batch-size search")
        try:
            reranker = load_runtime(spec.path, config, device, args.max_length)
        except SpeedError as exc:
            log(f"    skipped: {exc}")
            rows.append(_row(spec, "ettin", config, skipped=str(exc)))
            continue
        best, tried, stop = batch_search(
            lambda p, bs: reranker.score_pairs(p, batch_size=bs),
            pairs,
            device,
            start=args.start_batch,
            max_batch=args.max_batch,
            memory_cap_bytes=memory_cap,
            passes=args.passes,
            warmup_pairs=args.warmup_pairs,
            log=log,
        )
        details["searches"][config] = {"tried": tried, "stopped": stop, "settings": reranker.settings.as_dict()}
        if best is None:
            rows.append(_row(spec, "ettin", config, skipped=stop or "no batch size ran"))
        else:
            diff = float(np.max(np.abs(best.scores - base_scores))) if len(base_scores) else None
            rows.append(
                _row(
                    spec,
                    "ettin",
                    config,
                    pairs_per_s=round(best.pairs_per_s, 3),
                    batch_size=best.batch_size,
                    peak_memory_bytes=best.peak_memory_bytes,
                    ratio_to_baseline=round(best.pairs_per_s / base_pps, 4),
                    ceiling_fraction=fraction(best.pairs_per_s, CONFIGS[config]["dtype"]),
                    max_abs_diff_vs_baseline=diff,
                )
            )
            log(f"    best: batch {best.batch_size}, {best.pairs_per_s:.1f} pairs/s = {best.pairs_per_s / base_pps:.2f}x baseline, max |diff| {diff:.2e}")
        _free(reranker)
        del reranker
        gc.collect()
    return rows, details


def run(args: argparse.Namespace) -> int:
    """Entry point of ``python -m eval speed``."""
    try:
        return _run(args)
    except SpeedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _validate(args: argparse.Namespace) -> None:
    if args.max_length < 8:
        raise SpeedError(f"--max-length {args.max_length} is too small: use at least 8 tokens (the blog uses 512)")
    if args.n_pairs < 1:
        raise SpeedError("--n-pairs must be positive")
    if args.passes < 1:
        raise SpeedError("--passes must be positive")
    if args.start_batch < 1 or args.max_batch < args.start_batch:
        raise SpeedError("--start-batch must be positive and not above --max-batch")
    if args.memory_cap_gb <= 0:
        raise SpeedError("--memory-cap-gb must be positive")


def _device(requested: str | None) -> str:
    import torch

    if requested in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise SpeedError("--device cuda requested but no CUDA GPU is available here")
    if requested != "cpu" and not requested.startswith("cuda"):
        raise SpeedError(f"--device must be cpu, cuda or auto (got {requested!r})")
    return requested


def _run(args: argparse.Namespace) -> int:
    from ettin import registry
    from ettin.io import write_json_atomic

    _validate(args)
    configs = parse_list(args.configs, "configs", list(CONFIGS))
    models = [] if args.models.strip().lower() == "none" else parse_list(args.models, "models")
    if not models and not args.accuracy_model:
        raise SpeedError("nothing to do: give --models and/or --accuracy-model")
    for m in models:
        meta_size = m.lower() in registry.RERANKERS
        if meta_size:
            limit = registry.RERANKERS[m.lower()].max_length
            if args.max_length > limit:
                raise SpeedError(f"--max-length {args.max_length} exceeds the {m} limit of {limit} tokens")
    device = _device(args.device)
    args.device = device
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    specs = resolve_models(models, args.replica)

    from eval.speed_pairs import PairSourceError, load_pairs

    try:
        pairs, source = load_pairs(args.pairs, args.n_pairs, args.seed)
    except (PairSourceError, ValueError) as exc:
        raise SpeedError(str(exc)) from None

    provenance = run_provenance(device)
    provenance["protocol"] = {
        "max_length": args.max_length,
        "n_pairs": len(pairs),
        "source_of_pairs": source,
        "baseline": f"CrossEncoder(model, max_length={args.max_length}).predict(pairs, batch_size={BASELINE_BATCH})",
        "batch_search": (
            f"from {args.start_batch} doubling up to {args.max_batch}; "
            + ("until out of memory" if device.startswith("cuda") else f"until pairs/s stops improving or RSS > {args.memory_cap_gb} GiB")
        ),
        "passes": args.passes,
        "warmup": "one pass" + ("" if not args.warmup_pairs else f" over the first max(batch, {args.warmup_pairs}) pairs"),
        "statistic": "median pass time; pairs/s = n_pairs / median",
        "peak_memory": "torch.cuda.max_memory_allocated" if device.startswith("cuda") else "process RSS sampled every 10 ms during the timed passes",
        "ceiling": "torch.matmul over one layer's weight shapes (4096 rows) per dtype; fraction = pairs/s x useful FLOPs per pair / ceiling",
        "token_lengths": None,
    }
    ceilings: dict[str, Any] = {"fp32_flops": None, "bf16_flops": None, "by_shape": {}}
    rows: list[dict[str, Any]] = []
    details: list[dict[str, Any]] = []
    from tqdm.auto import tqdm

    out = Path(args.output) if args.output else default_output(provenance["hardware"])

    def summarise_ceiling() -> None:
        if ceilings["by_shape"]:
            ceilings["fp32_flops"] = max(v["fp32_flops"] for v in ceilings["by_shape"].values())
            bf = [v["bf16_flops"] for v in ceilings["by_shape"].values() if v["bf16_flops"]]
            ceilings["bf16_flops"] = max(bf) if bf else None

    for n_done, spec in enumerate(tqdm(specs, desc="models", unit="model", disable=len(specs) < 2), start=1):
        model_rows, detail = benchmark_model(spec, pairs, configs, args, ceilings, log=tqdm.write)
        rows.extend(model_rows)
        details.append(detail)
        if provenance["protocol"]["token_lengths"] is None:
            provenance["protocol"]["token_lengths"] = detail["token_lengths"]
        summarise_ceiling()
        if n_done < len(specs):  # partial results survive an interrupted run
            provenance["load_average_end"] = load_average()
            partial = {"schema": SCHEMA, "provenance": provenance, "ceiling": ceilings, "rows": rows, "models": details}
            write_json_atomic(out, {**partial, "complete": False, "models_pending": [s.label for s in specs[n_done:]]})

    accuracy = None
    if args.accuracy_model:
        from eval.speed_accuracy import AccuracyError, accuracy_check, format_accuracy

        try:
            accuracy = accuracy_check(
                args.accuracy_model,
                pairs,
                device=device,
                max_length=args.max_length,
                n_queries=args.accuracy_queries,
                k=args.accuracy_k,
                log=print,
            )
        except AccuracyError as exc:
            raise SpeedError(str(exc)) from None
        print("\n" + format_accuracy(accuracy))

    provenance["load_average_end"] = load_average()
    result = {
        "schema": SCHEMA,
        "provenance": provenance,
        "ceiling": ceilings,
        "rows": rows,
        "models": details,
    }
    if accuracy is not None:
        result["accuracy"] = accuracy
    result["complete"] = True
    if rows:
        print("\n" + format_table(rows))
        ratios = size_ratio_table(rows)
        if ratios:
            print("\n" + ratios)
    write_json_atomic(out, result)
    print(f"\nwrote {out}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``speed`` verb to ``python -m eval``."""
    p = subparsers.add_parser(
        "speed",
        help="pairs/s of rerankers on this machine (blog protocol) vs plain CrossEncoder.predict",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--models", default="17m", help="comma-separated Ettin sizes, Hub ids or local folders, or 'none' (default: 17m)")
    p.add_argument("--replica", action="store_true", help="benchmark faithful random replicas of Ettin sizes (offline)")
    p.add_argument("--configs", default=",".join(DEFAULT_CONFIGS), help=f"project-runtime configs (default: all of {', '.join(CONFIGS)})")
    p.add_argument("--max-length", type=int, default=512, help="truncate pairs at this many tokens (default 512)")
    p.add_argument("--pairs", default="scifact", choices=("scifact", "nq"), help="pair source: bundled SciFact (offline) or natural-questions (online)")
    p.add_argument("--n-pairs", type=int, default=None, help="number of pairs (default: 128 on CPU, 2048 on GPU)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--passes", type=int, default=3, help="timed passes per batch size (median kept)")
    p.add_argument(
        "--warmup-pairs", type=int, default=32, help="warm-up pass over the first max(batch, N) pairs (default 32; 0 = all)"
    )
    p.add_argument("--start-batch", type=int, default=8)
    p.add_argument("--max-batch", type=int, default=None, help="largest batch size tried (default: 256 CPU, 4096 GPU)")
    p.add_argument("--memory-cap-gb", type=float, default=DEFAULT_MEMORY_CAP_GB, help="CPU: stop the batch search past this RSS")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--output", default=None, help="JSON file (default: eval/results/speed/<hardware>_<UTC time>.json)")
    p.add_argument("--accuracy-model", default=None, help="a TRAINED CrossEncoder folder: check bf16 vs fp32 (Spearman, NDCG@10)")
    p.add_argument("--accuracy-queries", type=int, default=100, help="SciFact test queries for the NDCG@10 check")
    p.add_argument("--accuracy-k", type=int, default=30, help="BM25 candidates reranked per query in the NDCG@10 check")
    p.set_defaults(func=_main_with_defaults)


def _main_with_defaults(args: argparse.Namespace) -> int:
    try:
        device = _device(args.device)
    except SpeedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    gpu = device.startswith("cuda")
    if args.n_pairs is None:
        args.n_pairs = 2048 if gpu else 128
    if args.max_batch is None:
        args.max_batch = 4096 if gpu else 256
    return run(args)
