"""The app compiles its start-up reranker before it serves when asked (``--compile``/``$ETTIN_COMPILE``: auto, on,
off), then never again (a compile must not run beside a search); searches, comparisons and ``/rerank`` never compile;
the status line and the comparison table say what ran compiled. The compilation itself is tested in
tests/ettin/test_runtime_compiled.py; here it is replaced by a recorder."""

from __future__ import annotations

import pytest

from demo.search.params import compile_mode
from demo.search.playground import Playground
from demo.search.warmup import warm_up
from demo.views.search_text import status_text
from ettin.pipeline import InputError


class _Ready:
    state = "ready"


@pytest.fixture
def compiled(monkeypatch):
    """The models compile_encoder was called with; no_more_compiling calls are counted as None entries."""
    calls = []

    def record(model, pairs, batch_size=16):
        calls.append((model, batch_size))
        return _Ready()

    monkeypatch.setattr("ettin.runtime.compile_encoder", record)
    monkeypatch.setattr("ettin.runtime.no_more_compiling", lambda: calls.append(None))
    monkeypatch.setattr("ettin.runtime.compiler_missing_reason", lambda device: None)
    return calls


def _corpus():
    from ettin.corpus import Corpus

    return Corpus(["a", "b", "c"], ["cells and proteins", "proteins fold", "stars and galaxies"], ["", "", ""])


def test_modes_come_from_the_argument_then_the_environment(monkeypatch):
    monkeypatch.setenv("ETTIN_COMPILE", " ON ")
    assert compile_mode() == "on" and compile_mode("off") == "off"
    monkeypatch.delenv("ETTIN_COMPILE")
    assert compile_mode() == "auto"
    with pytest.raises(InputError, match=r"compile must be one of auto, on, off .*not 'sometimes'"):
        Playground(None, include_hub=False, compile="sometimes")


def test_only_the_warm_up_before_serving_compiles_then_compiling_stops(replica_17m, compiled):
    play = Playground(replica_17m.parent, include_hub=False, compile="on")
    warm_up(play, "bm25", "17m")  # the warm-up that runs while the app is already serving: no compile
    play.search("cells and proteins", _corpus(), "bm25", "17m", k=3)
    play.compare("cells and proteins", _corpus(), "bm25", ["17m"], k=3)
    assert compiled == []
    assert warm_up(play, "bm25", "17m", compile=True) > 0
    assert [c[1] if c else c for c in compiled] == [16, None]  # the interactive batch, then no more compiling


def test_off_and_auto_without_a_compiler_compile_nothing(replica_17m, compiled, monkeypatch):
    for mode in ("off", "auto"):
        if mode == "auto":
            monkeypatch.setattr("ettin.runtime.compiler_missing_reason", lambda device: "no C++ compiler")
        play = Playground(replica_17m.parent, include_hub=False, compile=mode)
        assert play.compile_reranker(play.reranker_choice("17m"), "fp32") is None
    assert compiled == []


@pytest.mark.parametrize("state,shown", [("ready", ", compiled"), ("failed", "compiling failed"), (None, "")])
def test_the_status_line_says_how_the_reranker_ran(replica_17m, state, shown):
    play = Playground(replica_17m.parent, include_hub=False, compile="off")
    outcome = play.search("cells and proteins", _corpus(), "bm25", "17m", k=3)
    assert outcome.compiled is None
    outcome.compiled = state
    line = status_text(outcome, 3, None).splitlines()[2]
    assert "reranked by" in line and (shown in line if shown else "compil" not in line)


def test_the_comparison_table_says_which_sizes_ran_compiled(replica_17m):
    from demo.views.compare_figures import compare_table

    play = Playground(replica_17m.parent, include_hub=False, compile="off")
    outcome = play.compare("cells and proteins", _corpus(), "bm25", ["17m"], k=3)
    assert compare_table(outcome).loc[0, "dtype"] in ("float32", "bfloat16")
    outcome.rows[0].compiled = "ready"
    assert compare_table(outcome).loc[0, "dtype"].endswith(", compiled")
