"""Every row of the enforcement table (issue 16): status, code, the rate-limit headers,
and that no upstream was called. Memory backend, one in-process gateway."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from tests.support.configs import upstream_config
from tests.support.fake_upstream import FakeUpstream, ok, slow_first_byte
from tests.support.inprocess import InProcessFactory, inprocess_gateway  # noqa: F401

MESSAGES = [{"role": "user", "content": "hi"}]
RATE_HEADERS = (
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
)


def governed_config(upstream: FakeUpstream) -> dict[str, Any]:
    config = upstream_config(upstream.base_url, ["m1", "m2"])
    # 1,000 USD per 1M tokens: the fake's 11 + 7 tokens cost 18,000 micro-USD.
    config["models"]["m1"]["price"] = {"input": 1000, "output": 1000}
    config["routes"]["chat"]["profiles"] = {"premium": ["m1"], "byok": ["m2"]}
    config["routes"]["other"] = {"pool": ["m2"]}
    config["server"] = {"api_keys": ["sk-flat"], "api_keys_env": None}
    config["teams"] = {"research": {"rpm": 3, "budget": {"monthly_usd": 100}}}
    config["keys"] = {
        "scoped": {"secret": "sk-scoped", "routes": ["ch*"], "profiles": ["premium"]},
        "rpm": {"secret": "sk-rpm", "rpm": 2, "tpm": 1_000_000},
        "tpm": {"secret": "sk-tpm", "rpm": 100, "tpm": 1000},
        "parallel": {"secret": "sk-parallel", "max_parallel": 1, "rpm": 100, "tpm": 100_000},
        "budget": {
            "secret": "sk-budget",
            "rpm": 100,
            "tpm": 100_000,
            "budget": {"daily_usd": 0.01},
        },
        "expired": {"secret": "sk-expired", "expires_at": "2020-01-01T00:00:00Z"},
        "r1": {"secret": "sk-r1", "team": "research"},
        "r2": {"secret": "sk-r2", "team": "research"},
        "f1": {"secret": "sk-f1", "team": "frugal"},
        "f2": {"secret": "sk-f2", "team": "frugal"},
    }
    config["teams"]["frugal"] = {"budget": {"daily_usd": 0.03}}
    return config


@pytest.fixture(autouse=True)
def whole_minute() -> None:
    """rpm and tpm count in minute windows aligned to the clock: a test that fills one
    starts with enough of it left, so its requests never straddle a reset."""
    while 60 - time.time() % 60 < 15:
        time.sleep(0.2)


@pytest.fixture
def gateway(fake_upstream: FakeUpstream, inprocess_gateway: InProcessFactory) -> Any:  # noqa: F811
    return inprocess_gateway(governed_config(fake_upstream))


def post(
    gw: Any, key: str | None, body: dict[str, Any] | None = None, **headers: str
) -> httpx.Response:
    sent = {"Authorization": f"Bearer {key}"} if key else {}
    sent.update(headers)
    return httpx.post(
        gw.base_url + "/chat/completions",
        json=body or {"model": "chat", "messages": MESSAGES},
        headers=sent,
        timeout=10,
    )


def assert_error(reply: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    error: dict[str, Any] = reply.json()["error"]
    assert error["code"] == code
    assert set(error) == {"message", "type", "param", "code"}
    return error


@pytest.mark.parametrize("key", [None, "sk-wrong", "sk-expired"])
def test_unknown_missing_or_expired_key_is_401(
    gateway: Any, fake_upstream: FakeUpstream, key: str | None
) -> None:
    reply = post(gateway, key)
    error = assert_error(reply, 401, "invalid_api_key")
    assert error["type"] == "authentication_error"
    assert "sk-" not in error["message"]
    assert fake_upstream.hits() == []


def test_flat_api_keys_still_work_without_limits(gateway: Any) -> None:
    for _ in range(5):
        reply = post(gateway, "sk-flat")
        assert reply.status_code == 200
        assert "x-ratelimit-limit-requests" not in reply.headers


def test_route_not_allowed_is_403(gateway: Any, fake_upstream: FakeUpstream) -> None:
    reply = post(gateway, "sk-scoped", {"model": "other", "messages": MESSAGES})
    error = assert_error(reply, 403, "permission_denied")
    assert error["type"] == "permission_error" and error["param"] == "model"
    assert fake_upstream.hits() == []
    # The glob `ch*` allows `chat`, with the allowed profile.
    assert post(gateway, "sk-scoped", **{"X-Gateway-Profile": "premium"}).status_code == 200


def test_profile_not_allowed_is_403(gateway: Any, fake_upstream: FakeUpstream) -> None:
    reply = post(gateway, "sk-scoped", **{"X-Gateway-Profile": "byok"})
    error = assert_error(reply, 403, "permission_denied")
    assert error["param"] == "X-Gateway-Profile"
    assert fake_upstream.hits() == []


def assert_rate_headers(reply: httpx.Response) -> None:
    for name in RATE_HEADERS:
        assert name in reply.headers, name
    assert 1 <= int(reply.headers["retry-after"]) <= 60


def test_over_rpm_is_429_with_openai_headers(gateway: Any, fake_upstream: FakeUpstream) -> None:
    first = post(gateway, "sk-rpm")
    assert first.status_code == 200
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    assert first.headers["x-ratelimit-limit-tokens"] == "1000000"
    assert first.headers["x-ratelimit-reset-requests"].endswith("s")
    assert post(gateway, "sk-rpm").status_code == 200
    hits = len(fake_upstream.hits())
    reply = post(gateway, "sk-rpm")
    error = assert_error(reply, 429, "rate_limit_exceeded")
    assert error["type"] == "rate_limit_error"
    assert_rate_headers(reply)
    assert reply.headers["x-ratelimit-remaining-requests"] == "0"
    assert len(fake_upstream.hits()) == hits


def test_over_tpm_is_429(gateway: Any, fake_upstream: FakeUpstream) -> None:
    big = {"model": "chat", "messages": MESSAGES, "max_tokens": 2000}
    reply = post(gateway, "sk-tpm", big)
    assert_error(reply, 429, "rate_limit_exceeded")
    assert_rate_headers(reply)
    assert reply.headers["x-ratelimit-limit-tokens"] == "1000"
    assert fake_upstream.hits() == []
    # A small request fits; its estimate is then corrected to the real 18 tokens.
    small = {"model": "chat", "messages": MESSAGES, "max_tokens": 100}
    assert post(gateway, "sk-tpm", small).status_code == 200
    gateway.wait_for_records(2)
    later = post(gateway, "sk-tpm", small)
    assert later.status_code == 200
    remaining = int(later.headers["x-ratelimit-remaining-tokens"])
    assert 1000 - 18 - 200 <= remaining < 1000 - 18 - 100


def test_over_max_parallel_is_429(gateway: Any, fake_upstream: FakeUpstream) -> None:
    fake_upstream.set("m1", slow_first_byte(1.5), ok())
    held: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: held.append(post(gateway, "sk-parallel")))
    thread.start()
    deadline = time.monotonic() + 5
    while not fake_upstream.hits() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(fake_upstream.hits()) == 1
    reply = post(gateway, "sk-parallel")
    assert_error(reply, 429, "rate_limit_exceeded")
    assert_rate_headers(reply)
    assert "parallel" in reply.json()["error"]["message"]
    assert len(fake_upstream.hits()) == 1
    thread.join(10)
    assert held[0].status_code == 200
    gateway.wait_for_records(2)
    # The slot is free again.
    assert post(gateway, "sk-parallel").status_code == 200


def test_budget_spent_is_429_insufficient_quota(gateway: Any, fake_upstream: FakeUpstream) -> None:
    assert post(gateway, "sk-budget").status_code == 200  # 0.018 USD of a 0.01 budget
    gateway.wait_for_records(1)
    hits = len(fake_upstream.hits())
    reply = post(gateway, "sk-budget")
    error = assert_error(reply, 429, "insufficient_quota")
    assert error["type"] == "insufficient_quota"
    assert "daily budget" in error["message"]
    for name in RATE_HEADERS:
        assert name in reply.headers, name
    # Retry-After points at the next UTC midnight.
    wait = int(reply.headers["retry-after"])
    assert 0 < wait <= 86_400
    assert abs(wait - (86_400 - time.time() % 86_400)) < 5
    assert len(fake_upstream.hits()) == hits


def test_team_limit_applies_to_the_sum_of_its_keys(
    gateway: Any, fake_upstream: FakeUpstream
) -> None:
    for key in ("sk-r1", "sk-r2", "sk-r1"):
        assert post(gateway, key).status_code == 200
    hits = len(fake_upstream.hits())
    reply = post(gateway, "sk-r2")
    error = assert_error(reply, 429, "rate_limit_exceeded")
    assert "team" in error["message"]
    assert len(fake_upstream.hits()) == hits


def test_usage_by_key_and_team(gateway: Any) -> None:
    for key in ("sk-r1", "sk-r2", "sk-budget"):
        assert post(gateway, key).status_code == 200
    gateway.wait_for_records(3)
    reply = httpx.get(
        gateway.url + "/v1/gateway/usage",
        params={"window": "month", "group_by": "team,key"},
        headers={"Authorization": "Bearer sk-flat"},
    )
    assert reply.status_code == 200, reply.text
    rows = {(r["team"], r["key"]): r for r in reply.json()["data"]}
    assert set(rows) == {("research", "r1"), ("research", "r2"), ("", "budget")}
    assert rows[("", "budget")]["cost_micro_usd"] == 18_000
    assert rows[("research", "r1")]["requests"] == 1
    # Spend per team against budget, as the Grafana panel reads it.
    metrics = httpx.get(gateway.url + "/metrics").text
    assert 'gateway_team_budget_usd{team="research",window="month"} 100.0' in metrics
    assert 'gateway_team_spend_usd{team="research",window="month"} 0.036' in metrics


def test_team_budget_is_shared_by_its_keys(gateway: Any, fake_upstream: FakeUpstream) -> None:
    for key in ("sk-f1", "sk-f2"):  # 0.036 USD of the team's 0.03
        assert post(gateway, key).status_code == 200
    gateway.wait_for_records(2)
    hits = len(fake_upstream.hits())
    for key in ("sk-f1", "sk-f2"):
        error = assert_error(post(gateway, key), 429, "insufficient_quota")
        assert "team's daily budget of $0.03" in error["message"]
    assert len(fake_upstream.hits()) == hits


def test_streamed_answers_carry_the_rate_limit_headers(gateway: Any) -> None:
    body = {"model": "chat", "messages": MESSAGES, "stream": True, "max_tokens": 50}
    with httpx.stream(
        "POST",
        gateway.base_url + "/chat/completions",
        json=body,
        headers={"Authorization": "Bearer sk-tpm"},
    ) as reply:
        assert reply.status_code == 200
        assert reply.headers["x-ratelimit-limit-tokens"] == "1000"
        assert reply.headers["x-ratelimit-limit-requests"] == "100"
        assert "data: [DONE]" in reply.read().decode()
    [record] = gateway.wait_for_records(1)
    # The stream's real usage replaced the estimate: 18 of the 1,000 tokens are used.
    assert record.usage is not None
    later = post(gateway, "sk-tpm", {"model": "chat", "messages": MESSAGES, "max_tokens": 1})
    assert int(later.headers["x-ratelimit-remaining-tokens"]) >= 1000 - 18 - 60
