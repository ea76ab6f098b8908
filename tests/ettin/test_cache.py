"""The project's one in-memory cache: LRU order, count and byte bounds, one load per key under concurrency."""

from __future__ import annotations

import threading
import time

import pytest

from ettin.cache import BoundedCache


def _loader(name, loads):
    def load():
        loads.append(name)
        return name

    return load


def test_bounds_count_and_memory_least_recently_used_first():
    cache = BoundedCache(max_items=2, max_bytes=100, size_of=lambda v: 90 if v == "big" else 40)
    loads: list[str] = []
    for key in ("a", "b", "a", "c"):
        cache.get((key,), _loader(key, loads))
    assert len(cache) == 2 and ("b",) not in cache and loads == ["a", "b", "c"]
    cache.get(("big",), _loader("big", loads))
    assert len(cache) == 1 and cache.bytes_held == 90


def test_loads_once_under_concurrency():
    cache = BoundedCache(max_items=3)
    calls = []

    def load():
        calls.append(1)
        time.sleep(0.05)
        return object()

    threads = [threading.Thread(target=cache.get, args=(("k",), load)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(cache) == 1


def test_failed_load_is_not_cached_and_can_be_retried():
    cache = BoundedCache(max_items=2)

    def broken():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        cache.get("k", broken)
    assert "k" not in cache
    assert cache.get("k", lambda: 5) == 5


def test_peek_put_and_clear():
    cache = BoundedCache(max_items=2)
    assert cache.peek("x") is None
    cache.put("x", 1)
    cache.put("y", 2)
    assert cache.peek("x") == 1  # x is now the most recently used
    cache.put("z", 3)
    assert cache.keys() == ["x", "z"]
    cache.clear()
    assert len(cache) == 0


def test_at_least_one_item():
    with pytest.raises(ValueError):
        BoundedCache(max_items=0)
