"""The opt-in compiled encoder: compiled in a background thread while other threads keep scoring eagerly, then swapped
in with the same scores (fp32, where fusion changes rounding only); a failed compile leaves the model eager."""

from __future__ import annotations

import numpy as np
import pytest

from ettin.runtime import RuntimeSettings, compile_in_background, compiled_forward, compiler_missing_reason, load_reranker

PAIRS = [(f"query {i}", "a document about " + "cells and proteins " * i) for i in range(1, 6)]


def _reranker(replica_17m):
    return load_reranker(str(replica_17m), RuntimeSettings("cpu", "float32", "sdpa", 64, "test"))


@pytest.mark.slow
def test_compiles_in_the_background_while_other_threads_score_eagerly(replica_17m):
    if compiler_missing_reason("cpu"):
        pytest.skip(compiler_missing_reason("cpu"))
    reranker = _reranker(replica_17m)
    eager = reranker.score_pairs(PAIRS, batch_size=4)
    forward, thread = compile_in_background(reranker, PAIRS, batch_size=4)
    assert thread is not None and forward.state == "compiling"
    eager_calls = []
    original = forward.eager
    forward.eager = lambda *a, **k: eager_calls.append(1) or original(*a, **k)  # the dispatcher's eager path only
    during = 0
    while thread.is_alive():  # searches during the compile run the eager forward (threads share the cores: 1e-6)
        np.testing.assert_allclose(reranker.score_pairs(PAIRS, batch_size=4), eager, atol=1e-6)
        during += 1
    thread.join()
    assert during >= 1 and len(eager_calls) >= during  # (the last call may finish compiled: the switch is per batch)
    assert forward.state == "ready" and forward.seconds > 0 and forward.error is None
    calls_before = len(eager_calls)
    np.testing.assert_allclose(reranker.score_pairs(PAIRS, batch_size=4), eager, atol=1e-4)
    np.testing.assert_allclose(reranker.score_pairs(PAIRS[:1], batch_size=1), eager[:1], atol=1e-4)
    assert len(eager_calls) == calls_before  # once ready, every thread runs the compiled forward
    assert compile_in_background(reranker, PAIRS) == (forward, None)  # once per model
    assert compiled_forward(reranker.model) is forward


def test_a_failed_compile_keeps_the_eager_forward(replica_17m, monkeypatch):
    import torch

    def broken(*args, **kwargs):
        raise RuntimeError("inductor could not build a kernel")

    reranker = _reranker(replica_17m)
    eager = reranker.score_pairs(PAIRS, batch_size=4)
    monkeypatch.setattr(torch, "compile", lambda fn, **kwargs: broken)
    forward, thread = compile_in_background(reranker, PAIRS, batch_size=4)
    thread.join()
    assert forward.state == "failed" and "inductor could not build a kernel" in forward.error
    np.testing.assert_array_equal(reranker.score_pairs(PAIRS, batch_size=4), eager)
