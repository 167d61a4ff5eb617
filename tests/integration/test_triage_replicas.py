"""Two ``gateway serve`` replicas on one Redis: a verdict one replica got from the
classifier is a cache hit on the other; the log line, metrics and usage show what
triage decided and what the classifier cost (``purpose=triage``)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import redis

from tests.conftest import GatewayFactory
from tests.integration.test_metrics import scrape, value
from tests.support.fake_upstream import FakeUpstream, ok
from tests.support.gateway_process import GatewayProcess
from tests.support.triage_configs import QUESTION, triage_config

# The fake's usage is 11 input (3 cached, no cached price) and 7 output tokens.
JUDGE_MICRO_USD = 11 * 1 + 7 * 5
SONNET_MICRO_USD = 11 * 3 + 7 * 15


def ask(gw: GatewayProcess) -> httpx.Response:
    body = {"model": "assistant", "messages": [{"role": "user", "content": QUESTION}]}
    return httpx.post(gw.url + "/v1/chat/completions", json=body, timeout=15)


def poll(read: Any, done: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = read()
        if done(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def request_lines(gw: GatewayProcess) -> list[dict[str, Any]]:
    return [line for line in gw.log_lines() if line.get("event") == "request"]


def test_verdict_is_shared_between_replicas_and_accounted(
    fake_upstream: FakeUpstream,
    gateway_factory: GatewayFactory,
    redis_url: str,
    shared_prefix: str,
) -> None:
    state = {"backend": "redis", "redis_url": redis_url, "key_prefix": shared_prefix}
    config = triage_config(fake_upstream.base_url, state=state)
    a = gateway_factory(config)
    b = gateway_factory(config)
    fake_upstream.set("judge", ok('{"tier": "complex"}'))

    first = ask(a)
    assert first.status_code == 200, first.text
    assert first.headers["x-gateway-tier"] == "complex"
    assert first.headers["x-gateway-tier-reason"] == "classifier"
    client = redis.Redis.from_url(redis_url)
    try:
        keys = poll(
            lambda: list(client.scan_iter(match=f"{shared_prefix}:triage:*")),
            lambda found: len(found) == 1,
        )
        assert len(keys) == 1
        assert client.get(keys[0]) == b"complex"
        assert 0 < client.pttl(keys[0]) <= 300_000
    finally:
        client.close()

    second = ask(b)
    assert second.status_code == 200, second.text
    assert second.headers["x-gateway-tier"] == "complex"
    assert second.headers["x-gateway-tier-reason"] == "cache"
    assert fake_upstream.order() == ["judge", "sonnet", "sonnet"]

    # The log lines.
    line_a = poll(lambda: request_lines(a), bool)[0]
    assert line_a["tier"] == "complex" and line_a["tier_reason"] == "classifier"
    assert line_a["triage_model"] == "judge" and line_a["triage_attempts"] == 1
    assert line_a["triage_cost_usd"] == JUDGE_MICRO_USD / 1e6
    assert 0 < line_a["triage_ms"] < line_a["latency_ms"]
    line_b = poll(lambda: request_lines(b), bool)[0]
    assert line_b["tier"] == "complex" and line_b["tier_reason"] == "cache"
    assert "triage_model" not in line_b and line_b["triage_ms"] < 100

    # The metrics of each replica.
    samples = scrape(a)
    decisions = "gateway_triage_decisions_total"
    assert value(samples, decisions, route="assistant", tier="complex", reason="classifier") == 1
    assert value(samples, decisions) == 1
    assert value(samples, "gateway_triage_duration_seconds_count", route="assistant") == 1
    attempts = "gateway_attempts_total"
    assert value(samples, attempts, route="assistant", model="judge", outcome="success") == 1
    cost = value(samples, "gateway_cost_usd_total", route="assistant", model="judge")
    assert abs(cost - JUDGE_MICRO_USD / 1e6) < 1e-12
    samples = scrape(b)
    assert value(samples, decisions, route="assistant", tier="complex", reason="cache") == 1
    assert value(samples, attempts, model="judge") == 0

    # Usage: the classifier's call is an event of its own under the route.
    def usage() -> dict[str, Any]:
        response = httpx.get(
            b.url + "/v1/gateway/usage",
            params={"window": "day", "group_by": "route,purpose,model"},
            timeout=5,
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    report = poll(usage, lambda r: r["totals"]["requests"] == 3)
    rows = {(r["route"], r["purpose"], r["model"]): r for r in report["data"]}
    assert set(rows) == {("assistant", "answer", "sonnet"), ("assistant", "triage", "judge")}
    answer, triage = rows["assistant", "answer", "sonnet"], rows["assistant", "triage", "judge"]
    assert (answer["requests"], answer["cost_micro_usd"]) == (2, 2 * SONNET_MICRO_USD)
    assert (triage["requests"], triage["errors"]) == (1, 0)
    assert (triage["input_tokens"], triage["output_tokens"]) == (11, 7)
    assert triage["cost_micro_usd"] == JUDGE_MICRO_USD
    assert report["totals"]["cost_micro_usd"] == 2 * SONNET_MICRO_USD + JUDGE_MICRO_USD
