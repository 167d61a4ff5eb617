"""Two ``gateway serve`` replicas on one real Redis: latency learnt on A steers B, and
after a cooldown exactly one probe goes out across both."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import time
from typing import Any

import httpx

from tests.conftest import GatewayFactory
from tests.support.configs import upstream_config
from tests.support.fake_upstream import FakeUpstream, error, ok
from tests.support.gateway_process import GatewayProcess

MESSAGES = [{"role": "user", "content": "hi"}]


def shared_config(
    upstream: FakeUpstream, members: list[str], redis_url: str, prefix: str, **route: Any
) -> dict[str, Any]:
    config = upstream_config(
        upstream.base_url,
        members,
        api_key_env=None,
        resilience={"cooldown_s": 1, "max_cooldown_s": 10},
    )
    config["routes"]["chat"].update(route)
    config["state"] = {"backend": "redis", "redis_url": redis_url, "key_prefix": prefix}
    return config


def served_by(http: httpx.Client, gw: GatewayProcess) -> str:
    answer = http.post(
        gw.base_url + "/chat/completions", json={"model": "chat", "messages": MESSAGES}
    )
    assert answer.status_code == 200, answer.text
    return answer.headers["x-gateway-model"]


def route_view(http: httpx.Client, gw: GatewayProcess) -> dict[str, Any]:
    view: dict[str, Any] = http.get(gw.url + "/v1/gateway/routes").json()["data"][0]
    return view


def test_latency_learnt_on_a_steers_b_within_2s(
    fake_upstream: FakeUpstream,
    gateway_factory: GatewayFactory,
    redis_url: str,
    shared_prefix: str,
) -> None:
    fake_upstream.set("rep-slow", ok(delay_s=0.3))
    fake_upstream.set("rep-fast", ok(delay_s=0.01))
    config = shared_config(
        fake_upstream, ["rep-slow", "rep-fast"], redis_url, shared_prefix,
        policy="latency", exploration=0,
    )  # fmt: skip
    a = gateway_factory(config)
    b = gateway_factory(config)
    with httpx.Client(timeout=10) as http:
        # Unmeasured members go first, in configured order: B would try rep-slow first.
        assert route_view(http, b)["policy_order"] == ["rep-slow", "rep-fast"]
        assert [served_by(http, a) for _ in range(2)] == ["rep-slow", "rep-fast"]
        learnt = time.monotonic()
        while route_view(http, b)["policy_order"] != ["rep-fast", "rep-slow"]:
            assert time.monotonic() - learnt < 2.0, "B did not learn A's latencies within 2 s"
            time.sleep(0.02)
        slow_hits = len(fake_upstream.hits("rep-slow"))
        assert [served_by(http, b) for _ in range(3)] == ["rep-fast"] * 3
        assert len(fake_upstream.hits("rep-slow")) == slow_hits  # B never measured it itself
        estimates = {m["model"]: m["estimates"] for m in route_view(http, b)["members"]}
        assert estimates["rep-slow"]["samples"] == 1  # A's sample, through Redis
    # B's log lines say which order its policy gave.
    deadline = time.monotonic() + 5
    while len(lines := [r for r in b.log_lines() if r.get("event") == "request"]) < 3:
        assert time.monotonic() < deadline, "B's request lines were not written"
        time.sleep(0.02)
    assert [line["policy_order"] for line in lines] == [["rep-fast", "rep-slow"]] * 3


def park_and_wait_for_expiry(
    http: httpx.Client, a: GatewayProcess, b: GatewayProcess, upstream: FakeUpstream
) -> None:
    """A failure on A parks ``flaky`` (1 s); wait until both replicas see it probing."""
    upstream.set("flaky", error(503))
    assert served_by(http, a) == "backup"
    deadline = time.monotonic() + 5
    for gw in (a, b):
        while {m["model"]: m["state"] for m in route_view(http, gw)["members"]}["flaky"] != (
            "probing"
        ):
            assert time.monotonic() < deadline, "the cooldown did not expire into probing"
            time.sleep(0.02)


def parked_for(http: httpx.Client, gw: GatewayProcess) -> float:
    cooldowns = http.get(gw.url + "/v1/gateway/cooldowns").json()["data"]
    return float(next((c["remaining_s"] for c in cooldowns if c["key"] == "fake/flaky"), 0.0))


def ask_both(http: httpx.Client, a: GatewayProcess, b: GatewayProcess, each: int) -> list[str]:
    with concurrent.futures.ThreadPoolExecutor(2 * each) as pool:
        return list(pool.map(lambda gw: served_by(http, gw), [a, b] * each))


def test_after_a_cooldown_concurrent_requests_on_two_replicas_send_exactly_one_probe(
    fake_upstream: FakeUpstream,
    gateway_factory: GatewayFactory,
    redis_url: str,
    shared_prefix: str,
) -> None:
    config = shared_config(fake_upstream, ["flaky", "backup"], redis_url, shared_prefix)
    a = gateway_factory(config)
    b = gateway_factory(config)
    with httpx.Client(timeout=10) as http:
        # -- a probe that fails: parked again for twice as long -----------------------
        park_and_wait_for_expiry(http, a, b, fake_upstream)
        before = len(fake_upstream.hits("flaky"))
        # The probe fails slowly, so the other requests arrive while it runs.
        fake_upstream.set("flaky", dataclasses.replace(error(503, "still down"), delay_s=0.3))
        served = ask_both(http, a, b, each=4)
        assert len(fake_upstream.hits("flaky")) == before + 1
        assert served == ["backup"] * 8
        # The first park was 1 s, so this one is 2 s; each replica knows it (the one
        # that probed announces it within 100 ms).
        for gw in (a, b):
            deadline = time.monotonic() + 1.0
            while not (parked := parked_for(http, gw)):
                assert time.monotonic() < deadline, "the new park was not shared"
                time.sleep(0.01)
            assert 1.2 < parked <= 2.0

        # -- a probe that answers: traffic returns on both replicas ---------------------
        deadline = time.monotonic() + 5
        while route_view(http, b)["members"][0]["state"] != "probing":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        fake_upstream.set("flaky", ok(delay_s=0.3))
        before = len(fake_upstream.hits("flaky"))
        served = ask_both(http, a, b, each=4)
        assert len(fake_upstream.hits("flaky")) == before + 1
        assert served.count("flaky") == 1 and served.count("backup") == 7
        for gw in (a, b):
            while served_by(http, gw) != "flaky":
                assert time.monotonic() < deadline + 5, "traffic did not return to flaky"
                time.sleep(0.02)
            assert served_by(http, gw) == "flaky"
