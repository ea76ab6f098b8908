"""The app package's shared pieces: the user-error guard, the tools' command lines, texts and caches."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gradio as gr
import pytest

from demo.sources.user_corpus import CorpusInputError
from demo.tabs.guard import guard
from demo.tools.load import percentile
from ettin.corpus import Corpus
from ettin.errors import UserError
from ettin.pipeline import InputError
from ettin.runtime import ModelLoadError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("error", [InputError, ModelLoadError, CorpusInputError])
def test_every_user_error_is_a_user_error_and_keeps_its_message(error):
    assert issubclass(error, UserError)

    @guard
    def handler():
        raise error("K must be between 1 and 200")

    with pytest.raises(gr.Error, match="K must be between 1 and 200") as exc:
        handler()
    assert exc.value.__cause__ is None
    assert exc.value.print_exception is False  # a refusal prints no traceback in the server's log


def test_unexpected_errors_are_one_line_and_memory_errors_say_what_to_shrink():
    @guard
    def crash():
        raise KeyError("boom")

    @guard
    def oom():
        raise MemoryError

    with pytest.raises(gr.Error, match=r"unexpected error \(KeyError\): 'boom'"):
        crash()
    with pytest.raises(gr.Error, match="out of memory: choose a smaller model"):
        oom()


def test_allocator_failures_say_what_to_shrink_and_nothing_else_is_mistaken_for_them():
    import torch

    @guard
    def cuda_oom():
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    @guard
    def cpu_oom():
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: out of memory")

    @guard
    def other_runtime_error():
        raise RuntimeError("shape mismatch")

    for handler in (cuda_oom, cpu_oom):
        with pytest.raises(gr.Error) as exc:
            handler()
        assert exc.value.message == "out of memory: choose a smaller model, a smaller K or a smaller corpus"
    with pytest.raises(gr.Error) as exc:
        other_runtime_error()
    assert exc.value.message == "unexpected error (RuntimeError): shape mismatch"


def test_unexpected_errors_are_logged_with_traceback_and_cut_for_the_user(caplog):
    @guard
    def crash():
        raise ValueError("x" * 1000)

    with caplog.at_level("ERROR", logger="ettin.app"), pytest.raises(gr.Error) as exc:
        crash()
    assert exc.value.message == f"unexpected error (ValueError): {'x' * 200}" and exc.value.__cause__ is None
    assert caplog.records and caplog.records[0].exc_info and "unexpected error in crash" in caplog.text


def test_user_text_in_an_error_is_never_markup():
    @guard
    def refuse():
        raise InputError("unknown reranker '<img src=x onerror=alert(1)>' & more")

    @guard
    def crash():
        raise KeyError("<script>alert(1)</script>")

    with pytest.raises(gr.Error) as exc:
        refuse()
    assert exc.value.message == "unknown reranker '&lt;img src=x onerror=alert(1)&gt;' &amp; more"
    with pytest.raises(gr.Error) as exc:
        crash()
    assert "<" not in exc.value.message and "&lt;script&gt;" in exc.value.message


def test_a_gradio_error_passes_through_unchanged():
    @guard
    def refuse():
        raise gr.Error("already one line")

    with pytest.raises(gr.Error) as exc:
        refuse()
    assert exc.value.message == "already one line"


def test_percentile_interpolates():
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == pytest.approx(2.5)
    assert percentile([5.0], 0.95) == 5.0


@pytest.mark.parametrize(
    ("verb", "flags"),
    [("load", ["--models-dir", "--reranker", "--embedder", "--k", "--top-n", "--queries", "--concurrent", "--out"]),
     ("screenshots", ["--models-dir", "--first-stage", "--out"])],
)
def test_tools_are_verbs_of_python_m_demo(verb, flags):
    out = subprocess.run([sys.executable, "-m", "demo", verb, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"python -m demo {verb}" in out.stdout
    for flag in flags:
        assert flag in out.stdout


def test_reproduce_markdown_cites_the_post_and_the_new_load_command(tmp_path):
    from demo.board.store import BoardStore
    from demo.tabs.reproduce import reproduce_markdown
    from ettin.published import published

    text = reproduce_markdown(BoardStore(tmp_path))
    source = published().source
    assert f"[{source.title}]({source.url}) ({source.date})" in text
    assert "`python -m demo load --models-dir models --out eval/results/app/load.json`" in text
    assert "0 regenerated quality rows" in text


def test_first_stages_are_built_once_per_corpus():
    from demo.search.playground import Playground

    play = Playground(None, include_hub=False)
    corpus = Corpus.from_texts(["apples and pears", "pears only"])
    first = play.first_stage("bm25", corpus)
    assert play.first_stage("bm25", corpus) is first
    assert play.first_stage("bm25", Corpus.from_texts(["other"])) is not first


def test_every_reproduce_command_parses_with_its_cli():
    import importlib
    import re
    import shlex

    from demo.tabs.reproduce import reproduce_commands
    from ettin.cli import build_parser

    commands = re.findall(r"`([^`]+)`", reproduce_commands())
    checked = 0
    for line in commands:
        for command in line.split(" && "):
            argv = shlex.split(command)
            if argv[:2] != ["python", "-m"]:
                continue
            package = importlib.import_module(f"{argv[2]}.__main__")
            parser = build_parser(f"python -m {argv[2]}", "", package.VERB_MODULES)
            parser.parse_args(argv[3:])  # exits (fails the test) on an unknown verb or flag
            checked += 1
    assert checked >= 8


@pytest.mark.parametrize(("bound", "message"), [("nan", "finite number"), (float("inf"), "finite number"), ("-5", "0 or more"),
                                                 ("ten", "number of millions"), ([1], "number of millions")])  # fmt: skip
def test_a_bad_leaderboard_filter_bound_is_refused_not_an_empty_table(tmp_path, bound, message):
    from demo.board.store import BoardStore

    with pytest.raises(InputError, match=message):
        BoardStore.filter_kwargs(None, bound, None, None)
    assert BoardStore.filter_kwargs(None, "", " ", None)["min_params"] is None
    assert BoardStore.filter_kwargs(None, "17.5", 100, None)["max_params"] == 100e6


def test_export_applies_the_filters_to_the_ablation_too(tmp_path):
    import json as _json

    from demo.board.store import BoardStore

    store = BoardStore(tmp_path)
    everything = len(store.board.ablation)
    files = store.export(None, 300, None, None)  # only models above 300M parameters
    ablation = _json.loads(Path(next(f for f in files if f.endswith("ettin_ablation.json"))).read_text())
    assert everything > len(ablation) > 0 and all(row["params"] >= 300e6 for row in ablation)


def test_stop_flags_end_the_work_of_the_session_that_pressed_stop():
    from demo.tabs.guard import StopFlags, Stopped

    flags = StopFlags()
    check_a, check_b = flags.start("a"), flags.start("b")
    assert flags.stop("a") is True
    with pytest.raises(Stopped):
        check_a()
    check_b()  # another session's search goes on
    assert flags.stop("a") is False  # nothing running there any more
    newer = flags.start("b")  # a second search of the same session replaces the first's flag
    flags.finish("b", check_b)  # the first one ending does not forget the newer one's
    assert flags.stop("b") is True
    with pytest.raises(Stopped):
        newer()
    flags.finish("b", newer)
    assert flags.stop("b") is False

    # a stopped search gives up at the playground's next progress call, before any reranking
    from demo.search.playground import Playground

    play = Playground(None, include_hub=False)
    check = flags.start("c")
    flags.stop("c")
    with pytest.raises(Stopped):
        play.search("pears", Corpus.from_texts(["pears", "apples"]), "bm25", None, 2, 2, progress=lambda f, d: check())


def test_an_armed_flag_carries_a_stop_pressed_in_the_queue_to_the_handler_that_starts_later():
    from demo.tabs.guard import StopFlags, Stopped

    flags = StopFlags()
    flags.arm("q")  # the compare waits for its slot
    assert flags.stop("q") is True  # Stop pressed while it waits
    with pytest.raises(Stopped):
        flags.start("q")()  # the handler starts, and sees it at once
    flags.arm("q")
    flags.arm("q")  # a newer request replaces the older armed flag, unset
    check = flags.start("q")
    check()
    assert flags.stop("q") is True
    with pytest.raises(Stopped):
        check()
    flags.finish("q", check)
    fresh = flags.start("q")  # a stop answered before does not reach the next handler
    fresh()
    flags.finish("q", fresh)
    for n in range(StopFlags.MAX_ARMED + 10):  # sessions that never started stay bounded
        flags.arm(f"s{n}")
    assert len(flags._armed) == StopFlags.MAX_ARMED and flags.stop("s0") is False and flags.stop(f"s{n}") is True


def test_the_corpus_choices_include_full_scifact():
    import demo.sources.user_corpus
    from demo import texts
    from demo.tabs.search import corpus_choices, corpus_for

    assert corpus_for(texts.SAMPLE, None) is demo.sources.user_corpus.sample_corpus()
    with pytest.raises(CorpusInputError, match="no documents of yours"):
        corpus_for(texts.MINE, None)
    assert texts.FULL_SCIFACT in corpus_choices()
    assert len(corpus_for(texts.FULL_SCIFACT, None)) == 5183


def test_a_file_and_pasted_text_together_load_the_file_and_say_the_text_was_not_used(tmp_path):
    from demo.tabs.search import load_documents

    good, bad = tmp_path / "good.txt", tmp_path / "bad.csv"
    good.write_bytes(b"one\ntwo\n")
    bad.write_bytes(b"\x00\xff" * 50)
    corpus, message, _ = load_documents("pasted one\npasted two\npasted three", str(good))
    assert list(corpus.texts) == ["one", "two"] and "2 documents loaded" in message and "remove it with ×" in message
    assert "remove it" not in load_documents(None, str(good))[1]
    with pytest.raises(gr.Error, match=r"looks binary.*remove it with × to load the pasted text"):
        load_documents("pasted text", str(bad))  # the user pasted after a bad upload: the message says why it failed again
    with pytest.raises(gr.Error) as exc:
        load_documents(None, str(bad))
    assert "remove it" not in str(exc.value)


def test_the_board_is_built_in_the_background_after_the_warm_up_and_its_failure_reaches_its_readers(tmp_path,
                                                                                                  monkeypatch):
    import threading
    import time

    from demo.board import store as board_store

    built = []
    monkeypatch.setattr(board_store.lb, "build_leaderboard", lambda root: built.append(root) or "the board")
    warming_up = threading.Event()
    warm_up = threading.Thread(target=warming_up.wait)
    warm_up.start()
    store = board_store.BoardStore(tmp_path)
    store.start_after(warm_up)
    time.sleep(0.2)
    assert built == []  # nothing competes with the warm-up for the CPU
    warming_up.set()
    assert store.board == "the board" and built == [tmp_path]

    def broken(root):
        raise ValueError("a results file is unreadable")

    monkeypatch.setattr(board_store.lb, "build_leaderboard", broken)
    failing = board_store.BoardStore(tmp_path)  # no start: the first read starts the build
    with pytest.raises(ValueError, match="unreadable"):
        failing.board
