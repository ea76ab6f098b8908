"""The corpus-embedding queue: one corpus at a time, a time budget judged from the measured rate, live progress."""

from __future__ import annotations

import threading

import pytest

from demo.fair import EmbeddingQueue
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
