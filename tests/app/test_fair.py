"""The corpus-embedding queue: one corpus at a time, a time budget judged from the measured rate, live progress."""

from __future__ import annotations

import threading

import pytest

from demo.search.fair import EmbeddingQueue
from ettin.pipeline import InputError


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_reports_the_measured_rate_and_the_time_left():
    clock, reports = FakeClock(), []
    queue = EmbeddingQueue(max_seconds=100, clock=clock)
    with queue.slot(1000, lambda fraction, text: reports.append((fraction, text))) as progress:
        clock.now = 10.0
        progress(250, 1000)
    assert reports[-1] == (0.25, "embedding: 250/1,000 documents, 25/s, about 30 s left")


def test_a_corpus_projected_past_the_budget_stops_and_says_how_many_documents_fit():
    clock = FakeClock()
    queue = EmbeddingQueue(max_seconds=60, clock=clock)
    with pytest.raises(InputError, match=r"about 200 s at the 10 documents/s.*limit is 60 s — use at most about 600 documents"):
        with queue.slot(2000) as progress:
            clock.now = 12.8
            progress(128, 2000)
    with queue.slot(10) as progress:  # the slot was released by the failed run
        progress(10, 10)


def test_the_last_report_never_refuses_a_finished_corpus():
    clock = FakeClock()
    queue = EmbeddingQueue(max_seconds=5, clock=clock)
    with queue.slot(100) as progress:
        clock.now = 9.0
        progress(100, 100)


def test_a_second_corpus_waits_for_the_first_and_is_told_why():
    queue = EmbeddingQueue(max_seconds=30)
    first_in, release, order, reports = threading.Event(), threading.Event(), [], []

    def first():
        with queue.slot(10):
            first_in.set()
            release.wait(10)
            order.append("first done")

    t = threading.Thread(target=first)
    t.start()
    assert first_in.wait(10)
    second = threading.Thread(target=lambda: _second(queue, order, reports))
    second.start()
    while not reports:  # the second caller says it waits before it blocks
        second.join(0.01)
    assert "waiting for another user's corpus" in reports[0] and order == []
    release.set()
    t.join(10), second.join(10)
    assert order == ["first done", "second ran"]


def _second(queue, order, reports):
    with queue.slot(10, lambda fraction, text: reports.append(text)):
        order.append("second ran")


def test_a_slot_busy_for_the_whole_budget_gives_a_clear_refusal():
    queue = EmbeddingQueue(max_seconds=0.2)
    held, release = threading.Event(), threading.Event()

    def hold():
        with queue.slot(1):
            held.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    assert held.wait(10)
    with pytest.raises(InputError, match="choose BM25"):
        with queue.slot(1):
            pass
    release.set()
    t.join(10)


class BlockingEmbedder:
    """Stands in for an embedder whose corpus embedding takes as long as the test wants."""

    name = "blocking/embedder"
    settings = type("Settings", (), {"dtype": "float32"})()
    model = type("Model", (), {"max_seq_length": 16})()

    def __init__(self) -> None:
        self.started, self.release = threading.Event(), threading.Event()

    def provenance(self) -> dict:
        return {"weights_sha256": "test"}

    def _prompt_kwargs(self, role: str) -> dict:
        return {}

    def encode(self, texts, role, batch_size=64):
        import numpy as np

        if role == "document":
            self.started.set()
            assert self.release.wait(30), "never released"
        return np.ones((len(texts), 4), dtype=np.float32)


def test_a_bm25_search_answers_while_another_session_embeds_its_corpus(monkeypatch, tmp_path):
    import ettin.runtime
    from demo.search.playground import Playground
    from demo.sources.user_corpus import sample_corpus
    from ettin.corpus import Corpus

    monkeypatch.setenv("ETTIN_CACHE", str(tmp_path / "cache"))
    embedder = BlockingEmbedder()
    monkeypatch.setattr(ettin.runtime, "cached_embedder", lambda key, **kw: embedder)
    play = Playground(None, include_hub=False)
    dense = next(c.key for c in play.first_stages if c.key != "bm25")
    upload = Corpus.from_texts([f"an uploaded document number {i}" for i in range(300)])
    embedding = threading.Thread(target=play.first_stage, args=(dense, upload))
    embedding.start()
    assert embedder.started.wait(30)
    searched = []
    bm25 = threading.Thread(target=lambda: searched.append(play.search("vitamin D", sample_corpus(), "bm25", None, 5, 3)))
    bm25.start()
    bm25.join(60)
    assert searched and len(searched[0].result.hits) == 3, "the BM25 search waited for the embedding"
    assert embedding.is_alive(), "the embedding was still running while BM25 answered"
    embedder.release.set()
    embedding.join(30)
    assert play.first_stage(dense, upload).embeddings.shape == (300, 4)
