"""Profiles from config, env, flag and header; pinned routes; options as the upstream sees them."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.conftest import GatewayFactory
from tests.support.fake_upstream import FakeUpstream


def profile_config(base_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "providers": {"fake": {"kind": "openai", "base_url": base_url, "timeout_s": 5}},
        "models": {m: {"provider": "fake"} for m in ("default-m", "premium-m", "byok-m")},
        "routes": {
            "chat": {
                "pool": ["default-m"],
                "profiles": {"premium": ["premium-m"], "byok": ["byok-m"]},
            },
            "summarize": {"pool": ["default-m"], "profiles": {"premium": ["premium-m"]}},
            "moderation": {"pinned": True, "pool": ["default-m"]},
        },
        "profile": "premium",
        **extra,
    }


def served(gw_base: str, route: str, profile: str | None = None) -> httpx.Response:
    headers = {"X-Gateway-Profile": profile} if profile else {}
    return httpx.post(
        gw_base + "/chat/completions",
        json={"model": route, "messages": [{"role": "user", "content": "hi"}]},
        headers=headers,
        timeout=10,
    )


def model_of(gw_base: str, route: str, profile: str | None = None) -> str:
    response = served(gw_base, route, profile)
    assert response.status_code == 200, response.text
    return response.headers["x-gateway-model"]


def test_config_profile_then_header_overrides_it(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    gw = gateway_factory(profile_config(fake_upstream.base_url))
    assert model_of(gw.base_url, "chat") == "premium-m"
    assert model_of(gw.base_url, "chat", "byok") == "byok-m"
    # summarize has no byok entry: its pool serves.
    assert model_of(gw.base_url, "summarize", "byok") == "default-m"
    assert model_of(gw.base_url, "summarize") == "premium-m"
    for profile in (None, "premium", "byok"):
        assert model_of(gw.base_url, "moderation", profile) == "default-m"
    assert [h.model for h in fake_upstream.hits()][:2] == ["premium-m", "byok-m"]


def test_env_overrides_config_and_flag_overrides_env(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    by_env = gateway_factory(
        profile_config(fake_upstream.base_url), env={"GATEWAY_PROFILE": "byok"}
    )
    assert model_of(by_env.base_url, "chat") == "byok-m"
    assert model_of(by_env.base_url, "chat", "premium") == "premium-m"
    assert model_of(by_env.base_url, "moderation") == "default-m"
    by_flag = gateway_factory(
        profile_config(fake_upstream.base_url),
        env={"GATEWAY_PROFILE": "byok"},
        extra_args=["--profile", "premium"],
    )
    assert model_of(by_flag.base_url, "chat") == "premium-m"


def test_no_active_profile_uses_the_pool(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    config = profile_config(fake_upstream.base_url)
    config["profile"] = None
    gw = gateway_factory(config)
    assert model_of(gw.base_url, "chat") == "default-m"
    assert model_of(gw.base_url, "chat", "byok") == "byok-m"


def test_unknown_profile_header_is_a_400_listing_the_known_ones(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    gw = gateway_factory(profile_config(fake_upstream.base_url))
    response = served(gw.base_url, "chat", "gold")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unknown_profile"
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "X-Gateway-Profile"
    assert "known: byok, premium" in error["message"]
    assert fake_upstream.hits() == []


def test_profile_header_can_be_switched_off(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    config = profile_config(fake_upstream.base_url, server={"allow_profile_header": False})
    gw = gateway_factory(config)
    assert model_of(gw.base_url, "chat", "byok") == "premium-m"
    assert model_of(gw.base_url, "chat", "gold") == "premium-m"  # ignored, not rejected


def test_unknown_profile_at_startup_fails_with_a_message(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    with pytest.raises(RuntimeError) as raised:
        gateway_factory(profile_config(fake_upstream.base_url), env={"GATEWAY_PROFILE": "gold"})
    assert "unknown profile 'gold' (known: byok, premium)" in str(raised.value)


def test_options_merge_force_and_extra_body_reach_the_upstream(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    config = {
        "providers": {
            "fake": {"kind": "openai", "base_url": fake_upstream.base_url, "timeout_s": 5}
        },
        "models": {
            "m": {
                "provider": "fake",
                "model": "m-upstream",
                "options": {
                    "temperature": 0.1,
                    "top_p": 0.5,
                    "max_tokens": 100,
                    "extra_body": {"provider": {"order": ["x"], "allow_fallbacks": False}},
                },
            }
        },
        "routes": {
            "extract": {
                "pool": ["m"],
                "options": {
                    "temperature": 0.3,
                    "seed": 7,
                    "response_format": {"type": "json_object"},
                    "extra_body": {"provider": {"allow_fallbacks": True, "sort": "price"}},
                },
                "force": ["response_format"],
            }
        },
    }
    gw = gateway_factory(config)
    sdk = openai.OpenAI(base_url=gw.base_url, api_key="k", max_retries=0)
    sdk.chat.completions.create(
        model="extract",
        messages=[{"role": "user", "content": "hi"}],
        temperature=0.9,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "x", "schema": {"type": "object"}},
        },
        extra_body={"provider": {"require_parameters": True}},
    )
    body = fake_upstream.hits("m-upstream")[0].body
    assert body["model"] == "m-upstream"
    assert body["temperature"] == 0.9  # client > route (0.3) > model (0.1)
    assert body["seed"] == 7  # route
    assert body["top_p"] == 0.5 and body["max_tokens"] == 100  # model defaults
    # Forced over the client, replaced whole: response_format is one choice, not a mix.
    assert body["response_format"] == {"type": "json_object"}
    assert body["provider"] == {
        "order": ["x"],
        "allow_fallbacks": True,
        "sort": "price",
        "require_parameters": True,
    }
    assert "extra_body" not in body
