"""Two ``gateway serve`` replicas on one real Redis (a server of the test's own, so its
``INFO stats`` counts only them): limits and budgets hold across both, runtime keys
reach both within 1 s, and the Redis command rate per replica stays bounded."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import GatewayFactory
from tests.support.configs import upstream_config
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway_process import GatewayProcess
from tests.support.redis_server import RedisServer, own_redis

MESSAGES = [{"role": "user", "content": "hi"}]
LEASE_FRACTION = 0.05
REPLICAS = 2
ADMIN = "sk-admin-test"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    yield from own_redis(tmp_path / "redis")


def replica_config(upstream: FakeUpstream, redis: RedisServer) -> dict[str, Any]:
    config = upstream_config(upstream.base_url, ["m1", "m2"])
    config["state"] = {"backend": "redis", "redis_url": redis.url, "key_prefix": "gov"}
    config["server"] = {"api_keys": ["sk-flat"], "api_keys_env": None}
    config["models"]["m1"]["limits"] = {"rpm": 20}
    config["models"]["m1"]["price"] = {"input": 1000, "output": 1000}  # 18,000 µUSD a call
    config["routes"]["only-m1"] = {"pool": ["m1"]}
    config["governance"] = {"lease_fraction": LEASE_FRACTION}
    config["keys"] = {
        "load": {"secret": "sk-load", "rpm": 50, "tpm": 1_000_000},
        "spender": {"secret": "sk-spender", "budget": {"daily_usd": 0.05}},
    }
    return config


def two_replicas(
    factory: GatewayFactory, upstream: FakeUpstream, redis: RedisServer
) -> tuple[GatewayProcess, GatewayProcess]:
    config = replica_config(upstream, redis)
    env = {"GATEWAY_ADMIN_KEYS": ADMIN, "FAKE_UPSTREAM_KEY": "sk-upstream"}
    a = factory(config, env=env)
    b = factory(config, env=env)
    for gw in (a, b):
        assert httpx.get(gw.url + "/readyz").json()["status"] == "ok"
    return a, b


def chat(client: httpx.Client, gw: GatewayProcess, key: str, model: str = "chat") -> httpx.Response:
    return client.post(
        gw.base_url + "/chat/completions",
        json={"model": model, "messages": MESSAGES, "max_tokens": 10},
        headers={"Authorization": f"Bearer {key}"},
    )


def fresh_window(margin_s: float = 12.0) -> None:
    """Start a drive well inside one rpm window, so one window's limit is measured."""
    left = 60 - time.time() % 60
    if left < margin_s:
        time.sleep(left + 0.05)


def drive(
    replicas: list[GatewayProcess], key: str, seconds: float, threads: int
) -> list[httpx.Response]:
    """``threads`` clients per replica sending back to back for ``seconds``, concurrently."""
    replies: list[httpx.Response] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker(gw: GatewayProcess) -> None:
        with httpx.Client(timeout=10) as client:
            while time.monotonic() < deadline:
                reply = chat(client, gw, key)
                with lock:
                    replies.append(reply)

    workers = [
        threading.Thread(target=worker, args=(gw,)) for gw in replicas for _ in range(threads)
    ]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(60)
    return replies


