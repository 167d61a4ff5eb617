"""Highly available Redis under load: a Sentinel failover through two gateway
replicas, and a three-primary Cluster.

The Sentinel test kills the primary while two replicas serve a steady stream of
requests: no client request fails, the replicas share parks again through the
promoted replica, and the usage counters add up exactly to the requests served.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import GatewayFactory
from tests.support.configs import upstream_config
from tests.support.fake_upstream import FakeUpstream, ok, rate_limited
from tests.support.gateway_process import GatewayProcess
from tests.support.load import Load
from tests.support.redis_ha import ClusterSetup, SentinelSetup, poll
from tests.support.redis_keys import new_prefix
from tests.support.usage import redis_usage_totals

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def sentinel_setup(tmp_path: Path) -> Iterator[SentinelSetup]:
    setup = SentinelSetup(tmp_path / "redis")
    try:
        yield setup
    finally:
        setup.stop()


@pytest.fixture
def cluster_setup(tmp_path: Path) -> Iterator[ClusterSetup]:
    setup = ClusterSetup(tmp_path / "redis")
    try:
        yield setup
    finally:
        setup.stop()


def ha_config(upstream: FakeUpstream, url: str, prefix: str) -> dict[str, Any]:
    config = upstream_config(upstream.base_url, ["m1", "m2", "p1", "p2"])
    # "chat" carries the load; p1 and p2 are parked on purpose, each on one replica.
    config["routes"] = {
        "chat": {"pool": ["m1", "m2"]},
        "probe-p1": {"pool": ["p1", "m2"]},
        "probe-p2": {"pool": ["p2", "m2"]},
    }
    config["state"] = {"backend": "redis", "redis_url": url, "key_prefix": prefix}
    return config


def probe_park_is_shared(
    upstream: FakeUpstream, parker: GatewayProcess, watcher: GatewayProcess, model: str
) -> None:
    """A 429 on ``parker`` parks ``model``; ``watcher`` must learn of it through Redis."""
    upstream.set(model, rate_limited(retry_after=60), ok())
    with httpx.Client(timeout=10) as client:
        response = client.post(
            parker.base_url + "/chat/completions",
            json={"model": f"probe-{model}", "messages": MESSAGES},
        )
        assert response.status_code == 200
        poll(
            lambda: any(
                row["key"] == f"fake/{model}"
                for row in client.get(watcher.url + "/v1/gateway/cooldowns").json()["data"]
            ),
            5,
            f"the park of {model} reaches the other replica",
        )


def ready(gateway: GatewayProcess) -> bool:
    return httpx.get(gateway.url + "/readyz", timeout=2).json()["status"] == "ok"


def test_sentinel_failover_under_load_loses_nothing(
    sentinel_setup: SentinelSetup,
    fake_upstream: FakeUpstream,
    gateway_factory: GatewayFactory,
) -> None:
    setup = sentinel_setup
    prefix = new_prefix()
    config = ha_config(fake_upstream, setup.url, prefix)
    a, b = gateway_factory(config), gateway_factory(config)
    for gateway in (a, b):
        poll(lambda gw=gateway: ready(gw), 10, "the replica reaches the primary")
    probe_park_is_shared(fake_upstream, a, b, "p1")
    old_primary = setup.primary.port

    with Load([a.base_url, b.base_url]) as load:
        poll(lambda: load.ok >= 50, 20, "load is flowing")
        # Usage batches wait for the replica's acknowledgement while there is one.
        poll(
            lambda: "cmdstat_wait" in setup.primary.client().info("commandstats"),
            5,
            "the flushes WAIT for the replica",
        )
        setup.primary.kill()
        killed_at = load.ok
        poll(lambda: setup.primary_port() != old_primary, 30, "a sentinel promotes the replica")
        assert setup.primary_port() == setup.replica.port
        for gateway in (a, b):
            poll(lambda gw=gateway: ready(gw), 15, "the gateway reconnects to the new primary")
        poll(lambda: load.ok >= killed_at + 50, 20, "load keeps flowing after the failover")
    assert load.failures == []

    # Parks are shared again, through the promoted replica.
    probe_park_is_shared(fake_upstream, b, a, "p2")

    served = load.ok + 2  # the load, and one probe request per park
    for gateway in (a, b):
        gateway.stop()  # flushes what is still pending
        assert gateway.proc is not None and gateway.proc.returncode == 0, gateway.logs()
    totals = redis_usage_totals(setup.url, prefix)
    assert totals["requests"] == served
    assert totals["errors"] == 0
    assert totals["input_tokens"] == 11 * served


def test_cluster_shares_parks_and_counts_exactly(
    cluster_setup: ClusterSetup,
    fake_upstream: FakeUpstream,
    gateway_factory: GatewayFactory,
) -> None:
    prefix = new_prefix()
    config = ha_config(fake_upstream, cluster_setup.url, prefix)
    config["models"]["c1"] = {"provider": "fake"}
    config["routes"]["cached"] = {"pool": ["c1"], "cache": {"ttl_s": 60}}
    a, b = gateway_factory(config), gateway_factory(config)
    for gateway in (a, b):
        poll(lambda gw=gateway: ready(gw), 10, "the replica reaches the cluster")
    probe_park_is_shared(fake_upstream, a, b, "p1")
    probe_park_is_shared(fake_upstream, b, a, "p2")
    # The response cache lives on the cluster too: a miss on A, then a hit on B.
    cached_requests = []
    with httpx.Client(timeout=10) as client:
        body = {"model": "cached", "messages": MESSAGES, "temperature": 0}

        def ask_cached(gateway: GatewayProcess) -> str | None:
            response = client.post(gateway.base_url + "/chat/completions", json=body)
            assert response.status_code == 200
            cached_requests.append(response.headers.get("x-gateway-cache"))
            return response.headers.get("x-gateway-cache")

        assert ask_cached(a) == "miss"
        poll(lambda: ask_cached(b) == "hit", 5, "B answers from the entry A stored")
    upstream_calls = len(fake_upstream.hits("c1"))
    assert upstream_calls == cached_requests.count("miss") >= 1

    with httpx.Client(timeout=10) as client:
        for i in range(40):
            gateway = (a, b)[i % 2]
            response = client.post(
                gateway.base_url + "/chat/completions", json={"model": "chat", "messages": MESSAGES}
            )
            assert response.status_code == 200
    for gateway in (a, b):
        gateway.stop()
        assert gateway.proc is not None and gateway.proc.returncode == 0, gateway.logs()
    totals = redis_usage_totals(cluster_setup.url, prefix)
    # The load, the two probes, the cached route's requests (hits are never charged).
    assert totals["requests"] == 42 + len(cached_requests)
    assert totals["output_tokens"] == 7 * (42 + upstream_calls)
    # Every key of the gateway sits on the slot of its hash tag.
    nodes_with_keys = []
    for node in cluster_setup.nodes:
        with node.client() as plain:
            if list(plain.scan_iter(match="{" + prefix + "}:*")):
                nodes_with_keys.append(node.port)
    assert len(nodes_with_keys) == 1
