"""Redis dies under load: no request fails, /readyz says degraded, counters catch up after.

The test runs its own ``redis-server`` with an fsync-always AOF, so that a SIGKILL loses
nothing Redis acknowledged; the usage totals can then be compared exactly with the
requests served before, during and after the outage (nothing lost, nothing doubled).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import GatewayFactory
from tests.support.configs import upstream_config
from tests.support.fake_upstream import FakeUpstream, ok
from tests.support.load import Load
from tests.support.redis_server import RedisServer, own_redis, wait_until


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    yield from own_redis(tmp_path / "redis", durable=True)


def test_requests_survive_a_redis_outage_and_counters_catch_up(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory, redis_server: RedisServer
) -> None:
    fake_upstream.set("m1", ok("fine"))
    config = upstream_config(fake_upstream.base_url, ["m1"])
    config["state"] = {"backend": "redis", "redis_url": redis_server.url, "key_prefix": "gw"}
    gw = gateway_factory(config)

    def readiness() -> tuple[int, dict[str, Any]]:
        response = httpx.get(gw.url + "/readyz", timeout=2)
        return response.status_code, response.json()

    assert readiness() == (200, {"status": "ok", "state": "redis"})
    with Load([gw.base_url]) as load:
        assert wait_until(lambda: load.served() >= 30, 20)
        redis_server.kill()
        assert wait_until(lambda: readiness() == (200, {"status": "degraded", "state": "redis"}), 5)
        at_outage = load.served()
        # Shared counters cannot be read meanwhile: a clear 503, not a 500.
        usage = httpx.get(gw.url + "/v1/gateway/usage", timeout=5)
        assert usage.status_code == 503
        assert usage.json()["error"]["code"] == "state_unavailable"
        assert wait_until(lambda: load.served() >= at_outage + 60, 20)
        during_outage = load.served() - at_outage
        redis_server.start()
        assert wait_until(lambda: readiness()[1]["status"] == "ok", 10)
        back = load.served()
        assert wait_until(lambda: load.served() >= back + 20, 20)
    assert load.failures == []
    assert during_outage >= 60

    def totals() -> dict[str, Any]:
        response = httpx.get(gw.url + "/v1/gateway/usage", params={"window": "day", "last": 2})
        assert response.status_code == 200, response.text
        report: dict[str, Any] = response.json()["totals"]
        return report

    assert wait_until(lambda: totals()["requests"] == load.ok, 5), (totals(), load.ok)
    final = totals()
    assert final["errors"] == 0
    assert final["input_tokens"] == 11 * load.ok and final["output_tokens"] == 7 * load.ok
    assert final["cached_tokens"] == 3 * load.ok

    events = [line.get("event") for line in gw.log_lines()]
    assert events.count("redis unavailable; serving on local state") == 1
    assert events.count("redis reachable again") == 1
