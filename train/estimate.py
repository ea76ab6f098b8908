"""An honest time estimate for a training run, from what this machine measures before the run starts.

A training step and an inference batch of the student are timed on real rows (each once untimed first: the first call
pays for kernel setup), then multiplied by the run's step and pair counts. The estimate is printed before the long steps
start and recorded next to the measured times, so a reader sees how close it came.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Estimate", "time_inference", "time_training_step"]


@dataclass(frozen=True)
class Estimate:
    """Seconds per phase, from a timed training step and a timed inference batch."""

    step_s: float
    pairs_per_s: float
    steps: int
    pairs: dict[str, int]

    def seconds(self) -> dict[str, float]:
        """Estimated seconds of training and of scoring each phase's pairs, and their total."""
        out = {"train_s": self.step_s * self.steps}
        out.update({f"{phase}_s": n / self.pairs_per_s for phase, n in self.pairs.items()})
        out["total_s"] = sum(out.values())
        return {k: round(v, 1) for k, v in out.items()}

    def summary(self) -> str:
        s = self.seconds()
        parts = [f"training {self.steps} steps x {self.step_s:.2f} s = {s['train_s'] / 60:.0f} min"]
        parts += [f"{phase} {n:,} pairs at {self.pairs_per_s:.0f} pairs/s = {s[f'{phase}_s'] / 60:.0f} min" for phase, n in self.pairs.items()]
        return "; ".join(parts) + f"; about {s['total_s'] / 60:.0f} min in all (timed on this machine just now)"


def _timed(fn: Callable[[], Any], repeats: int = 2) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def time_training_step(model: Any, loss: Any, batch: Sequence[tuple[str, str, float]], bf16: bool) -> float:
    """Seconds of one optimiser step of ``loss`` over ``batch`` ((query, document, target) rows); the model's weights
    are restored afterwards."""
    import copy

    import torch

    state = copy.deepcopy(model.state_dict())
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.0)
    inputs = [[q for q, _, _ in batch], [d for _, d, _ in batch]]
    labels = torch.tensor([y for _, _, y in batch], dtype=torch.float32)

    def step() -> None:
        with torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=bf16):
            value = loss(inputs, labels)
        value.backward()
        optimizer.step()
        optimizer.zero_grad()

    model.train()
    seconds = _timed(step)
    model.load_state_dict(state)
    return seconds


def time_inference(score: Callable[[list[tuple[str, str]]], Any], pairs: Sequence[tuple[str, str]]) -> float:
    """Pairs per second of ``score`` over ``pairs``."""
    return len(pairs) / _timed(lambda: score(list(pairs)))
