"""An opt-in compiled encoder: ``torch.compile`` fuses the element-wise work around the matmuls (rotary embeddings,
masks, GELU, layer norms), which is most of a small model's CPU time besides attention.

Measured with ``python -m eval speed --models 17m --replica --configs fp32-sdpa,bf16-sdpa,bf16-sdpa-compiled`` (see
``eval/results/speed/``): the compiled bf16 17m replica against the eager bf16 one, same run.

Compile only while nothing else in the process runs a model: while it traces, ``torch.fx`` patches ``nn.Module.__call__``
for the whole process, and a forward pass in another thread then fails (``NameError: module is not installed as a
submodule``; a test that scored in a second thread during a compile found it). So the app compiles before it serves
and then calls :func:`no_more_compiling`: a shape the warm-up did not cover runs eagerly instead of compiling beside
other users' searches.

The sentence-transformers ``Transformer`` module calls its model's ``forward`` method by name rather than the module
itself, so the method is replaced by :class:`CompiledForward`, which falls back to the eager forward if compiling fails.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["COMPILE_MODES", "CompiledForward", "compile_encoder", "compiled_forward", "compiler_missing_reason", "no_more_compiling"]

logger = logging.getLogger("ettin.runtime")

RECOMPILE_LIMIT = 64
COMPILE_MODES = ("auto", "on", "off")  # auto: compile where the device has a compiler (compiler_missing_reason)


def compiler_missing_reason(device: str) -> str | None:
    """Why ``torch.compile`` cannot build kernels for ``device`` here (``None`` when it can): inductor needs a C++
    compiler for CPU kernels and Triton for CUDA ones."""
    if device.startswith("cuda"):
        return None if importlib.util.find_spec("triton") else "torch.compile on CUDA needs triton, which is not installed"
    if any(shutil.which(cxx) for cxx in ("g++", "c++", "clang++")):
        return None
    return "torch.compile on CPU needs a C++ compiler (g++ or clang++) on the PATH"


class CompiledForward:
    """The encoder's ``forward``: the compiled one unless compiling failed, then the eager one for good.

    Attributes:
        state: ``compiling``, ``ready`` or ``failed``.
        seconds: How long compiling took (``None`` until it ended).
        error: Why it failed (``None`` unless it did).
    """

    def __init__(self, eager: Callable[..., Any]):
        import torch
        import torch._dynamo.config

        # dynamo keeps 8 graphs per code object by default, then silently runs eager: every compiled model (size x
        # precision) and its one-pair graph share ModernBERT's forward
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT)
        self.eager = eager
        self.compiled = torch.compile(eager, dynamic=True)
        self.state = "compiling"
        self.seconds: float | None = None
        self.error: str | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.eager(*args, **kwargs) if self.state == "failed" else self.compiled(*args, **kwargs)

    def compile_with(self, warm_up: Callable[[], Any]) -> None:
        """Compile by running ``warm_up`` (calls that reach this forward); on any failure keep the eager forward and
        record why."""
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


def _encoder(model: Any) -> Any:
    """The transformers model inside a CrossEncoder's first module (``None`` when there is none)."""
    return getattr(next(iter(model.children()), model), "model", None)


def compiled_forward(model: Any) -> CompiledForward | None:
    """The :class:`CompiledForward` installed on a CrossEncoder's encoder, or ``None``."""
    forward = getattr(_encoder(model), "forward", None)
    return forward if isinstance(forward, CompiledForward) else None


def compile_encoder(reranker: Any, pairs: Sequence[tuple[str, str]], batch_size: int = 16) -> CompiledForward | None:
    """Compile ``reranker``'s encoder now, in this thread, on a full padded batch of ``pairs`` and on a one-pair batch
    (a batch of one compiles a graph of its own). Nothing else may run a model meanwhile (module docstring). A model
    compiled before is left as it is.

    Returns:
        The installed :class:`CompiledForward` (its ``state`` says whether compiling worked), or ``None`` when the
        model has no inner encoder to compile.
    """
    existing = compiled_forward(reranker.model)
    if existing is not None:
        return existing
    inner = _encoder(reranker.model)
    if inner is None:
        return None
    forward = CompiledForward(inner.forward)
    inner.forward = forward
    several = list(pairs)[: max(2, batch_size)]

    def warm_up() -> None:
        reranker.score_pairs(several, batch_size=max(2, batch_size))
        reranker.score_pairs(several[:1], batch_size=1)

    forward.compile_with(warm_up)
    return forward


def no_more_compiling() -> None:
    """From now on a compiled function whose guards fail runs eagerly instead of compiling (process-wide): what a
    server calls once its models are compiled, so that no compile ever runs beside a request."""
    import torch

    torch.compiler.set_stance("eager_on_recompile")
