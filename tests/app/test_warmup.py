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
