"""The cost ledger is exact: many small requests at prices that are not whole micro-USD
per request add up to the exact sum, in memory, in Redis, across two replicas, in the
metrics, and over counters an older version wrote in whole micro-USD."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
import redis

from gateway.accounting.counters import UsageEvent, bucket_key
from gateway.api.auth import key_id
from gateway.state.redis import RedisStateStore
from tests.conftest import GatewayFactory
from tests.support.configs import upstream_config
from tests.support.fake_upstream import FakeUpstream, ok
from tests.support.inprocess import (
    InProcessFactory,
    inprocess_gateway,  # noqa: F401  (fixture)
)

MESSAGES = [{"role": "user", "content": "classify me"}]
# A classifier and an embedding-sized call: neither costs a whole micro-USD.
PRICES = {
    "classifier": {"input": 0.15, "output": 0.6, "cached_input": 0.075},
    "tiny": {"input": 0.02, "output": 0.000001},
}
USAGES = {
    "classifier": {
        "prompt_tokens": 10,
        "completion_tokens": 3,
        "prompt_tokens_details": {"cached_tokens": 3},
    },
    "tiny": {"prompt_tokens": 7, "completion_tokens": 1},
}
# In pico-USD: tokens × (USD per 1M × 1e6), worked by hand.
PICO = {
    "classifier": 7 * 150_000 + 3 * 75_000 + 3 * 600_000,  # 3,075,000: 3.075 micro-USD
    "tiny": 7 * 20_000 + 1 * 1,  # 140,001: 0.140001 micro-USD, booked as 0 before
}
HEADER = {"classifier": "0.000003075", "tiny": "0.000000140001"}


def ledger_config(upstream: FakeUpstream) -> dict[str, Any]:
    config = upstream_config(upstream.base_url, list(PRICES))
    for model, price in PRICES.items():
        config["models"][model]["price"] = price
    config["routes"] = {"classify": {"pool": ["classifier"]}, "embed": {"pool": ["tiny"]}}
    config["server"] = {"api_keys": ["key-a", "key-b"]}
    return config


def send(http: httpx.Client, url: str, key: str, route: str, *, stream: bool = False) -> None:
    body: dict[str, Any] = {"model": route, "messages": MESSAGES, "stream": stream}
    response = http.post(
        url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    if not stream:
        model = "classifier" if route == "classify" else "tiny"
        assert response.headers["x-gateway-cost-usd"] == HEADER[model]


def usage(http: httpx.Client, url: str, group_by: str = "") -> dict[str, Any]:
    response = http.get(
        url + "/v1/gateway/usage",
        params={"window": "day", "last": "2", "group_by": group_by},
        headers={"Authorization": "Bearer key-a"},
    )
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


def run_mix(http: httpx.Client, urls: list[str]) -> dict[str, int]:
    """41 requests spread over the replicas and both keys; the exact pico-USD per key."""
    spent = {"key-a": 0, "key-b": 0}
    for i in range(41):
        key = "key-a" if i % 3 else "key-b"
        route = "embed" if i % 4 else "classify"
        send(http, urls[i % len(urls)], key, route, stream=i % 5 == 0)
        spent[key] += PICO["tiny" if route == "embed" else "classifier"]
    return spent


def assert_exact(report: dict[str, Any], spent: dict[str, int]) -> None:
    total = sum(spent.values())
    totals = report["totals"]
    assert totals["requests"] == 41
    assert totals["cost_pico_usd"] == total
    assert totals["cost_micro_usd"] == total / 1e6  # the compatible field, with its fraction
    assert totals["cost_usd"] == total / 1e12


def test_many_small_requests_sum_exactly_in_memory(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> None:
    for model, counts in USAGES.items():
        fake_upstream.set(model, ok(usage=counts))
    gw = inprocess_gateway(ledger_config(fake_upstream))
    with httpx.Client(timeout=10) as http:
        spent = run_mix(http, [gw.url])
        gw.wait_for_records(41)
        report = usage(http, gw.url, "api_key")
        assert report["state"] == "memory"
        assert_exact(report, spent)
        # What a budget reads: each key's exact spend.
        by_key = {row["api_key"]: row["cost_pico_usd"] for row in report["data"]}
        assert by_key == {key_id(k): v for k, v in spent.items()}
        assert all(r.cost_pico_usd in PICO.values() for r in gw.records())

        metrics = http.get(gw.url + "/metrics").text
    # The counter holds the exact sum's nearest double, not 41 rounded additions.
    for route, model in (("classify", "classifier"), ("embed", "tiny")):
        count = sum(1 for i in range(41) if (route == "embed") == bool(i % 4))
        line = f'gateway_cost_usd_total{{model="{model}",route="{route}"}} '
        sample = next(x for x in metrics.splitlines() if x.startswith(line))
        assert float(sample.removeprefix(line)) == count * PICO[model] / 1e12


@pytest.mark.redis
def test_many_small_requests_sum_exactly_across_two_replicas(
    fake_upstream: FakeUpstream,
    gateway_factory: GatewayFactory,
    redis_url: str,
    shared_prefix: str,
) -> None:
    for model, counts in USAGES.items():
        fake_upstream.set(model, ok(usage=counts))
    config = ledger_config(fake_upstream)
    config["state"] = {"backend": "redis", "redis_url": redis_url, "key_prefix": shared_prefix}
    a, b = gateway_factory(config), gateway_factory(config)
    with httpx.Client(timeout=10) as http:
        spent = run_mix(http, [a.url, b.url])
        # Each replica flushes its own pending counters before it answers; the other's
        # arrive within its flush period (1 s).
        deadline = time.monotonic() + 5
        reports = [usage(http, gw.url, "api_key") for gw in (a, b)]
        while any(r["totals"]["requests"] != 41 for r in reports) and time.monotonic() < deadline:
            time.sleep(0.05)
            reports = [usage(http, gw.url, "api_key") for gw in (a, b)]
    for report in reports:
        assert report["state"] == "redis"
        assert_exact(report, spent)
        by_key = {row["api_key"]: row["cost_pico_usd"] for row in report["data"]}
        assert by_key == {key_id(k): v for k, v in spent.items()}


@pytest.mark.redis
async def test_counters_written_in_micro_usd_before_the_upgrade_keep_counting(
    redis_url: str, shared_prefix: str
) -> None:
    """The old version wrote ``cost_micro_usd|<dims>`` fields; the new one adds
    ``cost_pico_usd|<dims>`` beside them in the same hash, and a read sums both."""
    now = time.time()
    dims = '["classify","","fake","classifier","key_x"]'
    legacy = redis.Redis.from_url(redis_url)
    try:
        for window in ("minute", "day"):
            key = f"{shared_prefix}:{bucket_key(window, now)}"
            legacy.hincrby(key, f"requests|{dims}", 13)
            legacy.hincrby(key, f"cost_micro_usd|{dims}", 288)  # 13 requests, rounded up
            legacy.hincrby(key, f"saved_cost_micro_usd|{dims}", 5)  # cache hits
            legacy.expire(key, 3600)
    finally:
        legacy.close()
    store = RedisStateStore(redis_url, shared_prefix)
    await store.start()
    try:
        event = UsageEvent(
            route="classify",
            profile="",
            provider="fake",
            model="classifier",
            api_key="key_x",
            error=False,
            cost_pico_usd=1_500_000,  # 1.5 micro-USD, exact
            at=now,
        )
        store.add_usage(event)
        rows, totals = await store.read_usage("day", 2, ["model"])
    finally:
        await store.aclose()
    assert totals["requests"] == 14
    assert totals["cost_pico_usd"] == 288 * 10**6 + 1_500_000
    assert totals["cost_micro_usd"] == 289.5
    assert totals["saved_cost_pico_usd"] == 5 * 10**6
    assert [(r["model"], r["cost_pico_usd"]) for r in rows] == [("classifier", 289_500_000)]


def test_gateway_usage_cli_prints_the_exact_amount() -> None:
    from gateway.accounting.report import format_report

    report = {
        "group_by": ["model"],
        "data": [
            {"model": "tiny", "requests": 3, "errors": 0, "input_tokens": 21,
             "output_tokens": 3, "cached_tokens": 0, "cost_pico_usd": 420_003}
        ],
        "totals": {"requests": 3, "errors": 0, "input_tokens": 21, "output_tokens": 3,
                   "cached_tokens": 0, "cost_pico_usd": 420_003},
    }  # fmt: skip
    header, row, total = (line.split() for line in format_report(report).splitlines())
    assert row[header.index("COST_USD")] == "0.000000420003"
    assert total[-2:] == ["0.000000420003", "0.000000"]  # cost, then saved (none)
