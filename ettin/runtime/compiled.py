"""An opt-in compiled encoder: ``torch.compile`` fuses the element-wise work around the matmuls (rotary embeddings,
masks, GELU, layer norms), which is most of a small model's CPU time besides attention.

Measured with ``python -m eval speed --models 17m --replica --configs fp32-sdpa,bf16-sdpa,bf16-sdpa-compiled`` (see
``eval/results/speed/``): the compiled bf16 17m replica against the eager bf16 one, same run. Compiling costs tens of
seconds on a small CPU, so it is never on a user's request path: :func:`compile_in_background` compiles in a
worker thread while every other thread keeps the eager forward, and swaps the compiled one in when it is ready.

The sentence-transformers ``Transformer`` module calls its model's ``forward`` method by name rather than the module
itself, so the method is replaced by a dispatcher (:class:`CompiledForward`) that picks the eager or the compiled
forward per call.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["CompiledForward", "compile_encoder", "compile_in_background", "compiled_forward", "compiler_missing_reason"]

logger = logging.getLogger("ettin.runtime")

RECOMPILE_LIMIT = 64
_COMPILE_LOCK = threading.Lock()  # one compilation at a time: each takes both cores of a small machine for a while


def compiler_missing_reason(device: str) -> str | None:
    """Why ``torch.compile`` cannot build kernels for ``device`` here (``None`` when it can): inductor needs a C++
    compiler for CPU kernels and Triton for CUDA ones."""
    if device.startswith("cuda"):
        return None if importlib.util.find_spec("triton") else "torch.compile on CUDA needs triton, which is not installed"
    if any(shutil.which(cxx) for cxx in ("g++", "c++", "clang++")):
        return None
    return "torch.compile on CPU needs a C++ compiler (g++ or clang++) on the PATH"


class CompiledForward:
    """The encoder's ``forward``: the compiled one for the compiling thread and, once :attr:`state` is ``ready``, for
    every thread; the eager one otherwise (and for good when compiling failed).

    Attributes:
        state: ``compiling``, ``ready`` or ``failed``.
        seconds: How long compiling took (``None`` until it ended).
        error: Why it failed (``None`` unless it did).
    """

    def __init__(self, eager: Callable[..., Any]):
        import torch
        import torch._dynamo.config

        # dynamo keeps 8 graphs per code object by default, then silently runs eager: every loaded model (size x
        # precision) and its one-pair graph shares ModernBERT's forward
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT)
        self.eager = eager
        self.compiled = torch.compile(eager, dynamic=True)
        self.state = "compiling"
        self.seconds: float | None = None
        self.error: str | None = None
        self._compiler: threading.Thread | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.state == "ready" or (self.state == "compiling" and threading.current_thread() is self._compiler):
            return self.compiled(*args, **kwargs)
        return self.eager(*args, **kwargs)

    def compile_with(self, warm_up: Callable[[], Any]) -> None:
        """Compile by running ``warm_up`` (calls that reach this forward) in this thread, then switch every thread to
        the compiled forward; on any failure keep the eager one and record why."""
        with _COMPILE_LOCK:
            self._compiler = threading.current_thread()
            t0 = time.perf_counter()
            try:
                warm_up()
            except Exception as exc:  # noqa: BLE001 - a failed compile leaves the model working, eager
                self.error = f"{type(exc).__name__}: {str(exc)[:300]}"
                self.state = "failed"
                logger.warning("compiling the encoder failed, it stays eager: %s", self.error)
            else:
                self.state = "ready"
            finally:
                self.seconds = time.perf_counter() - t0
                self._compiler = None


def compiled_forward(model: Any) -> CompiledForward | None:
    """The :class:`CompiledForward` installed on a CrossEncoder's encoder, or ``None``."""
    inner = getattr(next(iter(model.children()), model), "model", None)
    forward = getattr(inner, "forward", None)
    return forward if isinstance(forward, CompiledForward) else None


def _install(model: Any) -> CompiledForward | None:
    """Put a :class:`CompiledForward` on the encoder (once); ``None`` when the model has no inner encoder to compile."""
    existing = compiled_forward(model)
    if existing is not None:
        return existing
    inner = getattr(next(iter(model.children()), model), "model", None)
    if inner is None:
        return None
    inner.forward = CompiledForward(inner.forward)
    return inner.forward


def _warm_up_calls(score_pairs: Callable[..., Any], pairs: Sequence[tuple[str, str]], batch_size: int) -> Callable[[], None]:
    """Calls that compile the shapes a search meets: a full padded batch, and a batch of one pair (a batch of one
    compiles a graph of its own)."""
    several = list(pairs)[: max(2, batch_size)]

    def run() -> None:
        score_pairs(several, batch_size=max(2, batch_size))
        score_pairs(several[:1], batch_size=1)

    return run


def compile_encoder(reranker: Any, pairs: Sequence[tuple[str, str]], batch_size: int = 16) -> CompiledForward | None:
    """Compile ``reranker``'s encoder now, in this thread (blocking): the benchmark's way.

    Returns:
        The installed :class:`CompiledForward` (its ``state`` says whether compiling worked), or ``None`` when the
        model has nothing to compile.
    """
    forward = _install(reranker.model)
    if forward is not None and forward.state == "compiling":
        forward.compile_with(_warm_up_calls(reranker.score_pairs, pairs, batch_size))
    return forward


def compile_in_background(
    reranker: Any, pairs: Sequence[tuple[str, str]], batch_size: int = 16
) -> tuple[CompiledForward | None, threading.Thread | None]:
    """Start compiling ``reranker``'s encoder in a daemon thread (one compilation at a time); searches keep the eager
    forward until it is ready. A model already compiled or compiling is left as it is.

    Returns:
        The :class:`CompiledForward` and the thread (``None`` for the thread when nothing was started).
    """
    already = compiled_forward(reranker.model)
    forward = already or _install(reranker.model)
    if forward is None or already is not None:
        return forward, None
    thread = threading.Thread(
        target=forward.compile_with, args=(_warm_up_calls(reranker.score_pairs, pairs, batch_size),),
        name="ettin-compile", daemon=True,
    )  # fmt: skip
    thread.start()
    return forward, thread
