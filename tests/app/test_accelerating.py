"""The app's background backend build: one per model, one at a time, swapped in while searches run on torch, and the
words that say where a rerank ran."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from demo.search.accelerating import AccelerateMixin, backend_mode, runtime_text
from ettin.pipeline import InputError


def test_backend_mode_reads_the_environment_and_refuses_an_unknown_one(monkeypatch):
    monkeypatch.delenv("ETTIN_BACKEND", raising=False)
    assert backend_mode() == "auto" and backend_mode(" OpenVINO ") == "openvino"
    monkeypatch.setenv("ETTIN_BACKEND", "torch")
    assert backend_mode() == "torch"
    with pytest.raises(InputError, match="backend must be one of torch, onnxruntime, openvino, auto"):
        backend_mode("tensorrt")


def _build(state, error=None, reason=""):
    return SimpleNamespace(state=state, error=error, choice=SimpleNamespace(reason=reason))


def test_runtime_text_names_the_backend_the_build_state_or_why_torch_was_kept():
    on_torch = SimpleNamespace(backend=None)
    exported = SimpleNamespace(backend=SimpleNamespace(name="openvino", precision="int8"))
    assert runtime_text(exported, _build("ready")) == "OpenVINO int8"
    assert runtime_text(on_torch) == "torch"
    assert runtime_text(on_torch, _build("building")).startswith("torch; a faster backend is being built")
    assert runtime_text(on_torch, _build("queued")).startswith("torch; a faster backend is being built")
    assert runtime_text(on_torch, _build("torch", reason="no export beat torch")) == "torch (kept: no export beat torch)"
    assert runtime_text(on_torch, _build("failed", error="exit 1: boom")) == "torch (kept: exit 1: boom)"


class _Play(AccelerateMixin):
    def __init__(self, backend):
        self.backend, self._builds = backend, {}
        self._build_lock, self._serial_builds = threading.Lock(), threading.Lock()
        self.loaded = []

    def reranker(self, choice, precision="auto"):
        self.loaded.append(choice.key)
        return self.model


def test_accelerate_starts_one_build_per_model_and_none_for_torch(monkeypatch):
    import ettin.runtime

    started = []

    def fake_start(model, backend, precision, *, lock=None, **kw):
        started.append((model, backend, precision, lock))
        return SimpleNamespace(state="building")

    monkeypatch.setattr(ettin.runtime, "start_backend_build", fake_start)
    play = _Play("auto")
    play.model = SimpleNamespace(backend=None)
    fused = SimpleNamespace(key="m + first stage", spec="m")
    alone = SimpleNamespace(key="m", spec="m")
    first = play.accelerate(fused)
    assert play.accelerate(alone) is first and play.backend_build(alone) is first  # one loaded model, one build
    assert started == [(play.model, "auto", "auto", play._serial_builds)]
    assert play.backend_build(None) is None
    assert _Play("torch").accelerate(alone) is None


def test_builds_sharing_a_lock_run_one_at_a_time(monkeypatch):
    from ettin.runtime import accelerate

    running, overlaps, lock = [], [], threading.Lock()

    def slow_attach(reranker, backend, precision):
        running.append(reranker)
        overlaps.append(len(running))
        threading.Event().wait(0.2)
        running.remove(reranker)
        return accelerate.BackendChoice(None, "kept torch")

    monkeypatch.setattr(accelerate, "attach_backend", slow_attach)
    builds = [accelerate.start_backend_build(SimpleNamespace(name=f"m{i}"), "auto", "auto", isolate=False, lock=lock)
              for i in range(3)]
    states = {b.state for b in builds}
    assert "queued" in states  # the others wait for the one that holds the lock
    for b in builds:
        b.wait(5)
    assert max(overlaps) == 1 and [b.state for b in builds] == ["torch"] * 3
