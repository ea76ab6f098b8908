"""The app compiles each loaded reranker in the background when asked (``--compile``/``$ETTIN_COMPILE``: auto, on,
off), once per model; the start-up warm-up waits for it; the status line says how the reranker ran. The compilation
itself is tested in tests/ettin/test_runtime_compiled.py; here it is replaced by a recorder."""

from __future__ import annotations

import threading

import pytest

from demo.playground import Playground, compile_mode
from demo.tabs.search import status_text
from demo.warmup import warm_up
from ettin.pipeline import InputError


@pytest.fixture
def started(monkeypatch):
    """The models compile_in_background started compiling, each given a finished thread (a model already started
    gets no thread, as the real one does)."""
    calls = []

    def fake(model, pairs, batch_size=16):
        if any(model is seen for seen, _, _ in calls):
            return object(), None
        calls.append((model, len(pairs), batch_size))
        thread = threading.Thread(target=lambda: None)
        thread.start()
        return object(), thread

    monkeypatch.setattr("ettin.runtime.compile_in_background", fake)
    monkeypatch.setattr("ettin.runtime.compiler_missing_reason", lambda device: None)
    return calls


def test_modes_come_from_the_argument_then_the_environment(monkeypatch):
    monkeypatch.setenv("ETTIN_COMPILE", " ON ")
    assert compile_mode() == "on" and compile_mode("off") == "off"
    monkeypatch.delenv("ETTIN_COMPILE")
    assert compile_mode() == "auto"
    with pytest.raises(InputError, match=r"compile must be one of auto, on, off .*not 'sometimes'"):
        Playground(None, include_hub=False, compile="sometimes")


def test_on_compiles_each_loaded_reranker_once_and_the_warm_up_waits(replica_17m, started):
    play = Playground(replica_17m.parent, include_hub=False, compile="on")
    seconds = warm_up(play, "bm25", "17m")
    assert seconds > 0 and [batch for _, _, batch in started] == [16] and started[0][1] >= 2
    assert all(not t.is_alive() for t in play.compile_threads)
    outcome = play.search("cells and proteins", _corpus(), "bm25", "17m", k=5)
    assert len(started) == 1 and len(play.compile_threads) == 1  # the cached model is not compiled again
    assert outcome.compiled is None  # the recorder installed nothing: the status says nothing of compiling


def test_off_and_auto_without_a_compiler_compile_nothing(replica_17m, started, monkeypatch):
    for mode in ("off", "auto"):
        if mode == "auto":
            monkeypatch.setattr("ettin.runtime.compiler_missing_reason", lambda device: "no C++ compiler")
        play = Playground(replica_17m.parent, include_hub=False, compile=mode)
        play.reranker(play.reranker_choice("17m"), "fp32")
        assert play.compile_threads == []
    assert started == []


@pytest.mark.parametrize("state,shown", [("ready", ", compiled"), ("compiling", "compiling in the background"),
                                         ("failed", "compiling failed"), (None, "")])  # fmt: skip
def test_the_status_line_says_how_the_reranker_ran(replica_17m, state, shown):
    play = Playground(replica_17m.parent, include_hub=False, compile="off")
    outcome = play.search("cells and proteins", _corpus(), "bm25", "17m", k=3)
    outcome.compiled = state
    line = status_text(outcome, 3, None).splitlines()[2]
    assert "reranked by" in line and (shown in line if shown else "compil" not in line)


def _corpus():
    from ettin.corpus import Corpus

    return Corpus(["a", "b", "c"], ["cells and proteins", "proteins fold", "stars and galaxies"], ["", "", ""])


def test_a_comparison_starts_no_compilation_and_its_table_says_which_sizes_ran_compiled(replica_17m, started):
    from demo.compare_figures import compare_table

    play = Playground(replica_17m.parent, include_hub=False, compile="on")
    outcome = play.compare("cells and proteins", _corpus(), "bm25", ["17m"], k=3)
    assert started == [] and play.compile_threads == []  # a compile beside it would skew the times it compares
    assert compare_table(outcome).loc[0, "dtype"] in ("float32", "bfloat16")
    outcome.rows[0].compiled = "ready"
    assert compare_table(outcome).loc[0, "dtype"].endswith(", compiled")