def test_key_rpm_and_model_rpm_hold_across_two_replicas(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory, redis_server: RedisServer
) -> None:
    a, b = two_replicas(gateway_factory, fake_upstream, redis_server)
    fresh_window()
    window = int(time.time() // 60)
    before, started = redis_server.commands(), time.monotonic()
    replies = drive([a, b], "sk-load", seconds=3.0, threads=4)
    elapsed = time.monotonic() - started
    assert int(time.time() // 60) == window, "the drive outlasted its rpm window"
    commands = redis_server.commands() - before - 1  # this INFO itself
    assert elapsed < 30 and len(replies) > 100
    served = [r for r in replies if r.status_code == 200]
    refused = [r for r in replies if r.status_code != 200]
    assert all(r.status_code == 429 for r in refused)
    assert all(r.json()["error"]["code"] == "rate_limit_exceeded" for r in refused)
    assert all("retry-after" in r.headers for r in refused)
    # The documented tolerance: limit <= admitted <= limit + R × lease.
    key_lease = math.ceil(50 * LEASE_FRACTION)
    assert 50 <= len(served) <= 50 + REPLICAS * key_lease, len(served)
    # m1's own quota (20 rpm) sent the rest to m2 instead of collecting 429s upstream.
    m1_lease = math.ceil(20 * LEASE_FRACTION)
    on_m1 = len(fake_upstream.hits("m1"))
    assert 20 <= on_m1 <= 20 + REPLICAS * m1_lease, on_m1
    assert len(fake_upstream.hits("m2")) == len(served) - on_m1
    assert {r.headers["x-gateway-model"] for r in served} == {"m1", "m2"}

    # A route whose only member is at its quota answers 429 until the window resets.
    with httpx.Client(timeout=10) as client:
        reply = chat(client, a, "sk-flat", model="only-m1")
    assert reply.status_code == 429
    assert reply.json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(reply.headers["retry-after"]) <= 60
    assert "at_limit" in reply.json()["error"]["message"]

    # Every replica kept sending past the limits for the whole drive: the command rate
    # stays bounded by the limits in use, not by the requests.
    per_replica = commands / elapsed / REPLICAS
    print(
        f"\nredis commands: {commands} in {elapsed:.2f} s for {len(replies)} requests, "
        f"{per_replica:.1f}/s per replica"
    )
    assert per_replica <= 100, per_replica
    assert commands < len(replies), (commands, len(replies))


def test_budget_crossed_through_both_replicas_refuses_within_2s(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory, redis_server: RedisServer
) -> None:
    a, b = two_replicas(gateway_factory, fake_upstream, redis_server)
    with httpx.Client(timeout=10) as client:
        # 0.018 USD each: A, B, A spend 0.054 of the 0.05 daily budget.
        for gw in (a, b, a):
            assert chat(client, gw, "sk-spender").status_code == 200
        crossed = time.monotonic()
        refused: dict[str, float] = {}
        while len(refused) < 2 and time.monotonic() - crossed < 5:
            for name, gw in (("a", a), ("b", b)):
                if name in refused:
                    continue
                reply = chat(client, gw, "sk-spender")
                if reply.status_code == 429:
                    assert reply.json()["error"]["code"] == "insufficient_quota"
                    refused[name] = time.monotonic() - crossed
            time.sleep(0.05)
    assert set(refused) == {"a", "b"}, refused
    assert max(refused.values()) <= 2.0, refused

    # Spend by key, read through either replica, counts every replica's requests (each
    # replica's last requests reach Redis within one sync interval).
    def spent_today() -> float:
        status = httpx.get(
            b.url + "/v1/gateway/keys/spender", headers={"Authorization": f"Bearer {ADMIN}"}
        ).json()["status"]["key"]["spend"]
        assert status["daily_budget_usd"] == 0.05
        return float(status["day_usd"])

    deadline = time.monotonic() + 2
    while spent_today() < 0.054:
        assert time.monotonic() < deadline, spent_today()
        time.sleep(0.05)


def test_runtime_key_created_on_a_works_on_b_and_revoked_on_b_fails_on_a_within_1s(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory, redis_server: RedisServer
) -> None:
    a, b = two_replicas(gateway_factory, fake_upstream, redis_server)
    admin = {"Authorization": f"Bearer {ADMIN}"}
    with httpx.Client(timeout=10) as client:
        created = client.post(
            a.url + "/v1/gateway/keys", json={"name": "ci-bot", "rpm": 100}, headers=admin
        )
        assert created.status_code == 201, created.text
        body = created.json()
        secret, key_id = body["secret"], body["id"]
        made = time.monotonic()
        while chat(client, b, secret).status_code != 200:
            assert time.monotonic() - made < 1.0, "B did not accept the new key within 1 s"
            time.sleep(0.02)
        # A replica started later loads the runtime keys from Redis before serving.
        late = gateway_factory(
            replica_config(fake_upstream, redis_server), env={"FAKE_UPSTREAM_KEY": "sk-upstream"}
        )
        assert chat(client, late, secret).status_code == 200
        late.stop()
        assert secret not in late.logs()
        listing = client.get(b.url + "/v1/gateway/keys", headers=admin).json()["data"]
        [row] = [k for k in listing if k["id"] == key_id]
        assert "secret" not in row and "digest" not in row
        assert row["status"]["key"]["usage"]["rpm"] == 100

        assert client.delete(b.url + f"/v1/gateway/keys/{key_id}", headers=admin).status_code == 200
        revoked = time.monotonic()
        while (reply := chat(client, a, secret)).status_code != 401:
            assert time.monotonic() - revoked < 1.0, "A still accepted the key after 1 s"
            time.sleep(0.02)
        assert reply.json()["error"]["code"] == "invalid_api_key"
    for gw in (a, b):
        gw.stop()
        logs = gw.logs()
        assert secret not in logs
        assert secret[6:20] not in logs
        audit = [line for line in gw.log_lines() if line.get("audit")]
        assert audit and all(line["actor"].startswith("key_") for line in audit)
    # The request log knows the key by its id.
    assert any(line.get("key") == key_id for line in b.log_lines() if "request_id" in line)
    actions = {line["action"] for gw in (a, b) for line in gw.log_lines() if line.get("audit")}
    assert {"key.create", "key.revoke", "key.list"} <= actions
