"""The project's one in-memory cache: a thread-safe LRU bounded by entry count and, optionally, by estimated bytes."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

__all__ = ["BoundedCache"]

V = TypeVar("V")


class BoundedCache(Generic[V]):
    """Least-recently-used cache; each key is loaded once even when many threads ask for it at the same time.

    Args:
        max_items: Most entries held at once (at least 1).
        max_bytes: Most estimated bytes held at once (``None``: no byte bound); the least recently used entries are
            dropped to make room. An entry larger than the bound on its own is still kept, alone.
        size_of: Estimated bytes of a value (needed only with ``max_bytes``).
    """

    def __init__(self, max_items: int, max_bytes: int | None = None, size_of: Callable[[V], int] | None = None):
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._size_of = size_of or (lambda _value: 0)
        self._items: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._lock = threading.RLock()
        self._loading: dict[Hashable, threading.Lock] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    @property
    def bytes_held(self) -> int:
        with self._lock:
            return sum(size for _, size in self._items.values())

    def peek(self, key: Hashable) -> V | None:
        """The value held for ``key`` (marking it recently used), or ``None``."""
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key][0]

    def put(self, key: Hashable, value: V) -> V:
        """Hold ``value`` under ``key``, evicting least recently used entries first if needed."""
        size = self._size_of(value)
        with self._lock:
            self._items.pop(key, None)
            self._evict_for(size)
            self._items[key] = (value, size)
        return value

    def get(self, key: Hashable, loader: Callable[[], V]) -> V:
        """The value for ``key``, calling ``loader`` once to make it when it is not held."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            held = self.peek(key)
            if held is not None:
                return held
            try:
                return self.put(key, loader())
            finally:
                with self._lock:
                    if self._loading.get(key) is key_lock:
                        del self._loading[key]

    def _evict_for(self, incoming: int) -> None:
        evicted = False
        while self._items and (
            len(self._items) >= self.max_items
            or (self.max_bytes is not None and self.bytes_held + incoming > self.max_bytes)
        ):
            self._items.popitem(last=False)
            evicted = True
        if evicted:
            import gc

            gc.collect()

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._items)

    def stats(self) -> dict[str, Any]:
        return {"items": len(self), "max_items": self.max_items, "bytes": self.bytes_held, "max_bytes": self.max_bytes}
