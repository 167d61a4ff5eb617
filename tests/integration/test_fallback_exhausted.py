"""When every member fails or is parked; member retries; large pools (spec §5)."""

from __future__ import annotations

import math
import time

import openai
import pytest

from tests.integration.test_fallback import chat, cooldowns, make_config, outcomes
from tests.support.fake_upstream import FakeUpstream, error, ok, rate_limited
from tests.support.inprocess import (
    InProcessFactory,
    inprocess_gateway,  # noqa: F401  (fixture)
)


def test_every_member_failing_is_a_503_listing_each_attempt(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> None:
    fake_upstream.set("m1", error(503, headers={"Retry-After": "20"}))
    fake_upstream.set("m2", rate_limited(retry_after=45))
    fake_upstream.set("m3", error(500))
    gw = inprocess_gateway(make_config(fake_upstream, ["m1", "m2", "m3"]))

    response = chat(gw)

    assert response.status_code == 503
    body = response.json()["error"]
    assert body["type"] == "service_unavailable"
    assert body["code"] == "no_member_available"
    assert body["message"] == (
        "no member of 'chat' could answer: m1 → upstream_5xx (503); "
        "m2 → rate_limited (429); m3 → upstream_5xx (500)"
    )
    # Retry-After is the soonest un-parking: m1's 20 s.
    assert int(response.headers["retry-after"]) in (19, 20)
    assert "x-should-retry" not in response.headers
    assert response.headers["x-gateway-attempts"] == "3"
    assert fake_upstream.order() == ["m1", "m2", "m3"]
    parked = cooldowns(gw)
    assert parked == {
        "fake/m1": pytest.approx(20, abs=1),
        "fake/m2": pytest.approx(45, abs=1),
        "fake/m3": pytest.approx(30, abs=1),
    }

    # Everything is parked now: the next request calls no upstream at all.
    again = chat(gw)
    assert again.status_code == 503
    assert fake_upstream.order() == ["m1", "m2", "m3"]
    assert again.headers["x-gateway-attempts"] == "0"
    assert int(again.headers["retry-after"]) in (19, 20)
    assert again.json()["error"]["message"] == (
        "no member of 'chat' could answer: m1 → parked; m2 → parked; m3 → parked"
    )


def test_every_member_rate_limited_is_a_429(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> None:
    fake_upstream.set("m1", rate_limited(retry_after=8))
    fake_upstream.set("m2", rate_limited(retry_after_ms=5000))
    gw = inprocess_gateway(make_config(fake_upstream, ["m1", "m2"]))

    response = chat(gw)

    assert response.status_code == 429
    body = response.json()["error"]
    assert body["type"] == "rate_limit_error"
    assert body["code"] == "rate_limit_exceeded"
    assert "m1 → rate_limited (429); m2 → rate_limited (429)" in body["message"]
    assert int(response.headers["retry-after"]) in (4, 5)
    assert fake_upstream.order() == ["m1", "m2"]

    # Both are now parked by rate limits: still a 429, answered without an upstream call.
    again = chat(gw)
    assert again.status_code == 429
    assert again.headers["x-gateway-attempts"] == "0"
    assert again.json()["error"]["code"] == "rate_limit_exceeded"
    assert int(again.headers["retry-after"]) in (4, 5)
    assert fake_upstream.order() == ["m1", "m2"]


def test_far_un_parking_says_do_not_retry(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> None:
    fake_upstream.set("m1", rate_limited(retry_after=120))
    fake_upstream.set("m2", error(401, "invalid api key"))
    gw = inprocess_gateway(make_config(fake_upstream, ["m1", "m2"]))

    response = chat(gw)

    assert response.status_code == 503  # not all rate limits
    assert int(response.headers["retry-after"]) in (119, 120)
    assert response.headers["x-should-retry"] == "false"
    parked = cooldowns(gw)
    assert parked["fake/m1"] == pytest.approx(120, abs=1)
    assert parked["fake/m2"] == pytest.approx(300, abs=1)  # bad credentials: max_cooldown_s


def test_member_retries_retry_the_same_member_with_backoff(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> None:
    fake_upstream.set("m1", error(503), error(502), ok("from m1"))
    fake_upstream.set("m2", ok("from m2"))
    gw = inprocess_gateway(
        make_config(fake_upstream, ["m1", "m2"], {"member_retries": 2, "retry_backoff_s": 0.05})
    )

    response = chat(gw)

    assert response.status_code == 200
    assert response.headers["x-gateway-model"] == "m1"
    assert response.headers["x-gateway-attempts"] == "3"
    assert fake_upstream.order() == ["m1", "m1", "m1"]
    assert outcomes(gw) == [("m1", "upstream_5xx"), ("m1", "upstream_5xx"), ("m1", "success")]
    assert cooldowns(gw) == {}  # it answered in the end


def test_member_retries_exhausted_move_on_and_park(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> None:
    fake_upstream.set("m1", error(500))
    fake_upstream.set("m2", ok("from m2"))
    gw = inprocess_gateway(
        make_config(fake_upstream, ["m1", "m2"], {"member_retries": 1, "retry_backoff_s": 0.01})
    )

    response = chat(gw)

    assert response.headers["x-gateway-model"] == "m2"
    assert response.headers["x-gateway-attempts"] == "3"
    assert fake_upstream.order() == ["m1", "m1", "m2"]
    assert list(cooldowns(gw)) == ["fake/m1"]


def test_member_retry_honours_a_short_retry_after(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> None:
    fake_upstream.set("m1", rate_limited(retry_after_ms=400), ok("from m1"))
    gw = inprocess_gateway(
        make_config(fake_upstream, ["m1", "m2"], {"member_retries": 1, "retry_backoff_s": 0})
    )

    started = time.monotonic()
    response = chat(gw)
    elapsed = time.monotonic() - started

    assert response.headers["x-gateway-model"] == "m1"
    assert fake_upstream.order() == ["m1", "m1"]
    assert elapsed >= 0.4


def test_member_retry_does_not_wait_for_a_long_retry_after(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> None:
    fake_upstream.set("m1", rate_limited(retry_after=30))
    fake_upstream.set("m2", ok("from m2"))
    gw = inprocess_gateway(
        make_config(fake_upstream, ["m1", "m2"], {"member_retries": 3, "max_retry_wait_s": 2})
    )

    started = time.monotonic()
    response = chat(gw)
    elapsed = time.monotonic() - started

    assert response.headers["x-gateway-model"] == "m2"
    assert fake_upstream.order() == ["m1", "m2"]  # no retry on m1
    assert elapsed < 2
    assert cooldowns(gw)["fake/m1"] == pytest.approx(30, abs=1)


def test_bad_credentials_are_not_retried_on_the_same_member(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> None:
    fake_upstream.set("m1", error(401, "invalid api key"))
    fake_upstream.set("m2", ok("from m2"))
    gw = inprocess_gateway(
        make_config(fake_upstream, ["m1", "m2"], {"member_retries": 2, "retry_backoff_s": 0})
    )

    assert chat(gw).headers["x-gateway-model"] == "m2"
    assert fake_upstream.order() == ["m1", "m2"]
    assert cooldowns(gw)["fake/m1"] == pytest.approx(300, abs=1)


@pytest.mark.parametrize("max_attempts", [4, 50])
def test_fifty_member_pool_all_failing_is_bounded_by_max_attempts(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
    max_attempts: int,
) -> None:
    members = [f"m{i:02d}" for i in range(50)]
    for member in members:
        fake_upstream.set(member, error(503))
    gw = inprocess_gateway(make_config(fake_upstream, members, {"max_attempts": max_attempts}))

    response = chat(gw)

    assert response.status_code == 503
    assert response.headers["x-gateway-attempts"] == str(max_attempts)
    assert fake_upstream.order() == members[:max_attempts]
    assert sorted(cooldowns(gw)) == [f"fake/{m}" for m in members[:max_attempts]]
    message = response.json()["error"]["message"]
    assert message.count("→ upstream_5xx (503)") == max_attempts
    # Members left untried because of the cap are said to be so.
    assert message.endswith("stopped after max_attempts=4") == (max_attempts == 4)
    assert math.isclose(int(response.headers["retry-after"]), 30, abs_tol=1)


def test_openai_sdk_does_not_retry_when_told_not_to(
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> None:
    fake_upstream.set("m1", rate_limited(retry_after=600))
    fake_upstream.set("m2", rate_limited(retry_after=900))
    gw = inprocess_gateway(make_config(fake_upstream, ["m1", "m2"]))
    client = openai.OpenAI(base_url=gw.base_url, api_key="client", max_retries=3, timeout=10)

    started = time.monotonic()
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "x"}])
    assert time.monotonic() - started < 3  # no SDK backoff-and-retry loop
    assert caught.value.status_code == 429
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert int(caught.value.response.headers["retry-after"]) in (299, 300)  # capped parks
    assert fake_upstream.order() == ["m1", "m2"]
    # One request of ours after the SDK's: had the SDK retried, its retries (answered
    # from the parked state, without upstream calls) would sit in between.
    # Everything parked, by rate limits: answered locally, still as a 429.
    assert chat(gw).status_code == 429
    records = gw.wait_for_records(2)
    assert [len(r.attempts) for r in records] == [2, 0]
