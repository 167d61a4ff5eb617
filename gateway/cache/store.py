"""Where entries live: a bounded LRU in memory, or Redis (``redis_store``).

A store never fails a request: an error or a slow store is a miss, and a write that
cannot be made is dropped.
"""

from __future__ import annotations

import abc
import time
from collections import OrderedDict

from gateway.cache.entry import CacheEntry


class ResponseCacheStore(abc.ABC):
    backend: str

    @abc.abstractmethod
    async def get(self, key: str) -> CacheEntry | None:
        """The live entry under ``key``, or ``None``."""

    @abc.abstractmethod
    def put(self, key: str, entry: CacheEntry, ttl_s: float) -> None:
        """Store ``entry`` for ``ttl_s`` seconds; never blocks the request."""

    @abc.abstractmethod
    async def purge(self, route_tag: str | None) -> int:
        """Drop the entries of one route (by its tag), or all; how many went."""

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


class MemoryResponseCache(ResponseCacheStore):
    """Least recently used entries go first once ``max_entries`` or ``max_bytes`` is
    reached; expired entries are dropped when met."""

    backend = "memory"

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[str, tuple[float, CacheEntry]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: str) -> CacheEntry | None:
        found = self._entries.get(key)
        if found is None:
            return None
        expires, entry = found
        if expires <= time.monotonic():
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: str, entry: CacheEntry, ttl_s: float) -> None:
        size = len(entry.body)
        if size > self.max_bytes:
            return
        if key in self._entries:
            self._drop(key)
        self._entries[key] = (time.monotonic() + ttl_s, entry)
        self.bytes += size
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    async def purge(self, route_tag: str | None) -> int:
        return self.purge_now(route_tag)

    def purge_now(self, route_tag: str | None) -> int:
        if route_tag is None:
            count = len(self._entries)
            self._entries.clear()
            self.bytes = 0
            return count
        keys = [k for k in self._entries if k.startswith(route_tag + ":")]
        for key in keys:
            self._drop(key)
        return len(keys)

    def _drop(self, key: str) -> None:
        _, entry = self._entries.pop(key)
        self.bytes -= len(entry.body)
