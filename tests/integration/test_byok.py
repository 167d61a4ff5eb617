"""Bring your own key, over real sockets: the user's key reaches only its provider,
``required`` skips members, failures under a user's key are that user's, the key is in
no log line, metric or error body, and usage is counted apart."""

from __future__ import annotations

import time
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import GatewayFactory
from tests.integration.test_fallback import cooldowns, outcomes
from tests.integration.test_logs import request_lines
from tests.support.fake_gemini import (
    FakeGemini,
)
from tests.support.fake_upstream import FakeUpstream, error, ok, rate_limited
from tests.support.inprocess import (
    InProcessFactory,
    InProcessGateway,
    inprocess_gateway,  # noqa: F401  (fixture)
)

USER_KEY = "sk-user-own-5a1c9e77"
GEMINI_USER_KEY = "AIza-user-own-3b8d"
GATEWAY_KEYS = {
    "OPENAI_GATEWAY_KEY": "sk-gateway-openai",
    "BACKUP_GATEWAY_KEY": "sk-gateway-backup",
}
HI = [{"role": "user", "content": "hi"}]


def byok_config(fake: FakeUpstream, gemini: FakeGemini) -> dict[str, Any]:
    return {
        "server": {"api_keys_env": None},
        "providers": {
            "OpenAI": {
                "kind": "openai",
                "base_url": fake.base_url,
                "api_key_env": "OPENAI_GATEWAY_KEY",
                "byok": "allowed",
                "timeout_s": 5,
            },
            "backup": {
                "kind": "openai",
                "base_url": fake.base_url,
                "api_key_env": "BACKUP_GATEWAY_KEY",
                "byok": False,  # how YAML reads an unquoted `off`
                "timeout_s": 5,
            },
            "google": {
                "kind": "gemini",
                "base_url": gemini.base_url,
                "byok": "required",
                "timeout_s": 5,
            },
        },
        "models": {
            "mine": {"provider": "OpenAI", "model": "gpt-mine", "price": {"input": 1, "output": 2}},
            "theirs": {"provider": "backup", "model": "gpt-theirs"},
            "gem": {"provider": "google", "model": "gemini-flash"},
        },
        "routes": {
            "chat": {"pool": ["mine", "theirs"], "profiles": {"byok": ["mine"]}},
            "gemini-only": {"pool": ["gem"]},
            "gemini-first": {"pool": ["gem", "theirs"]},
            "gemini-cached": {
                "pool": ["gem"],
                "cache": {"ttl_s": 60, "deterministic_only": False},
            },
        },
        "resilience": {"cooldown_s": 30, "max_cooldown_s": 300},
    }


