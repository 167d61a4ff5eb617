"""Entries in Redis under the gateway's prefix, so every replica shares them.

Keys: ``{<prefix>}:cache:<route tag>:<digest>``, with the entry's TTL. Each replica keeps
the entries it met in a local LRU in front of Redis, valid until the entry's own
expiry: a repeated hit then costs no round trip. A purge is published on
``{<prefix>}:cache-purge``, and every replica drops its local copies on hearing it;
while that channel is not heard (Redis away, reconnecting), the local layer is not
used, so a purge is never missed.

A lookup that fails is a miss. After a failure the store answers misses without
asking Redis for ``RETRY_AFTER_S``, so an outage costs requests nothing; it is logged
once.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import Callable
from typing import Any

import structlog
from redis.exceptions import RedisError

from gateway.cache.entry import CacheEntry
from gateway.cache.store import MemoryResponseCache, ResponseCacheStore
from gateway.state.redis import glob_escape
from gateway.state.redis_connect import RedisClient, discover

log = structlog.get_logger("gateway.cache")

RETRY_AFTER_S = 1.0
MAX_PENDING_WRITES = 512
_ALL = "*"


class RedisResponseCache(ResponseCacheStore):
    backend = "redis"

    def __init__(
        self, client: RedisClient, key_of: Callable[[str], str], max_entries: int, max_bytes: int
    ) -> None:
        self._client = client
        self._key_of = key_of
        self.channel = key_of("cache-purge")
        self.local = MemoryResponseCache(max_entries, max_bytes)
        # True while the purge channel is heard: only then is the local layer trusted.
        self.listening = False
        self._retry_at = 0.0
        self._outage_logged = False
        self._writes: set[asyncio.Task[Any]] = set()
        self._listener: asyncio.Task[None] | None = None
        self._closing = False
        self.errors_total = 0

    async def start(self) -> None:
        self._listener = asyncio.get_running_loop().create_task(
            self._listen(), name="response-cache-purges"
        )

    def _failed(self, operation: str, exc: BaseException) -> None:
        if self._closing:
            return
        self.errors_total += 1
        self._retry_at = time.monotonic() + RETRY_AFTER_S
        if not self._outage_logged:
            self._outage_logged = True
            log.warning(
                "response cache unavailable; serving misses",
                operation=operation,
                error=type(exc).__name__,
            )

    def _ok(self) -> None:
        if self._outage_logged:
            self._outage_logged = False
            log.info("response cache reachable again")

    async def get(self, key: str) -> CacheEntry | None:
        if self.listening:
            entry = await self.local.get(key)
            if entry is not None:
                return entry
        if time.monotonic() < self._retry_at:
            return None
        try:
            data = await self._client.get(self._key_of("cache:" + key))
        except (RedisError, OSError) as exc:
            self._failed("get", exc)
            return None
        self._ok()
        entry = CacheEntry.decode(data) if isinstance(data, bytes) else None
        if entry is not None and self.listening:
            self._keep_local(key, entry)
        return entry

    def _keep_local(self, key: str, entry: CacheEntry) -> None:
        ttl_s = entry.expires - time.time()
        if ttl_s > 0:
            self.local.put(key, entry, ttl_s)

    def put(self, key: str, entry: CacheEntry, ttl_s: float) -> None:
        if self.listening:
            self._keep_local(key, entry)
        if time.monotonic() < self._retry_at or len(self._writes) >= MAX_PENDING_WRITES:
            return
        task = asyncio.get_running_loop().create_task(self._write(key, entry, ttl_s))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, key: str, entry: CacheEntry, ttl_s: float) -> None:
        try:
            await self._client.set(
                self._key_of("cache:" + key),
                entry.encode(compress=True),
                px=max(1, math.ceil(ttl_s * 1000)),
            )
        except (RedisError, OSError) as exc:
            self._failed("put", exc)

    async def purge(self, route_tag: str | None) -> int:
        # Announced first: a replica must not serve a local copy of what goes next.
        await self._client.publish(self.channel, route_tag or _ALL)
        pattern = glob_escape(self._key_of("cache:" + (f"{route_tag}:" if route_tag else "")))
        names = [name async for name in self._client.scan_iter(match=pattern + "*", count=500)]
        for start in range(0, len(names), 500):
            await self._client.unlink(*names[start : start + 500])
        await self.local.purge(route_tag)
        return len(names)

    def _on_purge(self, data: Any) -> None:
        tag = data.decode("latin-1") if isinstance(data, bytes) else str(data)
        tags = self.local.purge_now(None if tag == _ALL else tag)
        log.debug("response cache purged locally", route_tag=tag, entries=tags)

    async def _listen(self) -> None:
        backoff = 0.05
        while not self._closing:
            pubsub: Any = None
            try:
                await discover(self._client)  # a cluster client maps its slots first
                pubsub = self._client.pubsub()
                await pubsub.subscribe(self.channel)
                # Whatever was purged while the channel was not heard is unknown.
                self.local.purge_now(None)
                self.listening = True
                backoff = 0.05
                while not self._closing:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self._on_purge(message["data"])
            except Exception as exc:  # any failure: stop trusting the local layer, retry
                self.listening = False
                self._failed("subscribe", exc)
            finally:
                self.listening = False
                if pubsub is not None:
                    with contextlib.suppress(RedisError, OSError):
                        await pubsub.aclose()
            await asyncio.sleep(backoff * random.uniform(0.5, 1.5))
            backoff = min(backoff * 2, 2.0)

    async def aclose(self) -> None:
        self._closing = True
        self.listening = False
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.wait([self._listener], timeout=2.0)
        if self._writes:
            await asyncio.wait(list(self._writes), timeout=2.0)
        await self._client.aclose()
