"""Compare streams size by size: an outcome after each size, no work after the stream is closed (the app's Stop), a
fixed reference with a note when it is skipped, and the tab's table, chart and disabled state without Gradio running."""

from __future__ import annotations

import json
import shutil

import gradio as gr
import pytest

from demo.search.playground import Playground
from demo.tabs.compare import NO_RERANKERS_NOTE, reranker_state, status_text
from demo.tabs.guard import guarded_stream
from demo.views.compare_figures import compare_figure, compare_table
from ettin.corpus import Corpus
from ettin.pipeline import InputError


@pytest.fixture(scope="module")
def models(replica_17m, tmp_path_factory):
    """Two copies of the 17m replica (``a``, ``b``) and ``1b``: a folder labelled as the 1B size that cannot load."""
    root = tmp_path_factory.mktemp("models-stream")
    for name in ("a", "b"):
        shutil.copytree(replica_17m, root / name)
    broken = root / "1b"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    (broken / "ettin_metadata.json").write_text(json.dumps({"random_init": True, "size": "1b"}))
    return root


@pytest.fixture()
def own_cache(tmp_path, monkeypatch):
    """A cache folder of this test's own: no rate another test stored is read back, only the ones recorded here."""
    monkeypatch.setenv("ETTIN_CACHE", str(tmp_path))
    return tmp_path


def _corpus() -> Corpus:
    return Corpus.from_texts([f"note {i} on topic {i % 3} and item {i}" for i in range(10)])


def test_the_stream_yields_after_the_candidates_and_after_each_size(models):
    play = Playground(models, include_hub=False)
    outcomes = list(play.compare_stream("topic 1 note", _corpus(), "bm25", ["a", "b"], k=10, precision="fp32"))
    assert [len(o.rows) for o in outcomes] == [0, 1, 2]
    assert [o.pending for o in outcomes] == [["a", "b"], ["b"], []]
    assert all(o.reference == "b" and not o.reference_note for o in outcomes)  # fixed from the start
    assert all(r.settings.dtype == "float32" for r in outcomes[-1].rows) and outcomes[-1].precision == "fp32"
    partial = compare_table(outcomes[1]).set_index("reranker")
    assert partial["status"].tolist() == ["done", "running…"] and partial["kendall_tau"].isna().all()
    assert "1 of 2 size(s) finished; running **b**" in status_text(outcomes[1]) and "fp32" in status_text(outcomes[1])
    final = compare_table(outcomes[-1])
    assert final["status"].tolist() == ["done", "done (reference)"] and final["kendall_tau"].notna().all()
    assert final.loc[1, "kendall_tau"] == pytest.approx(1.0)  # the reference agrees with itself
    top5 = final.loc[0, "top-5"].split("<br>")
    best = int(outcomes[-1].rows[0].top[0][1:])  # ids are d0, d1, ...
    assert len(top5) == 5 and top5[0] == f"1. {_corpus().texts[best]}"  # the whole (untitled) text, numbered
    # the chart keeps every size on its axis and draws agreement only once the reference has run
    fig = compare_figure(outcomes[1])
    assert list(fig.layout.xaxis.categoryarray) == list(fig.data[0].x) == ["a<br>16.9M", "b<br>16.9M"]
    assert fig.data[0].y == (outcomes[1].rows[0].seconds, None) and fig.data[1].y == (None, None)
    assert None not in compare_figure(outcomes[-1]).data[1].y


def test_closing_the_stream_runs_no_further_size(models, monkeypatch):
    play = Playground(models, include_hub=False)
    loaded = []
    real = play.reranker
    monkeypatch.setattr(play, "reranker", lambda choice, precision, **kw: loaded.append(choice.key) or real(choice, precision, **kw))
    stream = play.compare_stream("topic 1", _corpus(), "bm25", ["a", "b", "1b"], k=10, precision="fp32")
    next(stream)
    first = next(stream)
    assert [r.choice.key for r in first.rows] == ["a"] and loaded == ["a"]
    stream.close()  # what Gradio's Stop does to the generator between yields
    assert loaded == ["a"]


def test_a_largest_size_that_fails_keeps_its_place_and_the_note_says_what_replaced_it(models):
    play = Playground(models, include_hub=False, max_rerank_seconds=1e9)  # skipped for failing to load, not on time
    outcomes = list(play.compare_stream("topic 2", _corpus(), "bm25", ["a", "1b"], k=6, precision="fp32"))
    assert outcomes[0].reference == "1b" and not outcomes[0].reference_note
    final = outcomes[-1]
    assert [r.choice.key for r in final.rows] == ["a"] and final.skipped[0].startswith("1b: ")
    assert final.reference == "a" and "reference **1b** (the largest size selected) was skipped" in final.reference_note
    assert "measured against **a**" in final.reference_note and final.reference_note in status_text(final)
    assert compare_table(final).loc[1, "status"].startswith("skipped: ")