@pytest.fixture
def gw(
    fake_upstream: FakeUpstream,
    fake_gemini: FakeGemini,
    inprocess_gateway: InProcessFactory,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> InProcessGateway:
    for name, value in GATEWAY_KEYS.items():
        monkeypatch.setenv(name, value)
    fake_gemini.keys = {GEMINI_USER_KEY}  # the user's account, not the gateway's
    return inprocess_gateway(byok_config(fake_upstream, fake_gemini))


def post(
    gw: InProcessGateway | Any, model: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.post(
        gw.base_url + "/chat/completions",
        json={"model": model, "messages": HI},
        headers=headers or {},
        timeout=10,
    )


def auth(fake: FakeUpstream, model: str) -> list[str]:
    return [hit.headers.get("Authorization", "") for hit in fake.hits(model)]


def test_the_user_key_reaches_only_its_provider_and_a_5xx_still_parks(
    fake_upstream: FakeUpstream, gw: InProcessGateway
) -> None:
    fake_upstream.set("gpt-mine", error(503, "overloaded"))
    fake_upstream.set("gpt-theirs", ok("from backup"))

    # The provider's name is matched without case; a key for an unknown one is ignored.
    response = post(gw, "chat", {"X-Gateway-Key-openai": USER_KEY, "X-Gateway-Key-nobody": "x"})

    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "from backup"
    assert auth(fake_upstream, "gpt-mine") == [f"Bearer {USER_KEY}"]
    assert auth(fake_upstream, "gpt-theirs") == ["Bearer sk-gateway-backup"]
    backup_hit = fake_upstream.hits("gpt-theirs")[0]
    assert USER_KEY not in str(backup_hit.headers) and USER_KEY not in str(backup_hit.body)
    # A 5xx is the provider's: the shared member is parked for everyone.
    assert "OpenAI/gpt-mine" in cooldowns(gw)


def test_without_a_user_key_the_gateway_key_is_used(
    fake_upstream: FakeUpstream, gw: InProcessGateway
) -> None:
    response = post(gw, "chat")
    assert response.status_code == 200
    assert auth(fake_upstream, "gpt-mine") == ["Bearer sk-gateway-openai"]
    assert gw.wait_for_records(1)[0].byok is False


def test_the_byok_profile_works_as_any_profile(
    fake_upstream: FakeUpstream, gw: InProcessGateway
) -> None:
    fake_upstream.set("gpt-mine", error(500, "down"))
    response = post(gw, "chat", {"X-Gateway-Profile": "byok", "X-Gateway-Key-OpenAI": USER_KEY})
    assert response.status_code == 503  # the byok pool has only `mine`: no backup
    assert fake_upstream.hits("gpt-theirs") == []


def test_required_skips_keyless_members_and_answers_401_when_none_is_left(
    fake_upstream: FakeUpstream, fake_gemini: FakeGemini, gw: InProcessGateway
) -> None:
    response = post(gw, "gemini-only")
    assert response.status_code == 401
    error_body = response.json()["error"]
    assert error_body["code"] == "byok_key_required"
    assert "X-Gateway-Key-google" in error_body["message"]
    assert fake_gemini.hits() == []

    fallback = post(gw, "gemini-first")
    assert fallback.status_code == 200
    assert fallback.headers["x-gateway-provider"] == "backup"
    assert gw.wait_for_records(2)[1].skipped == ["gem:no_byok_key"]

    served = post(gw, "gemini-first", {"x-gateway-key-GOOGLE": GEMINI_USER_KEY})
    assert served.status_code == 200
    assert served.headers["x-gateway-provider"] == "google"
    assert fake_gemini.hits()[0].headers["x-goog-api-key"] == GEMINI_USER_KEY


def test_a_stored_answer_is_no_way_around_a_required_key(
    fake_gemini: FakeGemini, gw: InProcessGateway
) -> None:
    served = post(gw, "gemini-cached", {"X-Gateway-Key-google": GEMINI_USER_KEY})
    assert served.status_code == 200
    again = post(gw, "gemini-cached", {"X-Gateway-Key-google": GEMINI_USER_KEY})
    assert again.headers["x-gateway-cache"] == "hit"

    keyless = post(gw, "gemini-cached")
    assert keyless.status_code == 401
    assert keyless.json()["error"]["code"] == "byok_key_required"
    assert len(fake_gemini.hits()) == 1


@pytest.mark.parametrize(
    "failure",
    [
        error(401, f"Incorrect API key provided: {USER_KEY}", code="invalid_api_key"),
        rate_limited(retry_after=20),
    ],
)
def test_a_401_or_429_under_a_user_key_is_theirs_and_parks_nothing(
    fake_upstream: FakeUpstream, gw: InProcessGateway, failure: Any
) -> None:
    fake_upstream.set("gpt-mine", failure, ok("shared member still up"))

    response = post(gw, "chat", {"X-Gateway-Key-OpenAI": USER_KEY})

    assert response.status_code == failure.status
    assert USER_KEY not in response.text  # an upstream echoing the key is scrubbed
    assert fake_upstream.hits("gpt-theirs") == []  # returned to the client, no fallback
    assert cooldowns(gw) == {}
    assert gw.wait_for_records(1)[0].byok is True
    # The next request, with the gateway's key, is served by the same member.
    again = post(gw, "chat")
    assert again.status_code == 200
    assert again.json()["choices"][0]["message"]["content"] == "shared member still up"


def test_a_bad_user_key_for_gemini_is_a_401_that_parks_nothing(
    fake_gemini: FakeGemini, gw: InProcessGateway
) -> None:
    response = post(gw, "gemini-first", {"X-Gateway-Key-google": "AIza-wrong"})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    assert outcomes(gw) == [("gem", "bad_credentials")]
    assert cooldowns(gw) == {}


def test_the_key_is_in_no_log_metric_or_error_and_usage_counts_byok(
    fake_upstream: FakeUpstream, fake_gemini: FakeGemini, gateway_factory: GatewayFactory
) -> None:
    gw = gateway_factory(
        byok_config(fake_upstream, fake_gemini),
        env={**GATEWAY_KEYS, "GATEWAY_LOG_LEVEL": "debug"},
    )
    fake_upstream.set("gpt-mine", ok("one"), error(401, f"bad key {USER_KEY}"), ok("three"))
    sdk = openai.OpenAI(
        base_url=gw.base_url,
        api_key="client",
        max_retries=0,
        default_headers={"X-Gateway-Key-OpenAI": USER_KEY},
    )
    sdk.chat.completions.create(model="chat", messages=HI)  # type: ignore[arg-type]
    with pytest.raises(openai.AuthenticationError) as caught:
        sdk.chat.completions.create(model="chat", messages=HI)  # type: ignore[arg-type]
    assert USER_KEY not in str(caught.value.body) and "[redacted]" in str(caught.value.body)
    post(gw, "chat")  # the gateway's own key

    lines = request_lines(gw, 3)
    assert USER_KEY not in gw.logs()
    assert [ln.get("byok", False) for ln in lines] == [True, True, False]
    metrics = httpx.get(gw.url + "/metrics", timeout=5).text
    assert "gateway_requests_total" in metrics and USER_KEY not in metrics

    deadline = time.monotonic() + 10
    while True:
        usage = httpx.get(
            gw.base_url + "/gateway/usage", params={"group_by": "byok"}, timeout=5
        ).json()
        rows = {row["byok"]: row for row in usage["data"]}
        if sum(row["requests"] for row in rows.values()) >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert USER_KEY not in str(usage)
    assert rows["true"]["requests"] == 2 and rows["true"]["errors"] == 1
    assert rows["false"]["requests"] == 1
    # The fake's usage is 11 in / 7 out (3 cached) per answer at $1 / $2 per 1M.
    assert rows["true"]["cost_micro_usd"] == rows["false"]["cost_micro_usd"] == 11 + 14
