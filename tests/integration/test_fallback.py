"""Fallback and cooldowns (spec §5) against the fake upstream, one behaviour per member.

Each test checks which members were hit and in what order, what the client got, and
which members are parked afterwards (through ``GET /v1/gateway/cooldowns`` and
through behaviour: a follow-up request does not hit a parked member again).
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.conftest import GatewayFactory
from tests.support.configs import upstream_config
from tests.support.fake_upstream import (
    FakeUpstream,
    closed_port_url,
    context_length,
    error,
    hang,
    ok,
    rate_limited,
)
from tests.support.inprocess import (
    InProcessFactory,
    InProcessGateway,
    inprocess_gateway,  # noqa: F401  (fixture)
)

MESSAGES = [{"role": "user", "content": "hello"}]


def make_config(
    fake: FakeUpstream,
    members: list[str],
    resilience: dict[str, Any] | None = None,
    timeout_s: float = 1.0,
) -> dict[str, Any]:
    config = upstream_config(
        fake.base_url, members, resilience={"ttft_timeout_s": 1, **(resilience or {})}
    )
    config["providers"]["fake"]["timeout_s"] = timeout_s
    return config


def chat(gw: InProcessGateway, model: str = "chat", **body: Any) -> httpx.Response:
    payload = {"model": model, "messages": MESSAGES, **body}
    return httpx.post(gw.url + "/v1/chat/completions", json=payload, timeout=10)


def cooldowns(gw: InProcessGateway) -> dict[str, float]:
    """``{key: remaining_s}`` from the admin endpoint."""
    response = httpx.get(gw.url + "/v1/gateway/cooldowns", timeout=5)
    assert response.status_code == 200
    rows = response.json()["data"]
    now = time.time()
    for row in rows:
        assert row["until"] == pytest.approx(now + row["remaining_s"], abs=1.0)
    return {row["key"]: row["remaining_s"] for row in rows}


def assert_served(response: httpx.Response, model: str, attempts: int) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["x-gateway-model"] == model
    assert response.headers["x-gateway-provider"] == "fake"
    assert response.headers["x-gateway-attempts"] == str(attempts)
    assert response.json()["choices"][0]["message"]["content"] == f"from {model}"


def outcomes(gw: InProcessGateway, index: int = -1) -> list[tuple[str, str]]:
    record = gw.wait_for_records(index + 1 if index >= 0 else 1)[index]
    return [(a.alias, a.outcome) for a in record.attempts]


# -- availability failures: fall over and park --------------------------------------


@pytest.mark.parametrize(
    ("behavior", "outcome", "parked_s"),
    [
        (rate_limited(retry_after=40), "rate_limited", 40),
        (rate_limited(retry_after_ms=12_500), "rate_limited", 12.5),
        (rate_limited(), "rate_limited", 30),  # no header: cooldown_s
        (rate_limited(retry_after=100_000), "rate_limited", 300),  # capped
        (error(500), "upstream_5xx", 30),
        (error(502), "upstream_5xx", 30),
        (error(503, headers={"Retry-After": "7"}), "upstream_5xx", 7),
        (error(529, "overloaded"), "upstream_5xx", 30),
        (error(408), "timeout", 30),
        (error(409), "upstream_5xx", 30),
        (error(401, "bad key", headers={"Retry-After": "5"}), "bad_credentials", 300),
        (error(403, "forbidden"), "bad_credentials", 300),
    ],
    ids=[
        "429-retry-after",
        "429-retry-after-ms",
        "429-bare",
        "429-capped",
        "500",
        "502",
        "503-retry-after",
        "529",
        "408",
        "409",
        "401",
        "403",
    ],
)
def test_availability_failure_falls_over_and_parks(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
    behavior: Any,
    outcome: str,
    parked_s: float,
) -> None:
    fake_upstream.set("m1", behavior)
    fake_upstream.set("m2", ok("from m2"))
    gw = inprocess_gateway(make_config(fake_upstream, ["m1", "m2"]))

    response = chat(gw)

    assert_served(response, "m2", attempts=2)
    assert fake_upstream.order() == ["m1", "m2"]
    assert outcomes(gw) == [("m1", outcome), ("m2", "success")]
    parked = cooldowns(gw)
    assert list(parked) == ["fake/m1"]
    assert parked["fake/m1"] == pytest.approx(parked_s, abs=1.0)

    # Parked means skipped: the follow-up goes straight to m2.
    assert_served(chat(gw), "m2", attempts=1)
    assert fake_upstream.order() == ["m1", "m2", "m2"]


def test_hang_past_the_timeout_falls_over(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> None:
    fake_upstream.set("m1", hang(10))
    fake_upstream.set("m2", ok("from m2"))
    gw = inprocess_gateway(make_config(fake_upstream, ["m1", "m2"], timeout_s=0.5))

    started = time.monotonic()
    response = chat(gw)
    elapsed = time.monotonic() - started

    assert_served(response, "m2", attempts=2)
    assert elapsed < 3
    assert fake_upstream.order() == ["m1", "m2"]
    assert outcomes(gw) == [("m1", "timeout"), ("m2", "success")]
    # The gateway hung up on the stuck upstream instead of leaking the connection.
    assert fake_upstream.wait_for(lambda: "m1" in fake_upstream.disconnects)
    assert cooldowns(gw)["fake/m1"] == pytest.approx(30, abs=1)
    assert_served(chat(gw), "m2", attempts=1)
    assert fake_upstream.order() == ["m1", "m2", "m2"]


def test_connection_refused_falls_over_to_the_next_provider(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> None:
    fake_upstream.set("m2", ok("from m2"))
    config = make_config(fake_upstream, ["m2"])
    config["providers"]["dead"] = {"kind": "openai", "base_url": closed_port_url()}
    config["models"]["gone"] = {"provider": "dead", "model": "gone-model"}
    config["routes"]["chat"]["pool"] = ["gone", "m2"]
    gw = inprocess_gateway(config)

    assert_served(chat(gw), "m2", attempts=2)
    assert fake_upstream.order() == ["m2"]
    assert outcomes(gw) == [("gone", "connect_error"), ("m2", "success")]
    parked = cooldowns(gw)
    assert list(parked) == ["dead/gone-model"]
    assert parked["dead/gone-model"] == pytest.approx(30, abs=1)

    assert_served(chat(gw), "m2", attempts=1)
    assert outcomes(gw, 1) == [("m2", "success")]
    assert "gone:parked" in gw.records()[1].skipped


# -- client errors: answered at once, no fallback, no parking -----------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "invalid_value"),
        (404, "model_not_found"),
        (413, "request_too_large"),
        (422, "unprocessable"),
    ],
)
def test_client_error_returns_at_once(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
    status: int,
    code: str,
) -> None:
    fake_upstream.set("m1", error(status, f"upstream says {status}", code=code))
    fake_upstream.set("m2", ok("from m2"))
    gw = inprocess_gateway(make_config(fake_upstream, ["m1", "m2"]))

    response = chat(gw)

    assert response.status_code == status
    assert response.json() == {
        "error": {
            "message": f"upstream says {status}",
            "type": "server_error",
            "param": None,
            "code": code,
        }
    }
    assert response.headers["x-gateway-model"] == "m1"
    assert response.headers["x-gateway-attempts"] == "1"
    assert fake_upstream.order() == ["m1"]
    assert outcomes(gw) == [("m1", "client_error")]
    assert cooldowns(gw) == {}


# -- context windows ---------------------------------------------------------------


def context_config(fake: FakeUpstream) -> dict[str, Any]:
    config = make_config(fake, ["small", "smaller", "unknown", "large"])
    config["models"]["small"]["context_window"] = 8192
    config["models"]["smaller"]["context_window"] = 4096
    config["models"]["large"]["context_window"] = 128_000
    return config


def test_context_length_error_escalates_to_a_larger_window(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> None:
    fake_upstream.set("small", context_length())
    fake_upstream.set("large", ok("from large"))
    gw = inprocess_gateway(context_config(fake_upstream))

    response = chat(gw)

    assert response.status_code == 200
    assert response.headers["x-gateway-model"] == "large"
    assert response.headers["x-gateway-attempts"] == "2"
    # smaller (4096) and unknown (no context_window) cannot help: skipped.
    assert fake_upstream.order() == ["small", "large"]
    assert outcomes(gw) == [("small", "context_length"), ("large", "success")]
    assert cooldowns(gw) == {}  # the client's prompt is not the member's fault


def test_context_length_error_without_a_larger_member_is_the_clients(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> None:
    fake_upstream.set("large", context_length())
    config = context_config(fake_upstream)
    config["routes"]["chat"]["pool"] = ["large", "small"]
    gw = inprocess_gateway(config)

    response = chat(gw)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "context_length_exceeded"
    assert response.headers["x-gateway-attempts"] == "1"
    assert fake_upstream.order() == ["large"]
    assert cooldowns(gw) == {}


def test_context_length_error_when_the_larger_member_is_down_is_a_503(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> None:
    fake_upstream.set("small", context_length())
    fake_upstream.set("large", error(503))
    gw = inprocess_gateway(context_config(fake_upstream))

    response = chat(gw)

    assert response.status_code == 503
    assert fake_upstream.order() == ["small", "large"]
    assert list(cooldowns(gw)) == ["fake/large"]


def test_pre_send_size_check_skips_members_too_small(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> None:
    fake_upstream.set("large", ok("from large"))
    config = context_config(fake_upstream)
    config["routes"]["chat"]["pool"] = ["small", "smaller", "large"]
    gw = inprocess_gateway(config)
    long_prompt = [{"role": "user", "content": "word " * 8000}]  # ~10k tokens by estimate

    response = chat(gw, messages=long_prompt)

    assert response.status_code == 200
    assert response.headers["x-gateway-model"] == "large"
    assert response.headers["x-gateway-attempts"] == "1"
    assert fake_upstream.order() == ["large"]
    assert gw.wait_for_records(1)[0].skipped == ["small:too_small", "smaller:too_small"]


def test_prompt_larger_than_every_window_is_a_400_without_upstream_calls(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> None:
    config = context_config(fake_upstream)
    config["routes"]["chat"]["pool"] = ["small", "smaller"]
    gw = inprocess_gateway(config)

    response = chat(gw, messages=[{"role": "user", "content": "word " * 8000}])

    assert response.status_code == 400
    error_body = response.json()["error"]
    assert error_body["code"] == "context_length_exceeded"
    assert error_body["param"] == "messages"
    assert response.headers["x-gateway-attempts"] == "0"
    assert fake_upstream.order() == []


# -- the cooldowns endpoint in a real ``gateway serve`` ----------------------------


def test_cooldowns_endpoint_needs_an_admin_key(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    fake_upstream.set("m1", rate_limited(retry_after=50))
    fake_upstream.set("m2", ok("from m2"))
    gw = gateway_factory(
        make_config(fake_upstream, ["m1", "m2"]),
        env={"GATEWAY_API_KEYS": "user-key", "GATEWAY_ADMIN_KEYS": "admin-key"},
    )
    response = httpx.post(
        gw.base_url + "/chat/completions",
        json={"model": "chat", "messages": MESSAGES},
        headers={"Authorization": "Bearer user-key"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["x-gateway-model"] == "m2"

    url = gw.base_url + "/gateway/cooldowns"
    for headers in ({}, {"Authorization": "Bearer user-key"}):
        denied = httpx.get(url, headers=headers, timeout=5)
        assert denied.status_code == 401
        assert denied.json()["error"]["type"] == "authentication_error"

    listed = httpx.get(url, headers={"Authorization": "Bearer admin-key"}, timeout=5)
    assert listed.status_code == 200
    [row] = listed.json()["data"]
    assert row["key"] == "fake/m1"
    assert row["remaining_s"] == pytest.approx(50, abs=1)
    assert row["until"] == pytest.approx(time.time() + 50, abs=2)
