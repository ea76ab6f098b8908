"""Timing a scoring function: peak memory, one warm-up plus timed passes (median kept), and the batch-size search."""

from __future__ import annotations

import gc
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["PeakMemory", "ScoreFn", "Timing", "batch_search", "free", "sync", "time_passes"]

ScoreFn = Callable[[Sequence[tuple[str, str]], int], np.ndarray]
"""Scores (query, document) pairs at a batch size."""


def sync(device: str) -> None:
    """Wait for the GPU to finish queued work (a no-op on a CPU)."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def free() -> None:
    """Return the memory of models already dropped (``del model`` first: a CrossEncoder refers to itself, so only a
    collection frees it), on the host and the GPU."""
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


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
    score: ScoreFn,
    pairs: Sequence[tuple[str, str]],
    batch_size: int,
    device: str,
    passes: int = 3,
    warmup_pairs: int | None = None,
) -> Timing:
    """One warm-up (on ``warmup_pairs`` pairs, default all), then ``passes`` timed passes over all pairs; median kept."""
    warm = pairs if not warmup_pairs else pairs[: max(batch_size, warmup_pairs)]
    score(warm, batch_size)
    sync(device)
    times = []
    scores = np.zeros(0, dtype=np.float32)
    with PeakMemory(device) as mem:
        for _ in range(passes):
            t0 = time.perf_counter()
            scores = score(pairs, batch_size)
            sync(device)
            times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    return Timing(batch_size, len(pairs) / median, [round(t, 4) for t in times], mem.peak, np.asarray(scores, np.float32))


def batch_search(
    score: ScoreFn,
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
