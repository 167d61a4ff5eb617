"""Governance on a real Redis Cluster: every script's keys share the store's hash tag,
so leases, spend and runtime keys work there as on one server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.configs import upstream_config
from tests.support.fake_upstream import FakeUpstream
from tests.support.inprocess import InProcessFactory, inprocess_gateway  # noqa: F401
from tests.support.redis_ha import ClusterSetup, poll
from tests.support.redis_keys import new_prefix

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def cluster_setup(tmp_path: Path) -> Iterator[ClusterSetup]:
    setup = ClusterSetup(tmp_path / "redis")
    try:
        yield setup
    finally:
        setup.stop()


def test_limits_spend_and_runtime_keys_on_a_cluster(
    cluster_setup: ClusterSetup,
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GATEWAY_ADMIN_KEYS", "sk-admin")
    config = upstream_config(fake_upstream.base_url, ["m1"])
    config["models"]["m1"]["price"] = {"input": 1000, "output": 1000}
    config["state"] = {
        "backend": "redis",
        "redis_url": cluster_setup.url,
        "key_prefix": new_prefix(),
    }
    config["keys"] = {
        "k": {"secret": "sk-k", "rpm": 3, "max_parallel": 2, "budget": {"daily_usd": 9}}
    }
    gw = inprocess_gateway(config)
    poll(lambda: httpx.get(gw.url + "/readyz").json()["status"] == "ok", 10, "cluster reached")
    governor = gw.gateway.governor
    assert governor.sync is not None

    def send(secret: str) -> int:
        return httpx.post(
            gw.base_url + "/chat/completions",
            json={"model": "chat", "messages": MESSAGES},
            headers={"Authorization": f"Bearer {secret}"},
            timeout=10,
        ).status_code

    # Leasing stays on (a failing script would turn it off): the shared count holds.
    assert [send("sk-k") for _ in range(4)] == [200, 200, 200, 429]
    assert governor.quotas.leasing and governor.sync.errors_total == 0
    admin = {"Authorization": "Bearer sk-admin"}
    made = httpx.post(gw.url + "/v1/gateway/keys", json={"name": "c"}, headers=admin)
    assert made.status_code == 201
    assert send(made.json()["secret"]) == 200

    def spent() -> float:
        status = httpx.get(gw.url + "/v1/gateway/keys/k", headers=admin).json()["status"]
        return float(status["key"]["spend"]["day_usd"])

    poll(lambda: spent() == 0.054, 5, "the spend of three requests in the cluster")
    assert governor.sync.errors_total == 0