def test_errors_raised_while_streaming_are_one_clean_line():
    def stream():
        yield 1
        raise InputError("no rerankers to compare: build one")

    got = guarded_stream(stream())
    assert next(got) == 1
    with pytest.raises(gr.Error, match="no rerankers to compare"):
        next(got)


def test_without_rerankers_compare_is_disabled_until_one_is_built(replica_17m, tmp_path):
    play = Playground(tmp_path, include_hub=False)
    offered, selected, note = reranker_state(play, None)
    assert offered == [] and selected == [] and note == NO_RERANKERS_NOTE and "Search tab" in note
    with pytest.raises(InputError, match="no rerankers to compare"):
        next(play.compare_stream("topic", _corpus(), "bm25", None, k=5))
    shutil.copytree(replica_17m, tmp_path / "17m")  # what the Search tab's first-run button does, then refresh()
    play.refresh()
    offered, selected, note = reranker_state(play, ["gone"])
    assert [key for _, key in offered] == ["17m"] and selected == ["17m"] and note == ""


def test_a_size_over_the_limit_is_skipped_with_the_k_that_fits_unless_run_anyway(models, own_cache):
    play = Playground(models, include_hub=False, max_rerank_seconds=5.0)
    play.reranker(play.reranker_choice("a"), "fp32")  # a: its own rate (else it would be scaled from b's)
    play.record_throughput(play.reranker_choice("b"), "fp32", pairs=1, seconds=1.0)  # b: 1 pair/s, so K <= 5 fits
    final = play.compare("topic 1 note", _corpus(), "bm25", ["a", "b"], k=8, precision="fp32")
    n = len(final.candidates)
    assert [r.choice.key for r in final.rows] == ["a"] and len(final.skipped) == 1, final.skipped
    note = final.skipped[0]
    assert note.startswith(f"b: estimated {n} s for {n} documents > limit 5 s (measured on this machine: 1.0 pairs/s")
    assert "K ≤ 5 fits, or tick Run anyway" in note and note.estimate_s == pytest.approx(n) and note.fits == 5
    assert compare_table(final).loc[1, "status"] == "skipped: " + note.partition(": ")[2]
    fig = compare_figure(final)  # the skipped size's slot says so, with its estimate
    marks = [t for t in fig.data if t.name == "skipped (estimated time)"]
    assert len(marks) == 1 and marks[0].x == ("b<br>16.9M",) and marks[0].text == (f"skipped<br>est. {n} s<br>K ≤ 5 fits",)
    ran = play.compare("topic 1 note", _corpus(), "bm25", ["a", "b"], k=8, precision="fp32", run_anyway=True)
    assert [r.choice.key for r in ran.rows] == ["a", "b"] and not ran.skipped
    warned = ran.rows[1]
    assert warned.warning.startswith(f"⚠️ run anyway: b was estimated at {n} s for {n} documents, above the 5 s limit")
    assert f"- b: {warned.warning}" in status_text(ran) and not getattr(ran.rows[0], "warning", "")
    bars = compare_figure(ran).data[0]
    assert bars.text[1].endswith(" s ⚠️") and "run anyway: estimated above the time limit" in bars.hovertext[1]


def test_the_chart_marks_sizes_skipped_on_their_estimate_even_when_none_ran(models, own_cache):
    from demo.search.budget import SkipNote

    play = Playground(models, include_hub=False, max_rerank_seconds=5.0)
    for key in ("a", "b"):
        play.record_throughput(play.reranker_choice(key), "bf16", pairs=1, seconds=10.0)  # 0.1 pairs/s: nothing fits
    final = play.compare("topic 1 note", _corpus(), "bm25", ["a", "b"], k=8, precision="bf16")
    assert final.rows == [] and all(isinstance(s, SkipNote) and "no K fits" in s for s in final.skipped)
    fig = compare_figure(final)
    assert [t.name for t in fig.data if t.name == "skipped (estimated time)"] == ["skipped (estimated time)"]
    assert fig.data[0].y == (None, None) and all("skipped<br>est. " in t for t in fig.data[1].text)
    assert "no size ran" in final.reference_note
