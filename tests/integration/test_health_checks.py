"""Optional health checks: background requests to a parked member end its park as soon
as it answers, at a bounded rate, in their own metric, and never in usage."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.support.configs import upstream_config
from tests.support.fake_upstream import FakeUpstream, error, ok, rate_limited
from tests.support.inprocess import (
    InProcessFactory,
    inprocess_gateway,  # noqa: F401  (fixture)
)

MESSAGES = [{"role": "user", "content": "hi"}]


def checked_config(upstream: FakeUpstream, **health: Any) -> dict[str, Any]:
    config = upstream_config(upstream.base_url, ["hc-flaky", "hc-backup"], api_key_env=None)
    config["routes"]["chat"]["health_check"] = {"interval_s": 0.2, **health}
    return config


def health_metric(text: str, outcome: str) -> float:
    prefix = "gateway_health_checks_total{"
    total = 0.0
    for line in text.splitlines():
        if line.startswith(prefix) and f'outcome="{outcome}"' in line and "hc-flaky" in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_a_health_check_ends_the_park_without_a_user_request(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> None:
    fake_upstream.set("hc-flaky", error(503))
    gw = inprocess_gateway(checked_config(fake_upstream, prompt="are you there?"))
    with httpx.Client(timeout=10) as http:
        answer = http.post(
            gw.base_url + "/chat/completions", json={"model": "chat", "messages": MESSAGES}
        )
        assert answer.headers["x-gateway-model"] == "hc-backup"  # hc-flaky parked for 30 s
        # Down for a while: checks go out at most once per interval and change nothing.
        started = time.monotonic()
        deadline = started + 5
        while len(fake_upstream.hits("hc-flaky")) < 4:
            assert time.monotonic() < deadline, "no health checks were sent"
            time.sleep(0.01)
        checks = fake_upstream.hits("hc-flaky")[1:]
        assert len(checks) <= (time.monotonic() - started) / 0.2 + 1
        assert http.get(gw.url + "/v1/gateway/cooldowns").json()["data"] != []
        assert checks[0].body["messages"] == [{"role": "user", "content": "are you there?"}]
        assert checks[0].body["max_tokens"] == 1
        # It comes back: the next check un-parks it, long before its 30 s are up.
        fake_upstream.set("hc-flaky", ok())
        deadline = time.monotonic() + 5
        while http.get(gw.url + "/v1/gateway/cooldowns").json()["data"]:
            assert time.monotonic() < deadline, "the health check did not end the park"
            time.sleep(0.02)
        view = http.get(gw.url + "/v1/gateway/routes").json()["data"][0]
        assert [m["state"] for m in view["members"]] == ["available", "available"]
        answer = http.post(
            gw.base_url + "/chat/completions", json={"model": "chat", "messages": MESSAGES}
        )
        assert answer.headers["x-gateway-model"] == "hc-flaky"
        metrics = http.get(gw.url + "/metrics").text
        assert health_metric(metrics, "upstream_5xx") >= 2
        assert health_metric(metrics, "success") == 1
        # Never billed: the usage counters hold the two user requests only.
        gw.wait_for_records(2)
        usage = http.get(gw.url + "/v1/gateway/usage", params={"window": "day"}).json()
        assert usage["totals"]["requests"] == 2
    # hc-backup was available all along: it only ever saw the user's request.
    assert len(fake_upstream.hits("hc-backup")) == 1


def test_a_rate_limited_member_is_not_checked_before_its_deadline(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> None:
    fake_upstream.set("hc-flaky", rate_limited(retry_after=30), ok())
    fake_upstream.set("hc-backup", error(503), ok())
    gw = inprocess_gateway(checked_config(fake_upstream))
    with httpx.Client(timeout=10) as http:
        answer = http.post(
            gw.base_url + "/chat/completions", json={"model": "chat", "messages": MESSAGES}
        )
        assert answer.status_code == 503  # hc-flaky: 429 for 30 s; hc-backup: 503
        # hc-backup (an outage) is checked and comes back; hc-flaky is left alone.
        deadline = time.monotonic() + 5
        while len(fake_upstream.hits("hc-backup")) < 2:
            assert time.monotonic() < deadline, "the outage was not checked"
            time.sleep(0.01)
        while any(c["key"] == "fake/hc-backup" for c in cooldowns(http, gw.url)):
            assert time.monotonic() < deadline, "the outage's park did not end"
            time.sleep(0.01)
        assert [c["key"] for c in cooldowns(http, gw.url)] == ["fake/hc-flaky"]
    assert len(fake_upstream.hits("hc-flaky")) == 1


def cooldowns(http: httpx.Client, url: str) -> list[dict[str, Any]]:
    listing: list[dict[str, Any]] = http.get(url + "/v1/gateway/cooldowns").json()["data"]
    return listing
