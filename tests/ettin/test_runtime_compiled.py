"""The opt-in compiled encoder: compiled on a padded batch and a one-pair batch, then scoring like the eager one (fp32,
where fusion changes rounding only); a failed compile leaves the model eager; after ``no_more_compiling`` a new shape
runs eagerly instead of compiling (a compile must never run beside another thread's forward pass)."""

from __future__ import annotations

import numpy as np
import pytest

from ettin.runtime import (
    RuntimeSettings,
    compile_encoder,
    compiled_forward,
    compiler_missing_reason,
    load_reranker,
    no_more_compiling,
)

PAIRS = [(f"query {i}", "a document about " + "cells and proteins " * i) for i in range(1, 6)]


def _reranker(replica_17m):
    return load_reranker(str(replica_17m), RuntimeSettings("cpu", "float32", "sdpa", 64, "test"))


@pytest.mark.slow
def test_compiled_scores_equal_eager_and_nothing_compiles_after_no_more_compiling(replica_17m):
    import torch

    if compiler_missing_reason("cpu"):
        pytest.skip(compiler_missing_reason("cpu"))
    reranker = _reranker(replica_17m)
    eager = reranker.score_pairs(PAIRS, batch_size=4)
    forward = compile_encoder(reranker, PAIRS, batch_size=4)
    assert forward.state == "ready" and forward.seconds > 0 and forward.error is None
    assert compiled_forward(reranker.model) is forward and compile_encoder(reranker, PAIRS) is forward  # once
    np.testing.assert_allclose(reranker.score_pairs(PAIRS, batch_size=4), eager, atol=1e-4)
    np.testing.assert_allclose(reranker.score_pairs(PAIRS[:1], batch_size=1), eager[:1], atol=1e-4)
    try:
        no_more_compiling()
        with torch.compiler.set_stance("fail_on_recompile"):  # the covered shapes need no compile
            np.testing.assert_allclose(reranker.score_pairs(PAIRS[:3], batch_size=3), eager[:3], atol=1e-4)
    finally:
        torch.compiler.set_stance("default")


def test_a_failed_compile_keeps_the_eager_forward(replica_17m, monkeypatch):
    import torch

    def broken(*args, **kwargs):
        raise RuntimeError("inductor could not build a kernel")

    reranker = _reranker(replica_17m)
    eager = reranker.score_pairs(PAIRS, batch_size=4)
    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: broken)
    forward = compile_encoder(reranker, PAIRS, batch_size=4)
    assert forward.state == "failed" and "inductor could not build a kernel" in forward.error
    np.testing.assert_array_equal(reranker.score_pairs(PAIRS, batch_size=4), eager)
