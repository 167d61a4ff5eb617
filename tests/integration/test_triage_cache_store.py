"""The triage decision cache on the state stores: local per replica, shared through a
real Redis, a lookup that waits a few milliseconds at most, and an outage as a miss."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import redis

from gateway.routing.triage.cache import DecisionCache
from gateway.state.memory import MemoryStateStore
from gateway.state.redis import RedisStateStore
from tests.integration.test_redis_outage import (
    RedisServer,
    redis_server,  # noqa: F401  (fixture)
)
from tests.support.fake_upstream import free_port

SCOPE = b"route\0judge\0prompt\0"


async def eventually(check: Callable[[], Awaitable[str | None]]) -> str | None:
    deadline = time.monotonic() + 5.0
    while True:
        value = await check()
        if value is not None or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.02)


async def _gone(cache: DecisionCache, key: str) -> str | None:
    return "expired" if await cache.get(key, 0.005, 0.2) is None else None


async def test_memory_cache_expires_and_stays_bounded() -> None:
    cache = DecisionCache(MemoryStateStore(), max_entries=10)
    key = cache.key(SCOPE, "user: hello")
    assert key == cache.key(SCOPE, "user: hello") != cache.key(SCOPE, "user: hello!")
    assert key != cache.key(b"other\0judge\0prompt\0", "user: hello")
    cache.put(key, "complex", ttl_s=0.2)
    assert await cache.get(key, 0.005, 0.2) == "complex"
    assert await eventually(lambda: _gone(cache, key)) == "expired"
    for i in range(25):
        cache.put(cache.key(SCOPE, str(i)), "simple", ttl_s=60)
    assert len(cache._local) <= 10
    assert await cache.get(cache.key(SCOPE, "24"), 0.005, 60) == "simple"


async def test_a_verdict_put_on_one_replica_is_found_on_another(
    redis_url: str, shared_prefix: str
) -> None:
    one = RedisStateStore(redis_url, shared_prefix)
    two = RedisStateStore(redis_url, shared_prefix)
    await one.start()
    await two.start()
    try:
        put, found = DecisionCache(one), DecisionCache(two)
        key = put.key(SCOPE, "user: compare locking strategies")
        assert await found.get(key, 0.05, 60) is None
        put.put(key, "expert", ttl_s=60)
        assert await eventually(lambda: found.get(key, 0.05, 60)) == "expert"
        # Kept locally too: no further Redis read for it.
        assert found._local[key][0] == "expert"
        # Something that is not a tier is never taken for a verdict.
        client = redis.Redis.from_url(redis_url)
        try:
            client.set(f"{shared_prefix}:triage:bogus", "enormous", px=60_000)
        finally:
            client.close()
        assert await found.get("triage:bogus", 0.05, 60) is None
    finally:
        await one.aclose()
        await two.aclose()


async def test_a_slow_redis_costs_at_most_the_wait(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    store = RedisStateStore(redis_server.url, "slow")
    await store.start()
    client = redis.Redis(port=redis_server.port)
    try:
        cache = DecisionCache(store)
        key = cache.key(SCOPE, "user: paused")
        client.set(f"slow:{key}", "medium", px=60_000)
        assert await cache.get(key, 0.5, 60) == "medium"
        cache._local.clear()
        client.execute_command("CLIENT", "PAUSE", "1000", "ALL")
        started = time.perf_counter()
        assert await cache.get(key, 0.005, 60) is None
        assert time.perf_counter() - started < 0.2
        client.execute_command("CLIENT", "UNPAUSE")
        # A late answer is only a miss: the store is still up and answers again.
        assert store.health() == "ok"
        assert await eventually(lambda: cache.get(key, 0.5, 60)) == "medium"
    finally:
        client.close()
        await store.aclose()


async def test_a_redis_outage_is_a_miss_without_waiting() -> None:
    store = RedisStateStore(f"redis://127.0.0.1:{free_port()}/0", "gone")
    cache = DecisionCache(store)
    key = cache.key(SCOPE, "user: anyone there?")
    started = time.perf_counter()
    assert await cache.get(key, 0.5, 60) is None
    assert time.perf_counter() - started < 0.05
    cache.put(key, "simple", ttl_s=60)  # kept locally, nothing raised
    assert await cache.get(key, 0.5, 60) == "simple"
    await store.aclose()
