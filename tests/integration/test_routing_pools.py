"""A mixed-provider pool: each member goes to its own backend with its own key."""

from __future__ import annotations

from typing import Any

import httpx
import openai

from tests.conftest import GatewayFactory
from tests.support.fake_upstream import FakeUpstream, error, ok


def mixed_config(primary: FakeUpstream, cheap: FakeUpstream) -> dict[str, Any]:
    def provider(base_url: str, key_env: str) -> dict[str, Any]:
        return {"kind": "openai", "base_url": base_url, "api_key_env": key_env, "timeout_s": 5}

    return {
        "providers": {
            "primary": provider(primary.base_url, "PRIMARY_KEY"),
            "cheap": provider(cheap.base_url, "CHEAP_KEY"),
        },
        "models": {
            "big": {"provider": "primary", "model": "big-upstream"},
            "small": {"provider": "cheap", "model": "small-upstream"},
        },
        "routes": {
            "chat": {"pool": ["big", "small"]},
            "cheap-first": {"pool": ["small", "big"]},
        },
        "resilience": {"cooldown_s": 30, "max_cooldown_s": 300},
    }


KEYS = {"PRIMARY_KEY": "sk-primary", "CHEAP_KEY": "sk-cheap"}


def test_fallback_member_goes_to_its_own_backend_with_its_own_key(
    fake_upstream: FakeUpstream, second_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    fake_upstream.set("big-upstream", error(503, "primary is down"))
    second_upstream.set("small-upstream", ok("from the cheap backend"))
    gw = gateway_factory(mixed_config(fake_upstream, second_upstream), env=KEYS)
    sdk = openai.OpenAI(base_url=gw.base_url, api_key="client-secret", max_retries=0)

    raw = sdk.chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": "hi"}]
    )

    assert raw.parse().choices[0].message.content == "from the cheap backend"
    assert raw.headers["x-gateway-provider"] == "cheap"
    assert raw.headers["x-gateway-model"] == "small"
    assert raw.headers["x-gateway-attempts"] == "2"
    primary_hits = fake_upstream.hits()
    cheap_hits = second_upstream.hits()
    assert [h.model for h in primary_hits] == ["big-upstream"]
    assert [h.model for h in cheap_hits] == ["small-upstream"]
    assert primary_hits[0].headers["Authorization"] == "Bearer sk-primary"
    assert cheap_hits[0].headers["Authorization"] == "Bearer sk-cheap"
    # The client's own key never travels upstream.
    assert all("client-secret" not in str(h.headers) for h in primary_hits + cheap_hits)


def test_cheap_member_first_never_touches_the_primary(
    fake_upstream: FakeUpstream, second_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    gw = gateway_factory(mixed_config(fake_upstream, second_upstream), env=KEYS)
    for _ in range(3):
        response = httpx.post(
            gw.base_url + "/chat/completions",
            json={"model": "cheap-first", "messages": [{"role": "user", "content": "hi"}]},
            timeout=10,
        )
        assert response.status_code == 200
        assert response.headers["x-gateway-provider"] == "cheap"
    assert fake_upstream.hits() == []
    assert [h.headers["Authorization"] for h in second_upstream.hits()] == ["Bearer sk-cheap"] * 3


def test_route_header_and_alias_and_direct_names_select_the_pool(
    fake_upstream: FakeUpstream, second_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    gw = gateway_factory(mixed_config(fake_upstream, second_upstream), env=KEYS)
    url = gw.base_url + "/chat/completions"
    messages = [{"role": "user", "content": "hi"}]

    def ask(model: str, **headers: str) -> httpx.Response:
        return httpx.post(url, json={"model": model, "messages": messages}, headers=headers)

    by_header = ask("anything", **{"X-Gateway-Route": "cheap-first"})
    assert by_header.headers["x-gateway-route"] == "cheap-first"
    assert by_header.headers["x-gateway-model"] == "small"
    alias = ask("big")
    assert (alias.headers["x-gateway-provider"], alias.headers["x-gateway-model"]) == (
        "primary",
        "big",
    )
    direct = ask("cheap/vendor/model-x")
    assert direct.status_code == 200
    assert second_upstream.hits()[-1].model == "vendor/model-x"
    missing = ask("nowhere/model")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"


def test_empty_route_header_falls_back_to_model(
    fake_upstream: FakeUpstream, second_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    # An empty X-Gateway-Route (e.g. a default_headers value that was never filled in)
    # names no route: `model` decides, and without one the body is the client's error.
    gw = gateway_factory(mixed_config(fake_upstream, second_upstream), env=KEYS)
    url = gw.base_url + "/chat/completions"
    messages = [{"role": "user", "content": "hi"}]

    with_model = httpx.post(
        url, json={"model": "cheap-first", "messages": messages}, headers={"X-Gateway-Route": ""}
    )
    assert with_model.status_code == 200
    assert with_model.headers["x-gateway-route"] == "cheap-first"

    without_model = httpx.post(url, json={"messages": messages}, headers={"X-Gateway-Route": ""})
    assert without_model.status_code == 400
    assert without_model.json()["error"]["param"] == "model"
