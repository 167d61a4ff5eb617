"""The adaptive policies end to end: an in-process gateway over real sockets to fake
upstreams that answer with different delays."""

from __future__ import annotations

import concurrent.futures
from collections import Counter
from typing import Any

import httpx

from gateway.observability.logging import request_fields
from tests.support.configs import upstream_config
from tests.support.fake_upstream import FakeUpstream, ok
from tests.support.inprocess import (
    InProcessFactory,
    InProcessGateway,
    inprocess_gateway,  # noqa: F401  (fixture)
)

MESSAGES = [{"role": "user", "content": "hi"}]


def adaptive_config(
    upstream: FakeUpstream, members: list[str], policy: str, **route: Any
) -> dict[str, Any]:
    config = upstream_config(upstream.base_url, members, api_key_env=None)
    config["routes"]["chat"].update({"policy": policy, **route})
    return config


def ask(http: httpx.Client, gw: InProcessGateway, **body: Any) -> str:
    """Send one request and wait until the gateway is done with it (signals recorded)."""
    before = len(gw.records())
    answer = http.post(
        gw.base_url + "/chat/completions", json={"model": "chat", "messages": MESSAGES, **body}
    )
    assert answer.status_code == 200, answer.text
    gw.wait_for_records(before + 1)
    return answer.headers["x-gateway-model"]


def ask_together(gw: InProcessGateway, count: int) -> list[str]:
    with (
        httpx.Client(timeout=10) as http,
        concurrent.futures.ThreadPoolExecutor(count) as pool,
    ):
        return list(pool.map(lambda _: ask(http, gw), range(count)))


def test_latency_converges_to_the_fastest_member_and_follows_a_slowdown(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> None:
    fake_upstream.set("lat-slow", ok(delay_s=0.30))
    fake_upstream.set("lat-mid", ok(delay_s=0.15))
    fake_upstream.set("lat-fast", ok(delay_s=0.01))
    members = ["lat-slow", "lat-mid", "lat-fast"]
    gw = inprocess_gateway(adaptive_config(fake_upstream, members, "latency", exploration=0))
    with httpx.Client(timeout=10) as http:
        # One request per unmeasured member, in configured order; then the fastest.
        assert [ask(http, gw) for _ in range(3)] == members
        assert [ask(http, gw) for _ in range(5)] == ["lat-fast"] * 5
        # The fast member slows down: within 3 requests the mid one takes over.
        fake_upstream.set("lat-fast", ok(delay_s=0.5))
        served = [ask(http, gw) for _ in range(4)]
    switched = served.index("lat-mid")
    assert switched <= 3, served
    assert served[switched:] == ["lat-mid"] * (len(served) - switched)
    line = request_fields(gw.records()[-1])
    assert line["policy_order"] == ["lat-mid", "lat-fast", "lat-slow"]
    # The explain view shows the estimates behind that order.
    view = httpx.get(gw.url + "/v1/gateway/routes").json()["data"][0]
    assert view["policy_order"] == ["lat-mid", "lat-fast", "lat-slow"]
    estimates = {m["model"]: m["estimates"] for m in view["members"]}
    per_token = {name: e["ms_per_output_token"] for name, e in estimates.items()}
    assert (
        per_token["lat-mid"] < per_token["lat-fast"]
        and per_token["lat-mid"] < per_token["lat-slow"]
    )
    assert estimates["lat-fast"]["samples"] == 5 + 1 + switched


def test_latency_of_streams_follows_time_to_first_token(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> None:
    # late-start waits before its first event, quick-start streams slowly after it.
    fake_upstream.set("late-start", ok(delay_s=0.3, chunks=2))
    fake_upstream.set("quick-start", ok(chunks=4, chunk_delay_s=0.1))
    members = ["late-start", "quick-start"]
    gw = inprocess_gateway(adaptive_config(fake_upstream, members, "latency", exploration=0))
    with httpx.Client(timeout=10) as http:
        served = [ask(http, gw, stream=True) for _ in range(5)]
    assert served == ["late-start", "quick-start", "quick-start", "quick-start", "quick-start"]


def test_least_busy_spreads_concurrent_slow_requests(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> None:
    members = ["busy-a", "busy-b", "busy-c"]
    for name in members:
        fake_upstream.set(name, ok(delay_s=1.0))
    gw = inprocess_gateway(adaptive_config(fake_upstream, members, "least_busy"))
    served = ask_together(gw, 6)
    assert Counter(served) == {"busy-a": 2, "busy-b": 2, "busy-c": 2}
    # Done: nothing is counted in flight any more.
    view = httpx.get(gw.url + "/v1/gateway/routes").json()["data"][0]
    assert [m["estimates"]["in_flight"] for m in view["members"]] == [0, 0, 0]


def test_priority_sends_the_same_concurrent_requests_to_one_member(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> None:
    members = ["prio-a", "prio-b"]
    for name in members:
        fake_upstream.set(name, ok(delay_s=0.3))
    gw = inprocess_gateway(adaptive_config(fake_upstream, members, "priority"))
    served = ask_together(gw, 4)
    assert served == ["prio-a"] * 4


def test_cost_picks_the_cheapest_member_that_fits_the_context(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> None:
    members = ["cost-dear", "cost-mid", "cost-cheap"]
    config = adaptive_config(fake_upstream, members, "cost")
    config["models"]["cost-dear"].update(price={"input": 5, "output": 15}, context_window=128_000)
    config["models"]["cost-mid"].update(price={"input": 1, "output": 3}, context_window=128_000)
    config["models"]["cost-cheap"].update(price={"input": 0.1, "output": 0.3}, context_window=2_000)
    gw = inprocess_gateway(config)
    long_prompt = [{"role": "user", "content": "word " * 3_000}]  # about 3,750 tokens
    with httpx.Client(timeout=10) as http:
        assert ask(http, gw) == "cost-cheap"
        assert ask(http, gw, messages=long_prompt) == "cost-mid"
        assert ask(http, gw, max_tokens=1_990) == "cost-mid"  # no room left for the answer
        assert ask(http, gw, max_tokens=100) == "cost-cheap"
    assert fake_upstream.hits("cost-dear") == []
    records = gw.records()
    assert request_fields(records[1])["policy_order"] == ["cost-mid", "cost-dear", "cost-cheap"]
    assert records[1].skipped == []  # cost-mid answered: the too-small one was never tried
