"""Redis goes away: limits hold per replica on local state, and what was admitted and
spent meanwhile reaches Redis when it is back (nothing lost)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from gateway.governance.windows import day_name, minute
from tests.support.configs import upstream_config
from tests.support.fake_upstream import FakeUpstream
from tests.support.inprocess import InProcessFactory, inprocess_gateway  # noqa: F401
from tests.support.redis_server import RedisServer, own_redis, wait_until

MESSAGES = [{"role": "user", "content": "hi"}]
COST = 18_000 * 10**6  # pico-USD: the fake's 18 tokens at 1,000 USD per 1M


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    yield from own_redis(tmp_path / "redis", durable=True)


def ready(gw: Any) -> str:
    status: str = httpx.get(gw.url + "/readyz").json()["status"]
    return status


def test_outage_enforces_per_replica_and_loses_nothing(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GATEWAY_ADMIN_KEYS", "sk-admin")
    config = upstream_config(fake_upstream.base_url, ["m1"])
    config["models"]["m1"]["price"] = {"input": 1000, "output": 1000}
    config["state"] = {"backend": "redis", "redis_url": redis_server.url, "key_prefix": "gw"}
    config["keys"] = {"k": {"secret": "sk-k", "rpm": 5, "budget": {"daily_usd": 100}}}
    config["governance"] = {"sync_interval_s": 0.2}
    gw = inprocess_gateway(config)
    left = 60 - time.time() % 60
    if left < 15:  # the whole test inside one rpm window
        time.sleep(left + 0.05)
    window = minute(time.time())
    shared = redis.Redis(port=redis_server.port, decode_responses=True)
    spend_key = f"gw:gov:spend:key:k:day:{day_name(time.time())}"

    def send() -> httpx.Response:
        return httpx.post(
            gw.base_url + "/chat/completions",
            json={"model": "chat", "messages": MESSAGES},
            headers={"Authorization": "Bearer sk-k"},
            timeout=10,
        )

    def spent() -> int:
        try:
            return int(shared.get(spend_key) or 0)
        except redis.RedisError:
            return -1

    assert send().status_code == 200
    assert send().status_code == 200
    assert wait_until(lambda: spent() == 2 * COST, 5), spent()

    redis_server.kill()
    assert wait_until(lambda: ready(gw) == "degraded", 10)
    # Alone, the replica holds the whole limit on its own count: 3 more, then 429.
    assert [send().status_code for _ in range(4)] == [200, 200, 200, 429]
    refused = send()
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    # Runtime keys cannot be made while the shared store is away.
    made = httpx.post(
        gw.url + "/v1/gateway/keys",
        json={"name": "x"},
        headers={"Authorization": "Bearer sk-admin"},
    )
    assert made.status_code == 503 and made.json()["error"]["code"] == "state_unavailable"

    redis_server.start()
    assert wait_until(lambda: ready(gw) == "ok", 10)
    # The spend made while Redis was away is pushed, exactly once.
    assert wait_until(lambda: spent() == 5 * COST, 5), spent()
    # And the requests admitted meanwhile are charged to the shared window.
    counter = f"gw:gov:win:key:k:rpm:{window}"
    assert wait_until(lambda: int(shared.get(counter) or 0) >= 5, 5)
    time.sleep(0.5)  # a settled store must not add anything more
    assert spent() == 5 * COST
    shared.close()


def test_spend_past_2_to_the_53_stays_exact(redis_url: str, shared_prefix: str) -> None:
    """Lua numbers are doubles: the spend script must not round a large ledger."""
    import asyncio

    from redis.asyncio import Redis

    from gateway.governance.redis_store import RedisGovernanceStore

    big = 2**53 + 1  # the first integer a double cannot hold

    async def run() -> list[int]:
        client = Redis.from_url(redis_url, decode_responses=True)
        try:
            store = RedisGovernanceStore(client, shared_prefix)
            first = await store.spend("b1", [("spend:key:k:day:x", 60, big)])
            again = await store.spend("b1", [("spend:key:k:day:x", 60, big)])  # a retry
            more = await store.spend("b2", [("spend:key:k:day:x", 60, 2)])
            read = await store.spend("b3", [("spend:key:k:day:x", 60, 0)])  # a read only
            assert 0 < await client.ttl(store.key("spend:key:k:day:x")) <= 60
            assert not await client.exists(store.key("batch:b3"))
            return first + again + more + read
        finally:
            await client.aclose()

    assert asyncio.run(run()) == [big, big, big + 2, big + 2]
