"""What goes upstream: the provider's key and configured headers, never the client's
credentials."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.conftest import GatewayFactory
from tests.support.configs import upstream_config
from tests.support.fake_upstream import FakeUpstream, ok

CLIENT_SECRETS = ("sk-client-inbound", "sk-client-x-api-key", "sk-client-api-key")
BODY = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}


def config(base_url: str, **provider: Any) -> dict[str, Any]:
    cfg = upstream_config(base_url, ["m1"])
    cfg["providers"]["fake"]["headers"] = {"OpenAI-Organization": "org-42", "X-Team": "search"}
    cfg["providers"]["fake"].update(provider)
    return cfg


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def assert_no_client_secret(headers: dict[str, str]) -> None:
    for name, value in headers.items():
        for secret in CLIENT_SECRETS:
            assert secret not in value, f"{name} carries a client credential"
    assert "x-api-key" not in headers
    assert "api-key" not in headers


@pytest.mark.parametrize("stream", [False, True])
def test_client_credentials_never_go_upstream(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory, stream: bool
) -> None:
    fake_upstream.set("m1", ok("fine"))
    gw = gateway_factory(
        config(fake_upstream.base_url), env={"FAKE_UPSTREAM_KEY": "sk-upstream-secret"}
    )
    response = httpx.post(
        gw.base_url + "/chat/completions",
        json={**BODY, "stream": stream},
        headers={
            "Authorization": "Bearer sk-client-inbound",
            "x-api-key": "sk-client-x-api-key",
            "api-key": "sk-client-api-key",
            "Cookie": "session=sk-client-inbound",
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert b"fine" in response.content
    (hit,) = fake_upstream.hits("m1")
    headers = lower(hit.headers)
    assert headers["authorization"] == "Bearer sk-upstream-secret"
    assert headers["openai-organization"] == "org-42"
    assert headers["x-team"] == "search"
    assert "cookie" not in headers
    assert_no_client_secret(headers)
    # The request id travels upstream, so both sides' logs can be joined.
    assert headers["x-request-id"] == response.headers["x-request-id"]


def test_inbound_key_of_an_authenticated_gateway_stays_inbound(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    fake_upstream.set("m1", ok("fine"))
    gw = gateway_factory(
        config(fake_upstream.base_url),
        env={"FAKE_UPSTREAM_KEY": "sk-upstream-secret", "GATEWAY_API_KEYS": "sk-client-inbound"},
    )
    sdk = openai.OpenAI(base_url=gw.base_url, api_key="sk-client-inbound", max_retries=0)
    completion = sdk.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "hi"}]
    )
    assert completion.choices[0].message.content == "fine"
    chunks = list(
        sdk.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "fine"
    hits = fake_upstream.hits("m1")
    assert len(hits) == 2
    for hit in hits:
        headers = lower(hit.headers)
        assert headers["authorization"] == "Bearer sk-upstream-secret"
        assert headers["x-team"] == "search"
        assert_no_client_secret(headers)


def test_provider_without_key_sends_no_authorization(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    fake_upstream.set("m1", ok("fine"))
    cfg = config(fake_upstream.base_url)
    del cfg["providers"]["fake"]["api_key_env"]
    gw = gateway_factory(cfg)
    response = httpx.post(
        gw.base_url + "/chat/completions",
        json=BODY,
        headers={"Authorization": "Bearer sk-client-inbound"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    headers = lower(fake_upstream.hits("m1")[0].headers)
    assert "authorization" not in headers
    assert headers["x-team"] == "search"
    assert_no_client_secret(headers)


def test_unset_key_env_sends_no_authorization(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    # api_key_env names a variable that is not set: no header rather than an empty one.
    fake_upstream.set("m1", ok("fine"))
    gw = gateway_factory(config(fake_upstream.base_url))
    response = httpx.post(gw.base_url + "/chat/completions", json=BODY, timeout=10)
    assert response.status_code == 200, response.text
    assert "authorization" not in lower(fake_upstream.hits("m1")[0].headers)


def test_upstream_cookies_are_not_replayed_to_later_requests(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    # One upstream session serves every client, so a cookie one answer sets must not
    # ride along on the next client's request.
    fake_upstream.set("m1", ok("first", headers={"Set-Cookie": "upstream_session=abc; Path=/"}))
    # A host name, not an IP: cookie jars ignore cookies from bare IP addresses.
    gw = gateway_factory(config(fake_upstream.base_url.replace("127.0.0.1", "localhost")))
    for _ in range(2):
        response = httpx.post(gw.base_url + "/chat/completions", json=BODY, timeout=10)
        assert response.status_code == 200
    hits = fake_upstream.hits("m1")
    assert len(hits) == 2
    assert "cookie" not in lower(hits[1].headers)


def test_upstream_named_by_host_name_is_resolved_and_reached(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    # `localhost` may resolve to ::1 first while the fake listens on 127.0.0.1 only:
    # the client tries the next address instead of failing the attempt.
    fake_upstream.set("m1", ok("by name"))
    base_url = fake_upstream.base_url.replace("127.0.0.1", "localhost")
    gw = gateway_factory(config(base_url), env={"FAKE_UPSTREAM_KEY": "sk-upstream-secret"})
    for _ in range(2):  # the second request comes from the cached lookup
        response = httpx.post(gw.base_url + "/chat/completions", json=BODY, timeout=10)
        assert response.status_code == 200, response.text
        assert b"by name" in response.content
    hits = fake_upstream.hits("m1")
    assert len(hits) == 2
    assert lower(hits[0].headers)["host"] == f"localhost:{fake_upstream.port}"
