"""Two ``gateway serve`` replicas sharing one real Redis: a park on one reaches the other."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.conftest import GatewayFactory
from tests.support.configs import upstream_config
from tests.support.fake_upstream import FakeUpstream, free_port, ok, rate_limited

MESSAGES = [{"role": "user", "content": "hi"}]


def replica_config(upstream: FakeUpstream, redis_url: str, prefix: str) -> dict[str, Any]:
    config = upstream_config(upstream.base_url, ["m1", "m2"])
    config["state"] = {"backend": "redis", "redis_url": redis_url, "key_prefix": prefix}
    return config


def test_member_parked_on_a_is_skipped_by_b_within_100ms(
    fake_upstream: FakeUpstream,
    gateway_factory: GatewayFactory,
    redis_url: str,
    shared_prefix: str,
) -> None:
    config = replica_config(fake_upstream, redis_url, shared_prefix)
    a = gateway_factory(config)
    b = gateway_factory(config)
    for gw in (a, b):
        assert httpx.get(gw.url + "/readyz").json() == {"status": "ok", "state": "redis"}
    fake_upstream.set("m1", rate_limited(retry_after=60), ok("m1 answers"))
    fake_upstream.set("m2", ok("m2 answers"))

    with httpx.Client(timeout=5) as http:
        served = http.post(
            a.base_url + "/chat/completions", json={"model": "chat", "messages": MESSAGES}
        )
        answered = time.monotonic()
        assert served.status_code == 200
        assert served.headers["x-gateway-model"] == "m2"  # m1 said 429 and was parked on A
        deadline = answered + 0.1
        seen_on_b: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not seen_on_b:
            listing = http.get(b.url + "/v1/gateway/cooldowns").json()["data"]
            seen_on_b = [c for c in listing if c["key"] == "fake/m1"]
        assert seen_on_b, "B did not learn of the park within 100 ms"
        assert 55 < seen_on_b[0]["remaining_s"] <= 60

        # B now skips m1 without calling it.
        before = len(fake_upstream.hits("m1"))
        on_b = http.post(
            b.base_url + "/chat/completions", json={"model": "chat", "messages": MESSAGES}
        )
        assert on_b.status_code == 200 and on_b.headers["x-gateway-model"] == "m2"
        assert on_b.headers["x-gateway-attempts"] == "1"
        assert len(fake_upstream.hits("m1")) == before

    # The park lives in Redis with a TTL, so a replica started later honours it too.
    c = gateway_factory(config)
    listing = httpx.get(c.url + "/v1/gateway/cooldowns").json()["data"]
    assert [row["key"] for row in listing] == ["fake/m1"]


def test_redis_url_precedence_flag_over_env_over_config(
    fake_upstream: FakeUpstream,
    gateway_factory: GatewayFactory,
    redis_url: str,
    shared_prefix: str,
) -> None:
    config = upstream_config(fake_upstream.base_url, ["m1"])
    config["state"] = {"backend": "memory", "key_prefix": shared_prefix}
    # The environment alone selects the redis backend over the config's memory.
    by_env = gateway_factory(config, env={"GATEWAY_REDIS_URL": redis_url})
    assert httpx.get(by_env.url + "/readyz").json() == {"status": "ok", "state": "redis"}
    # The flag wins over the environment (which here points at nothing).
    dead = f"redis://127.0.0.1:{free_port()}/0"
    by_flag = gateway_factory(
        config, env={"GATEWAY_REDIS_URL": dead}, extra_args=["--redis-url", redis_url]
    )
    assert httpx.get(by_flag.url + "/readyz").json() == {"status": "ok", "state": "redis"}
    # And the environment's dead Redis alone: the gateway still serves, degraded.
    degraded = gateway_factory(config, env={"GATEWAY_REDIS_URL": dead})
    ready = httpx.get(degraded.url + "/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "degraded", "state": "redis"}
    reply = httpx.post(
        degraded.base_url + "/chat/completions", json={"model": "chat", "messages": MESSAGES}
    )
    assert reply.status_code == 200
