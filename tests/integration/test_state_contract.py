"""One contract for every ``StateStore``: the memory store and the redis store (real Redis)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis

from gateway.accounting.counters import UsageEvent, parse_group_by
from gateway.config.loader import ConfigError
from gateway.state.affinity import Holder
from gateway.state.base import StateStore
from gateway.state.memory import MemoryStateStore
from gateway.state.redis import RedisStateStore
from tests.support.fake_upstream import free_port
from tests.support.redis_keys import drop_keys, new_prefix


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[StateStore]:
    if request.param == "memory":
        memory = MemoryStateStore()
        await memory.start()
        yield memory
        await memory.aclose()
        return
    url = request.getfixturevalue("redis_url")
    prefix = new_prefix()
    shared = RedisStateStore(url, prefix)
    await shared.start()
    assert shared.health() == "ok"
    yield shared
    await shared.aclose()
    drop_keys(url, prefix)


async def eventually(check: Callable[[], Any], within: float = 2.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.005)


def event(**kw: Any) -> UsageEvent:
    values: dict[str, Any] = {
        "route": "chat",
        "profile": "premium",
        "provider": "fake",
        "model": "m1",
        "api_key": "key_a",
        "error": False,
        "input_tokens": 11,
        "output_tokens": 7,
        "cached_tokens": 3,
        "cost_pico_usd": 125_500_000,  # 125.5 micro-USD: not a whole micro-USD
        "at": time.time(),
    }
    values.update(kw)
    return UsageEvent(**values)


async def test_park_is_visible_at_once(store: StateStore) -> None:
    now = time.time()
    decision = store.park("fake/m1", now + 30, "rate_limited")
    assert decision.extended
    assert store.is_parked("fake/m1", now)
    assert not store.is_parked("fake/m2", now)


async def test_longest_deadline_wins(store: StateStore) -> None:
    now = time.time()
    store.park("fake/m1", now + 20, "rate_limited")
    shorter = store.park("fake/m1", now + 5, "rate_limited")
    assert not shorter.extended and shorter.until == pytest.approx(now + 20)
    longer = store.park("fake/m1", now + 40, "upstream_5xx")
    assert longer.extended and longer.until == pytest.approx(now + 40)
    assert store.cooldowns.parked_until("fake/m1", now) == pytest.approx(now + 40)


async def test_park_expires(store: StateStore) -> None:
    store.park("fake/m1", time.time() + 0.15, "rate_limited")
    assert store.is_parked("fake/m1", time.time())
    assert await eventually(lambda: not store.is_parked("fake/m1", time.time()))
    assert "fake/m1" not in store.cooldowns.active()


async def test_park_listeners_hear_extensions_only(store: StateStore) -> None:
    heard: list[tuple[str, float, str]] = []
    store.add_park_listener(lambda k, u, r: heard.append((k, u, r)))
    now = time.time()
    store.park("fake/m1", now + 10, "rate_limited")
    store.park("fake/m1", now + 5, "rate_limited")
    assert heard == [("fake/m1", now + 10, "rate_limited")]


async def test_usage_totals_and_group_by(store: StateStore) -> None:
    store.add_usage(event())
    store.add_usage(event(model="m2", cost_pico_usd=300_000_001, input_tokens=100, cached_tokens=0))
    store.add_usage(
        event(
            route="summarize",
            error=True,
            input_tokens=0,
            output_tokens=0,
            cached_tokens=0,
            cost_pico_usd=0,
            api_key="key_b",
        )
    )
    rows, totals = await store.read_usage("minute", 2, [])
    assert rows == [{**totals}]
    assert totals == {
        "requests": 3,
        "errors": 1,
        "input_tokens": 111,
        "output_tokens": 14,
        "cached_tokens": 3,
        "cost_pico_usd": 425_500_001,
        "cost_micro_usd": 425.500001,
        "cost_usd": 0.000425500001,
        "saved_cost_pico_usd": 0,
        "saved_cost_micro_usd": 0,
        "saved_cost_usd": 0.0,
    }
    by_route_model, _ = await store.read_usage("day", 2, ["route", "model"])
    slim = {(r["route"], r["model"]): (r["requests"], r["cost_pico_usd"]) for r in by_route_model}
    assert slim == {
        ("chat", "m1"): (1, 125_500_000),
        ("chat", "m2"): (1, 300_000_001),
        ("summarize", "m1"): (1, 0),
    }
    by_key, _ = await store.read_usage("day", 2, ["api_key"])
    assert {r["api_key"]: r["errors"] for r in by_key} == {"key_a": 0, "key_b": 1}
    # Highest cost first.
    assert by_route_model[0]["model"] == "m2"


async def test_usage_windows_keep_their_buckets(store: StateStore) -> None:
    now = time.time()
    for ago in (0, 120, 600):  # robust to a minute boundary passing before the read
        store.add_usage(event(at=now - ago))
    _, last_five = await store.read_usage("minute", 5, [])
    _, last_fifteen = await store.read_usage("minute", 15, [])
    assert last_five["requests"] == 2
    assert last_fifteen["requests"] == 3


async def test_usage_reset(store: StateStore) -> None:
    store.add_usage(event())
    _, totals = await store.read_usage("day", 2, [])
    assert totals["requests"] == 1
    await store.reset_usage()
    rows, totals = await store.read_usage("day", 2, ["route"])
    assert rows == [] and totals["requests"] == 0
    store.add_usage(event())
    _, totals = await store.read_usage("day", 2, [])
    assert totals["requests"] == 1


def test_group_by_names_are_checked() -> None:
    assert parse_group_by("route, model,route") == ["route", "model"]
    with pytest.raises(ValueError, match="unknown group_by 'user'"):
        parse_group_by("route,user")


# -- redis only: what the shared store adds ------------------------------------------


@pytest.fixture
async def replicas(redis_url: str) -> AsyncIterator[Callable[[], Awaitable[RedisStateStore]]]:
    prefix = new_prefix()
    started: list[RedisStateStore] = []

    async def start() -> RedisStateStore:
        replica = RedisStateStore(redis_url, prefix, flush_interval_s=0.2)
        await replica.start()
        assert replica.health() == "ok"
        started.append(replica)
        return replica

    yield start
    for replica in started:
        await replica.aclose()
    drop_keys(redis_url, prefix)


async def test_park_reaches_another_replica_within_100ms(
    replicas: Callable[[], Awaitable[RedisStateStore]], redis_url: str
) -> None:
    a, b = await replicas(), await replicas()
    until = time.time() + 30
    started = time.monotonic()
    a.park("fake/m1", until, "rate_limited")
    assert await eventually(lambda: b.is_parked("fake/m1", time.time()), within=0.1)
    assert time.monotonic() - started < 0.1
    assert b.cooldowns.parked_until("fake/m1") == pytest.approx(until)
    assert b.cooldowns.reason("fake/m1") == "rate_limited"
    # Stored with a TTL, so Redis forgets it by itself.
    client = redis.Redis.from_url(redis_url)
    try:
        ttl_ms = client.pttl(a._key("cooldown:fake/m1"))
    finally:
        client.close()
    assert 29_000 < ttl_ms <= 30_000


async def test_longest_deadline_wins_across_replicas(
    replicas: Callable[[], Awaitable[RedisStateStore]],
) -> None:
    a, b = await replicas(), await replicas()
    now = time.time()
    a.park("fake/m1", now + 60, "rate_limited")
    assert await eventually(lambda: b.cooldowns.parked_until("fake/m1") == now + 60)
    b.park("fake/m1", now + 10, "rate_limited")  # b already knows the longer one: no-op
    c = await replicas()
    assert c.cooldowns.parked_until("fake/m1") == pytest.approx(now + 60)  # reconciled at start


async def test_usage_from_two_replicas_adds_up(
    replicas: Callable[[], Awaitable[RedisStateStore]],
) -> None:
    a, b = await replicas(), await replicas()
    for _ in range(5):
        a.add_usage(event())
        b.add_usage(event(model="m2"))
    await a.flush_usage()
    _, totals = await b.read_usage("day", 2, [])  # b flushes its own first
    assert totals["requests"] == 10 and totals["cost_pico_usd"] == 10 * 125_500_000


async def test_usage_flushes_by_itself(replicas: Callable[[], Awaitable[RedisStateStore]]) -> None:
    a, b = await replicas(), await replicas()
    a.add_usage(event())

    async def seen() -> int:
        _, totals = await b.read_usage("day", 2, [])
        return int(totals["requests"])

    deadline = time.monotonic() + 2
    count = await seen()
    while count != 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
        count = await seen()
    assert count == 1


async def test_a_retried_batch_counts_once(
    replicas: Callable[[], Awaitable[RedisStateStore]],
) -> None:
    a = await replicas()
    a.add_usage(event())
    a.usage.seal()
    batch = a.usage.sealed[0]
    await a.usage.apply(batch)
    await a.usage.apply(batch)  # as after a reply lost to a dropped connection
    await a.flush_usage()
    _, totals = await a.read_usage("day", 2, [])
    assert totals["requests"] == 1


async def test_unreachable_redis_degrades_and_bounds_pending_usage() -> None:
    store = RedisStateStore(f"redis://127.0.0.1:{free_port()}/0", new_prefix(), max_pending_rows=6)
    await store.start()
    try:
        assert store.health() == "degraded"
        assert store.errors_total >= 1
        now = time.time()
        store.park("fake/m1", now + 30, "rate_limited")
        assert store.is_parked("fake/m1", now)  # local state keeps serving
        store.add_usage(event())  # 3 rows: one per window (minute, day, month)
        store.add_usage(event())  # same rows: no growth, kept
        store.add_usage(event(model="m2"))  # 3 more: reaches the bound, kept
        store.add_usage(event(model="m3"))  # over the bound: dropped and counted
        assert store.usage_dropped_total == 1
        assert store.pending_rows == 6
    finally:
        await store.aclose()


async def test_large_batches_are_split_and_still_exact(
    replicas: Callable[[], Awaitable[RedisStateStore]],
) -> None:
    a = await replicas()
    for i in range(300):  # 300 models × 5 non-zero metrics × 3 windows = 4,500 fields
        a.add_usage(event(model=f"m{i}"))
    await a.flush_usage()
    assert a.pending_rows == 0
    rows, totals = await a.read_usage("day", 2, ["model"])
    assert len(rows) == 300 and totals["requests"] == 300
    assert totals["cost_pico_usd"] == 300 * 125_500_000


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+sentinel://:pw@127.0.0.1:26379", "needs the service name"),
        ("redis+sentinel://127.0.0.1:26379/mymaster/zero", "database number that is not"),
        ("redis+sentinel://127.0.0.1:x/mymaster", "invalid port"),
        ("redis+cluster://127.0.0.1:7000/1", "takes no database number"),
    ],
)
def test_unusable_sentinel_and_cluster_urls_are_refused_with_a_pointed_message(
    url: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=rf"state\.redis_url: .*{message}") as info:
        RedisStateStore(url)
    assert "pw" not in str(info.value.problems)


async def test_response_holders_are_remembered_and_forgotten(store: StateStore) -> None:
    holder = Holder("agent", "b-m", "b", "gpt-b")
    store.remember_holder("resp_1", holder, ttl_s=60)
    assert await store.find_holder("resp_1") == holder
    assert await store.find_holder("resp_unknown") is None
    store.forget_holder("resp_1")
    assert await store.find_holder("resp_1") is None


async def test_a_response_holder_reaches_another_replica(
    replicas: Callable[[], Awaitable[RedisStateStore]],
) -> None:
    one, two = await replicas(), await replicas()
    holder = Holder("agent", "b-m", "b", "gpt-b")
    one.remember_holder("resp_x", holder, ttl_s=60)
    # Read through Redis with a bounded wait (a miss is read once more).
    assert await two.find_holder("resp_x") == holder
    one.forget_holder("resp_x")
    assert await one.find_holder("resp_x") is None  # at once, locally
