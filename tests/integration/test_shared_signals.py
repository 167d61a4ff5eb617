"""Signals, probe locks and recoveries shared through a real Redis between store replicas."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis

from gateway.routing.signals import Metric, SignalBoard
from gateway.state.redis import RedisStateStore
from gateway.state.redis_signals import SignalExchange
from tests.integration.test_state_contract import (
    eventually,
    replicas,  # noqa: F401  (fixture)
)
from tests.support.fake_upstream import free_port
from tests.support.redis_ha import ClusterSetup
from tests.support.redis_keys import new_prefix

Replicas = Callable[[], Awaitable[RedisStateStore]]


async def pair(start: Replicas) -> tuple[RedisStateStore, RedisStateStore]:
    a, b = await start(), await start()
    a.signals.enabled = b.signals.enabled = True
    return a, b


async def test_estimates_and_in_flight_counts_reach_the_other_replica(
    replicas: Replicas,  # noqa: F811
    redis_url: str,
) -> None:
    a, b = await pair(replicas)
    for _ in range(4):
        a.signals.observe("fake/m1", Metric.PER_TOKEN, 0.02)
    a.signals.started("fake/m1")
    a.signals.started("fake/m1")
    b.signals.started("fake/m1")
    assert await eventually(lambda: b.signals.estimate("fake/m1", Metric.PER_TOKEN), within=2.0)
    assert b.signals.estimate("fake/m1", Metric.PER_TOKEN) == pytest.approx(0.02)
    assert b.signals.samples("fake/m1", Metric.PER_TOKEN) == 4
    assert await eventually(lambda: b.signals.in_flight("fake/m1") == 3, within=2.0)
    a.signals.finished("fake/m1")
    a.signals.finished("fake/m1")
    assert await eventually(lambda: b.signals.in_flight("fake/m1") == 1, within=2.0)
    # A replica that starts now has the shared view before its first request.
    c = RedisStateStore(redis_url, a.prefix)
    c.signals.enabled = True
    await c.start()
    try:
        assert c.signals.estimate("fake/m1", Metric.PER_TOKEN) == pytest.approx(0.02)
        assert c.signals.in_flight("fake/m1") == 1
    finally:
        await c.aclose()


async def test_batches_from_two_replicas_merge_like_one_stream_of_samples(
    replicas: Replicas,  # noqa: F811
) -> None:
    a, b = await pair(replicas)
    a.signals.observe("fake/m1", Metric.TTFT, 0.100)
    await a.exchange_signals()
    b.signals.observe("fake/m1", Metric.TTFT, 0.200)
    b.signals.observe("fake/m1", Metric.TTFT, 0.200)
    await b.exchange_signals()
    await a.exchange_signals()
    expected = 0.100 + (1 - 0.8**2) * (0.200 - 0.100)
    for replica in (a, b):
        assert replica.signals.estimate("fake/m1", Metric.TTFT) == pytest.approx(expected)
        assert replica.signals.samples("fake/m1", Metric.TTFT) == 3


async def test_a_silent_replica_is_dropped_with_its_counts(
    replicas: Replicas,  # noqa: F811
    redis_url: str,
) -> None:
    a, _ = await pair(replicas)
    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        # A replica that publishes once, then goes silent (it died). It judges others
        # stale after 0.2 s, so its own later calls sweep itself out.
        dead = SignalExchange(client, a._key, "dead-replica", lambda exc: False, stale_after_s=0.2)
        ghost = SignalBoard()
        ghost.started("fake/m1")
        await dead.share(ghost)
        await a.exchange_signals()
        assert a.signals.in_flight("fake/m1") == 1
        sweeper = SignalExchange(client, a._key, "sweeper", lambda exc: False, stale_after_s=0.2)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            await sweeper.share(SignalBoard())
            await a.exchange_signals()
            if a.signals.in_flight("fake/m1") == 0:
                break
        assert a.signals.in_flight("fake/m1") == 0
    finally:
        await client.aclose()


async def test_redis_away_falls_back_to_local_signals() -> None:
    lonely = RedisStateStore(f"redis://127.0.0.1:{free_port()}/0", new_prefix())
    lonely.signals.enabled = True
    lonely.signals.observe("fake/m1", Metric.PER_TOKEN, 0.05)
    lonely.signals.started("fake/m1")
    await lonely.start()
    try:
        await lonely.exchange_signals()
        assert lonely.health() == "degraded"
        assert lonely.signals.estimate("fake/m1", Metric.PER_TOKEN) == pytest.approx(0.05)
        assert lonely.signals.in_flight("fake/m1") == 1
        # A probe claim does not wait for the missing Redis: the replica decides alone.
        started = time.monotonic()
        assert await lonely.try_lock("probe:fake/m1", 60)
        assert not await lonely.try_lock("probe:fake/m1", 60)
        assert time.monotonic() - started < 0.1
    finally:
        await lonely.aclose()


async def test_one_probe_lock_across_replicas_and_the_recovery_is_heard(
    replicas: Replicas,  # noqa: F811
) -> None:
    a, b = await replicas(), await replicas()
    assert await a.try_lock("probe:fake/m1", 60)
    assert not await b.try_lock("probe:fake/m1", 60)
    a.release_lock("probe:fake/m1")  # in the background
    deadline = time.monotonic() + 2
    while not await b.try_lock("probe:fake/m1", 60):
        assert time.monotonic() < deadline, "the released lock was not free again"
    # A park, then a recovery on a: b's book follows both.
    a.park("fake/m2", time.time() + 30, "upstream_5xx")
    assert await eventually(lambda: b.is_parked("fake/m2", time.time()), within=1.0)
    a.recover("fake/m2")
    assert await eventually(lambda: not b.cooldowns.awaits_probe("fake/m2"), within=1.0)
    assert not b.is_parked("fake/m2", time.time())
    assert not a.cooldowns.awaits_probe("fake/m2")


async def test_signals_locks_and_recoveries_work_on_a_cluster(tmp_path: Path) -> None:
    cluster = ClusterSetup(tmp_path / "redis")
    prefix = new_prefix()
    a = RedisStateStore(cluster.url, prefix, cluster=True)
    b = RedisStateStore(cluster.url, prefix, cluster=True)
    try:
        for replica in (a, b):
            replica.signals.enabled = True
            await replica.start()
            assert replica.health() == "ok"
        # The exchange script's keys share the prefix's hash slot: no CROSSSLOT error.
        a.signals.observe("fake/m1", Metric.TTFT, 0.05)
        a.signals.started("fake/m1")
        await a.exchange_signals()
        await b.exchange_signals()
        assert b.signals.estimate("fake/m1", Metric.TTFT) == pytest.approx(0.05)
        assert b.signals.in_flight("fake/m1") == 1
        assert await a.try_lock("probe:fake/m1", 60)
        assert not await b.try_lock("probe:fake/m1", 60)
        a.park("fake/m2", time.time() + 30, "upstream_5xx")
        assert await eventually(lambda: b.is_parked("fake/m2", time.time()), within=2.0)
        a.recover("fake/m2")
        assert await eventually(lambda: not b.cooldowns.awaits_probe("fake/m2"), within=2.0)
        assert a.errors_total == 0 and b.errors_total == 0
    finally:
        for replica in (a, b):
            await replica.aclose()
        cluster.stop()
