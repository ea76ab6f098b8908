"""The machine's own ceiling (``torch.matmul`` at a model's layer shapes) and FLOP counts of a forward pass.

A config's *ceiling fraction* is its achieved useful FLOP/s (FLOPs per pair from parameter and token counts, times
pairs/s) divided by the matmul throughput this machine reaches on the same layer shapes in the same dtype. It shows how
much of the hardware a config uses: close to 1 means only a faster matmul (or fewer FLOPs) can help.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from eval.speed.measure import sync

__all__ = ["EncoderShape", "flops_per_pair", "matmul_ceiling", "mean_flops_per_pair"]


@dataclass(frozen=True)
class EncoderShape:
    """The dimensions that decide an encoder's FLOPs."""

    hidden: int
    intermediate: int
    layers: int
    vocab: int
    global_every: int = 3
    local_window: int = 128

    @classmethod
    def from_config(cls, config: Any) -> EncoderShape:
        """Read a ModernBERT-like transformers config (other encoders: all layers counted as global)."""
        layer_types = getattr(config, "layer_types", None)
        every = 3 if layer_types else 1
        return cls(
            hidden=int(config.hidden_size),
            intermediate=int(config.intermediate_size),
            layers=int(config.num_hidden_layers),
            vocab=int(getattr(config, "vocab_size", 0) or 0),
            global_every=int(getattr(config, "global_attn_every_n_layers", every) or every),
            local_window=int(getattr(config, "local_attention", 0) or 0),
        )

    def matmul_shapes(self, glu: bool = True) -> list[tuple[int, int]]:
        """(in, out) of each weight matrix in one layer: QKV, attention output, MLP in (GLU: 2x) and MLP out."""
        h, i = self.hidden, self.intermediate
        return [(h, 3 * h), (h, h), (h, (2 if glu else 1) * i), (i, h)]

    def linear_params_per_layer(self, glu: bool = True) -> int:
        return sum(a * b for a, b in self.matmul_shapes(glu))


def flops_per_pair(shape: EncoderShape, length: int, glu: bool = True) -> float:
    """Useful FLOPs of one forward pass over a pair of ``length`` tokens (no padding, multiply-add = 2 FLOPs).

    Linear layers: ``2 * params * tokens``; attention scores and values: ``4 * tokens * keys * hidden`` per layer, where a
    global layer sees all tokens and a local (sliding-window) layer at most ``local_window + 1``; head: one token.
    """
    linear = 2.0 * shape.linear_params_per_layer(glu) * length * shape.layers
    attention = 0.0
    for layer in range(shape.layers):
        is_global = shape.local_window == 0 or layer % shape.global_every == 0
        keys = length if is_global else min(length, shape.local_window + 1)
        attention += 4.0 * length * keys * shape.hidden
    head = 2.0 * (shape.hidden * shape.hidden + shape.hidden)
    return linear + attention + head


def mean_flops_per_pair(shape: EncoderShape, lengths: np.ndarray, glu: bool = True) -> float:
    return float(np.mean([flops_per_pair(shape, int(n), glu) for n in lengths]))


def matmul_ceiling(
    shape: EncoderShape,
    dtype: str = "float32",
    *,
    tokens: int = 4096,
    device: str = "cpu",
    min_seconds: float = 0.25,
    glu: bool = True,
) -> float:
    """FLOP/s of ``torch.matmul`` over one layer's weight shapes with ``tokens`` rows, in ``dtype`` on ``device``.

    Each shape is timed (after a warm-up) for at least ``min_seconds``; the result is total FLOPs over total time, i.e.
    the rate of a layer's matmuls run back to back, the best case for the linear part of the model.
    """
    import torch

    torch_dtype = getattr(torch, dtype)
    total_flops = 0.0
    total_time = 0.0
    with torch.inference_mode():
        for k, n in shape.matmul_shapes(glu):
            a = torch.randn(tokens, k, dtype=torch_dtype, device=device)
            b = torch.randn(k, n, dtype=torch_dtype, device=device)
            torch.matmul(a, b)
            sync(device)
            reps = 0
            t0 = time.perf_counter()
            while True:
                torch.matmul(a, b)
                reps += 1
                if reps % 4 == 0:
                    sync(device)
                    if time.perf_counter() - t0 >= min_seconds:
                        break
            elapsed = time.perf_counter() - t0
            total_flops += 2.0 * tokens * k * n * reps
            total_time += elapsed
    return total_flops / total_time

