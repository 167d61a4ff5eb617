"""Triage routes against a fake classifier and fake tier members over real sockets.

Every case checks the tier that answered, the reason header, and which upstreams
were called, in order (the classifier first when it was asked).
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.observability.logging import request_fields
from gateway.routing.triage.prompt import DEFAULT_PROMPT
from tests.support.fake_upstream import FakeUpstream, error, hang, ok, rate_limited
from tests.support.inprocess import (
    InProcessFactory,
    InProcessGateway,
    inprocess_gateway,  # noqa: F401  (fixture)
)
from tests.support.triage_configs import QUESTION, triage_config


def ask(gw: InProcessGateway, content: Any = QUESTION, **body: Any) -> httpx.Response:
    payload = {"model": "assistant", "messages": [{"role": "user", "content": content}], **body}
    return httpx.post(gw.url + "/v1/chat/completions", json=payload, timeout=15)


def assert_tier(response: httpx.Response, tier: str, reason: str, model: str) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["x-gateway-tier"] == tier
    assert response.headers["x-gateway-tier-reason"] == reason
    assert response.headers["x-gateway-model"] == model
    assert response.headers["x-gateway-route"] == "assistant"


def start(factory: InProcessFactory, fake: FakeUpstream, **kw: Any) -> InProcessGateway:
    return factory(triage_config(fake.base_url, **kw))


# -- what the classifier says -----------------------------------------------------


def test_json_verdict_picks_the_tier(
    inprocess_gateway: InProcessFactory,  # noqa: F811
    fake_upstream: FakeUpstream,
) -> None:
    fake_upstream.set("judge", ok('{"tier": "complex"}'))
    gw = start(inprocess_gateway, fake_upstream)
    response = httpx.post(
        gw.url + "/v1/chat/completions",
        json={"model": "assistant", "messages": [{"role": "user", "content": QUESTION}]},
        headers={"Authorization": "Bearer client-secret"},
        timeout=15,
    )
    assert_tier(response, "complex", "classifier", "sonnet")
    assert fake_upstream.order() == ["judge", "sonnet"]
    # Neither call carries the client's credentials.
    for hit in fake_upstream.hits():
        assert "client-secret" not in str(hit.headers)
    asked = fake_upstream.hits("judge")[0].body
    assert asked["response_format"] == {"type": "json_object"}
    assert asked["messages"][0] == {"role": "system", "content": DEFAULT_PROMPT}
    assert asked["messages"][1]["content"] == f"user: {QUESTION}"
    assert asked["temperature"] == 0 and asked["max_tokens"] == 20
    # The answer's body is the client's, untouched by the classifier's.
    answered = fake_upstream.hits("sonnet")[0].body
    assert answered["messages"] == [{"role": "user", "content": QUESTION}]
    assert "response_format" not in answered
    assert response.headers["x-gateway-attempts"] == "1"


@pytest.mark.parametrize(
    ("answer", "tier", "reason", "model"),
    [
        ("This one needs an Expert model, not a simple one.", "expert", "regex", "opus"),
        ('{"tier": "galactic"} banana', "medium", "default", "mini"),
    ],
    ids=["prose", "garbage"],
)
def test_prose_is_read_by_regex_and_garbage_gives_the_default(
    inprocess_gateway: InProcessFactory,  # noqa: F811
    fake_upstream: FakeUpstream,
    answer: str,
    tier: str,
    reason: str,
    model: str,
) -> None:
    fake_upstream.set("judge", ok(answer))
    gw = start(inprocess_gateway, fake_upstream)
    assert_tier(ask(gw), tier, reason, model)
    assert fake_upstream.order() == ["judge", model]


def test_classifier_5xx_fails_over_then_defaults(
    inprocess_gateway: InProcessFactory,  # noqa: F811
    fake_upstream: FakeUpstream,
) -> None:
    fake_upstream.set("judge", error(503))
    fake_upstream.set("judge-backup", error(500))
    gw = start(inprocess_gateway, fake_upstream)
    assert_tier(ask(gw), "medium", "error", "mini")
    assert fake_upstream.order() == ["judge", "judge-backup", "mini"]
    # The classifier's failures park its members like any route's.
    parked = httpx.get(gw.url + "/v1/gateway/cooldowns", timeout=5).json()["data"]
    assert {row["key"] for row in parked} == {"fake/judge", "fake/judge-backup"}


def test_classifier_failover_still_classifies(
    inprocess_gateway: InProcessFactory,  # noqa: F811
    fake_upstream: FakeUpstream,
) -> None:
    fake_upstream.set("judge", rate_limited(retry_after=20))
    fake_upstream.set("judge-backup", ok('{"tier":"simple"}'))
    gw = start(inprocess_gateway, fake_upstream)
    assert_tier(ask(gw), "simple", "classifier", "flash")
    assert fake_upstream.order() == ["judge", "judge-backup", "flash"]


def test_slow_classifier_is_cut_at_timeout_s(
    inprocess_gateway: InProcessFactory,  # noqa: F811
    fake_upstream: FakeUpstream,
) -> None:
    fake_upstream.set("judge", hang(10))
    gw = start(inprocess_gateway, fake_upstream, triage={"timeout_s": 0.5})
    started = time.monotonic()
    response = ask(gw)
    elapsed = time.monotonic() - started
    assert_tier(response, "medium", "timeout", "mini")
    assert fake_upstream.order() == ["judge", "mini"]
    # The client waited for the classifier's deadline, not for the classifier.
    assert 0.5 <= elapsed < 3.0
    record = gw.wait_for_records(1)[0]
    assert record.triage is not None
    assert 0.5 <= record.triage.duration_s < 1.5
    # The wait was on the classifier, not the gateway's own work (gateway_overhead_seconds).
    assert record.upstream_s >= 0.5
    call = record.triage.classifier
    assert call is not None and [a.outcome for a in call.attempts] == ["triage_timeout"]
    assert fake_upstream.wait_for(lambda: fake_upstream.disconnects == ["judge"])


# -- decisions without the classifier ------------------------------------------------


def test_bypass_when_every_tier_is_one_member(
    inprocess_gateway: InProcessFactory,  # noqa: F811
    fake_upstream: FakeUpstream,
) -> None:
    config = triage_config(fake_upstream.base_url)
    config["routes"]["chat-mini"] = {"pool": ["mini"]}
    config["routes"]["assistant"]["triage"]["tiers"] = {
        "simple": ["mini"],
        "medium": "chat-mini",
        "expert": "mini",
    }
    gw = inprocess_gateway(config)
    assert_tier(ask(gw), "medium", "bypass", "mini")
    assert_tier(ask(gw, "hi"), "medium", "bypass", "mini")
    assert fake_upstream.order() == ["mini", "mini"]


def test_short_plain_request_goes_straight_to_simple(
    inprocess_gateway: InProcessFactory,  # noqa: F811
    fake_upstream: FakeUpstream,
) -> None:
    fake_upstream.set("judge", ok('{"tier": "expert"}'))
    gw = start(inprocess_gateway, fake_upstream)
    messages = [
        {"role": "system", "content": "You are the support bot of a shop. " * 20},
        {"role": "user", "content": "Thanks, that helped!"},
    ]
    response = httpx.post(
        gw.url + "/v1/chat/completions",
        json={"model": "assistant", "messages": messages},
        timeout=10,
    )
    assert_tier(response, "simple", "heuristic", "flash")
    # Code in a short request is not plain text: the classifier decides.
    assert_tier(ask(gw, "```x = [i for i in y]```"), "expert", "classifier", "opus")
    assert fake_upstream.order() == ["flash", "judge", "opus"]


TOOLS = [
    {
        "type": "function",
        "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
    }
]
IMAGE = [
    {"type": "text", "text": "What is in this picture, and is it safe to eat?"},
    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
]


@pytest.mark.parametrize(
    ("content", "extra", "triage"),
    [
        ("hi", {"tools": TOOLS}, {}),
        (IMAGE, {}, {}),
        (QUESTION, {}, {"heuristics": {"large_prompt_tokens": 10}}),
    ],
    ids=["tools", "image", "large"],
)
def test_tools_images_and_size_never_go_below_medium(
    inprocess_gateway: InProcessFactory,  # noqa: F811
    fake_upstream: FakeUpstream,
    content: Any,
    extra: dict[str, Any],
    triage: dict[str, Any],
) -> None:
    fake_upstream.set("judge", ok('{"tier": "simple"}'))
    gw = start(inprocess_gateway, fake_upstream, triage=triage)
    assert_tier(ask(gw, content, **extra), "medium", "heuristic", "mini")
    assert fake_upstream.order() == ["judge", "mini"]


def test_heuristics_off_leave_everything_to_the_classifier(
    inprocess_gateway: InProcessFactory,  # noqa: F811
    fake_upstream: FakeUpstream,
) -> None:
    fake_upstream.set("judge", ok('{"tier": "simple"}'))
    gw = start(inprocess_gateway, fake_upstream, triage={"heuristics": False})
    assert_tier(ask(gw, "hi", tools=TOOLS), "simple", "classifier", "flash")
    assert fake_upstream.order() == ["judge", "flash"]


def test_identical_input_reuses_the_verdict(
    inprocess_gateway: InProcessFactory,  # noqa: F811
    fake_upstream: FakeUpstream,
) -> None:
    fake_upstream.set("judge", ok('{"tier": "complex"}'), ok('{"tier": "simple"}'))
    gw = start(inprocess_gateway, fake_upstream)
    assert_tier(ask(gw), "complex", "classifier", "sonnet")
    assert_tier(ask(gw), "complex", "cache", "sonnet")
    # Other input is classified afresh.
    assert_tier(ask(gw, QUESTION + " Be brief."), "simple", "classifier", "flash")
    assert fake_upstream.order() == ["judge", "sonnet", "sonnet", "judge", "flash"]


def test_fallback_verdicts_are_not_cached(
    inprocess_gateway: InProcessFactory,  # noqa: F811
    fake_upstream: FakeUpstream,
) -> None:
    fake_upstream.set("judge", ok("no idea"), ok('{"tier": "expert"}'))
    gw = start(inprocess_gateway, fake_upstream)
    assert_tier(ask(gw), "medium", "default", "mini")
    assert_tier(ask(gw), "expert", "classifier", "opus")
    assert fake_upstream.order() == ["judge", "mini", "judge", "opus"]


# -- escalation ------------------------------------------------------------------------


def test_prompt_too_large_for_the_tier_escalates(
    inprocess_gateway: InProcessFactory,  # noqa: F811
    fake_upstream: FakeUpstream,
) -> None:
    fake_upstream.set("judge", ok('{"tier": "complex"}'))
    gw = start(inprocess_gateway, fake_upstream, context_windows={"sonnet": 20, "sonnet-b": 20})
    response = ask(gw, QUESTION * 3)
    assert_tier(response, "expert", "escalated", "opus")
    assert fake_upstream.order() == ["judge", "opus"]
    record = gw.wait_for_records(1)[0]
    assert record.skipped == ["sonnet:too_small", "sonnet-b:too_small"]


def test_failing_then_parked_tier_escalates(
    inprocess_gateway: InProcessFactory,  # noqa: F811
    fake_upstream: FakeUpstream,
) -> None:
    fake_upstream.set("judge", ok('{"tier": "complex"}'))
    fake_upstream.set("sonnet", error(503))
    fake_upstream.set("sonnet-b", rate_limited(retry_after=60))
    gw = start(inprocess_gateway, fake_upstream, triage={"cache_ttl_s": 0})
    response = ask(gw)
    assert_tier(response, "expert", "escalated", "opus")
    assert response.headers["x-gateway-attempts"] == "3"
    assert fake_upstream.order() == ["judge", "sonnet", "sonnet-b", "opus"]
    # Now the whole complex tier is parked: straight to the tier above.
    fake_upstream.reset()
    fake_upstream.set("judge", ok('{"tier": "complex"}'))
    response = ask(gw)
    assert_tier(response, "expert", "escalated", "opus")
    assert fake_upstream.order() == ["judge", "opus"]
    record = gw.wait_for_records(2)[1]
    assert record.skipped == ["sonnet:parked", "sonnet-b:parked"]
    # The route still has members to answer: every tier counts (flash, mini, opus).
    metrics = httpx.get(gw.url + "/metrics", timeout=5).text
    assert 'gateway_route_available_members{route="assistant"} 3.0' in metrics


def test_escalation_stops_at_max_attempts(
    inprocess_gateway: InProcessFactory,  # noqa: F811
    fake_upstream: FakeUpstream,
) -> None:
    fake_upstream.set("judge", ok('{"tier": "complex"}'))
    fake_upstream.set("sonnet", error(503))
    fake_upstream.set("sonnet-b", error(502))
    gw = start(inprocess_gateway, fake_upstream, resilience={"max_attempts": 2})
    response = ask(gw)
    assert response.status_code == 503
    assert "stopped after max_attempts=2" in response.json()["error"]["message"]
    assert response.headers["x-gateway-tier"] == "complex"
    assert fake_upstream.order() == ["judge", "sonnet", "sonnet-b"]


def test_client_error_never_escalates(
    inprocess_gateway: InProcessFactory,  # noqa: F811
    fake_upstream: FakeUpstream,
) -> None:
    fake_upstream.set("judge", ok('{"tier": "complex"}'))
    fake_upstream.set("sonnet", error(400, "bad tool schema", type_="invalid_request_error"))
    gw = start(inprocess_gateway, fake_upstream)
    response = ask(gw)
    assert response.status_code == 400
    assert response.headers["x-gateway-tier"] == "complex"
    assert response.headers["x-gateway-tier-reason"] == "classifier"
    assert fake_upstream.order() == ["judge", "sonnet"]


def test_verdict_for_a_missing_tier_goes_up_then_down(
    inprocess_gateway: InProcessFactory,  # noqa: F811
    fake_upstream: FakeUpstream,
) -> None:
    tiers = {"medium": ["mini"], "complex": ["sonnet"]}
    fake_upstream.set("judge", ok('{"tier": "simple"}'), ok('{"tier": "expert"}'))
    gw = start(inprocess_gateway, fake_upstream, triage={"tiers": tiers, "cache_ttl_s": 0})
    assert_tier(ask(gw), "medium", "classifier", "mini")
    assert_tier(ask(gw), "complex", "classifier", "sonnet")
    assert fake_upstream.order() == ["judge", "mini", "judge", "sonnet"]


def test_a_fallback_that_escalates_is_still_counted_as_a_fallback(
    inprocess_gateway: InProcessFactory,  # noqa: F811
    fake_upstream: FakeUpstream,
) -> None:
    fake_upstream.set("judge", error(500))
    fake_upstream.set("judge-backup", error(503))
    fake_upstream.set("mini", error(502))
    gw = start(inprocess_gateway, fake_upstream)
    assert_tier(ask(gw), "complex", "escalated", "sonnet")
    assert fake_upstream.order() == ["judge", "judge-backup", "mini", "sonnet"]
    fields = request_fields(gw.wait_for_records(1)[0])
    assert (fields["tier"], fields["tier_reason"]) == ("complex", "escalated")
    assert (fields["tier_chosen"], fields["tier_chosen_reason"]) == ("medium", "error")
    assert fields["triage_attempts"] == 2 and fields["triage_cost_usd"] is None
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(httpx.get(gw.url + "/metrics").text)
        for s in family.samples
        if s.name.startswith("gateway_triage_")
    }
    route = ("route", "assistant")
    decision = (("reason", "escalated"), route, ("tier", "complex"))
    assert samples[("gateway_triage_decisions_total", decision)] == 1
    assert samples[("gateway_triage_fallbacks_total", (("reason", "error"), route))] == 1
    assert samples[("gateway_triage_duration_seconds_count", (route,))] == 1


def test_a_classifier_route_can_force_its_own_request_fields(
    inprocess_gateway: InProcessFactory,  # noqa: F811
    fake_upstream: FakeUpstream,
) -> None:
    config = triage_config(fake_upstream.base_url)
    config["routes"]["judges"].update(options={"max_tokens": 64}, force=["max_tokens"])
    fake_upstream.set("judge", ok('{"tier": "simple"}'))
    gw = inprocess_gateway(config)
    assert_tier(ask(gw), "simple", "classifier", "flash")
    assert fake_upstream.hits("judge")[0].body["max_tokens"] == 64


def test_a_tier_route_follows_the_request_profile(
    inprocess_gateway: InProcessFactory,  # noqa: F811
    fake_upstream: FakeUpstream,
) -> None:
    config = triage_config(fake_upstream.base_url)
    config["routes"]["chat-expert"]["profiles"] = {"byok": ["sonnet-b"]}
    fake_upstream.set("judge", ok('{"tier": "expert"}'))
    gw = inprocess_gateway(config)
    assert_tier(ask(gw), "expert", "classifier", "opus")
    response = httpx.post(
        gw.url + "/v1/chat/completions",
        json={"model": "assistant", "messages": [{"role": "user", "content": QUESTION}]},
        headers={"X-Gateway-Profile": "byok"},
        timeout=10,
    )
    assert_tier(response, "expert", "cache", "sonnet-b")
    assert fake_upstream.order() == ["judge", "opus", "sonnet-b"]
    rows = httpx.get(gw.url + "/v1/gateway/routes?profile=byok", timeout=5).json()["data"]
    tiers = next(r for r in rows if r["route"] == "assistant")["triage"]["tiers"]
    assert [m["model"] for m in tiers[-1]["members"]] == ["sonnet-b"]


def test_a_response_cache_hit_answers_before_triage(
    inprocess_gateway: InProcessFactory,  # noqa: F811
    fake_upstream: FakeUpstream,
) -> None:
    config = triage_config(fake_upstream.base_url)
    config["routes"]["assistant"]["cache"] = True
    fake_upstream.set("judge", ok('{"tier": "complex"}'))
    gw = inprocess_gateway(config)
    first = ask(gw, temperature=0)
    assert_tier(first, "complex", "classifier", "sonnet")
    second = ask(gw, temperature=0)
    assert second.status_code == 200
    assert second.json()["choices"] == first.json()["choices"]
    assert "x-gateway-tier" not in second.headers
    assert fake_upstream.order() == ["judge", "sonnet"]
    record = gw.wait_for_records(2)[1]
    assert (record.cache, record.triage) == ("hit", None)


@pytest.mark.parametrize("policy", ["latency", "least_busy", "cost"])
def test_adaptive_classifier_and_tier_routes_serve_in_their_listed_order(
    inprocess_gateway: InProcessFactory,  # noqa: F811
    fake_upstream: FakeUpstream,
    policy: str,
) -> None:
    config = triage_config(fake_upstream.base_url)
    config["routes"]["judges"]["policy"] = policy
    config["routes"]["chat-expert"] = {"pool": ["opus", "sonnet-b"], "policy": policy}
    fake_upstream.set("judge", ok('{"tier": "expert"}'))
    gw = inprocess_gateway(config)
    response = ask(gw)
    assert_tier(response, "expert", "classifier", "opus")
    assert fake_upstream.order() == ["judge", "opus"]
