"""The start-up warm-up: after it, the first search over the bundled sample loads nothing."""

from __future__ import annotations

import importlib
import shutil

import pytest

from demo.search.loading import SAMPLE_MIN_PAIRS
from demo.search.playground import Playground
from demo.search.warmup import start_warm_up
from demo.sources.user_corpus import sample_corpus
from ettin.pipeline import EmbeddingStore
from ettin.runtime import INTERACTIVE_BATCH


@pytest.fixture()
def models_with_17m(replica_17m, tmp_path):
    shutil.copytree(replica_17m, tmp_path / "models" / "17m")  # a link would point outside the models folder: refused
    return tmp_path / "models"


def test_after_the_warm_up_the_first_search_loads_and_embeds_nothing(models_with_17m, monkeypatch, minilm_package):
    minilm = "sentence-transformers/all-MiniLM-L6-v2"
    play = Playground(models_with_17m, include_hub=False)
    assert play.throughput().rate("17m") is None
    start_warm_up(play, minilm, "17m").join(120)
    rate = play.throughput().measured("17m")
    assert rate is not None, "the reranker was timed once, so the first estimate is measured"
    assert "sample pairs timed when it loaded" in rate.basis()  # a batch of real documents, after an untimed call
    assert SAMPLE_MIN_PAIRS <= rate.pairs <= INTERACTIVE_BATCH  # fewer where rates stored here say it is slow

    model_cache = importlib.import_module("ettin.runtime.cache")

    def loaded(*args, **kwargs):
        raise AssertionError("the warm-up should have loaded this already")

    monkeypatch.setattr(model_cache, "load_reranker", loaded)
    monkeypatch.setattr(model_cache, "load_embedder", loaded)
    monkeypatch.setattr(EmbeddingStore, "get", loaded)
    outcome = play.search("Vitamin D deficiency and cancer", sample_corpus(), minilm, "17m", k=5, top_n=3)
    assert len(outcome.result.hits) == 3


def test_a_failing_warm_up_is_logged_not_raised(tmp_path, caplog):
    play = Playground(tmp_path, include_hub=False)
    start_warm_up(play, "no-such/embedder", None).join(60)
    assert "warm-up failed" in caplog.text


def test_a_completed_warm_up_records_its_seconds_and_ends_the_note(tmp_path):
    from demo.search.warmup import WARM_UP_FILE, last_warm_up_seconds
    from ettin import registry
    from ettin.paths import cache_dir

    (cache_dir() / WARM_UP_FILE).unlink(missing_ok=True)
    play = Playground(tmp_path, include_hub=False)
    start_warm_up(play, registry.BM25.id, None).join(60)
    seconds = last_warm_up_seconds()
    assert seconds is not None and 0 <= seconds < 60
    assert play.starting_note() == "", "nothing is said once the warm-up has ended"


def test_a_search_that_waits_for_the_warm_up_is_told_why_and_for_how_long(tmp_path):
    import threading
    import time

    from demo.search.warmup import WARM_UP_FILE
    from ettin import registry
    from ettin.io import write_json_atomic
    from ettin.paths import cache_dir

    write_json_atomic(cache_dir() / WARM_UP_FILE, {"seconds": 7.4})
    play = Playground(tmp_path, include_hub=False)
    release = threading.Event()
    play.warming = threading.Thread(target=release.wait, daemon=True)  # a warm-up still loading
    play.warming.start()
    play.warming_since = time.monotonic() - 2.2
    said: list[str] = []
    try:
        play.search("Vitamin D deficiency and cancer", sample_corpus(), registry.BM25.id, None, k=5, top_n=3,
                    progress=lambda fraction, text: said.append(text))  # fmt: skip
    finally:
        release.set()
    waiting = [text for text in said if "still loading its start-up models" in text]
    assert waiting, said
    assert "started 2 s ago" in waiting[0] and "that took 7 s at the last start on this machine" in waiting[0]
    play.warming.join(5)
    assert play.starting_note() == ""


@pytest.mark.parametrize("content", ["not json", '{"seconds": "soon"}', '{"seconds": -3}', '{"other": 1}'])
def test_an_unreadable_warm_up_record_gives_no_estimate(content):
    from demo.search.warmup import WARM_UP_FILE, last_warm_up_seconds
    from ettin.paths import cache_dir

    record = cache_dir() / WARM_UP_FILE
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(content, encoding="utf-8")
    try:
        assert last_warm_up_seconds() is None
    finally:
        record.unlink()
