"""Outbound proxies: HTTPS upstreams through a CONNECT tunnel with TLS inside, plain
HTTP in absolute form, the environment's proxies with NO_PROXY, and a 407 or a refused
proxy as a connect_error the plan falls back from. Credentials are never logged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import GatewayFactory
from tests.integration.test_logs import request_lines
from tests.support.connect_proxy import ConnectProxy
from tests.support.fake_upstream import FakeUpstream, closed_port_url, ok
from tests.support.tls import self_signed, server_tls

MESSAGES = [{"role": "user", "content": "hi"}]
SECRET = "s3cr3t-proxy-pass"


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    server = ConnectProxy(credentials=("gw", SECRET)).start()
    yield server
    server.stop()


@pytest.fixture
def tls_upstream(tmp_path: Path) -> Iterator[tuple[FakeUpstream, Path]]:
    cert, key = self_signed(tmp_path, "DNS:localhost,IP:127.0.0.1")
    server = FakeUpstream().start(tls=server_tls(cert, key))
    yield server, cert
    server.stop()


def provider(base_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "openai",
        "base_url": base_url,
        "api_key_env": "FAKE_UPSTREAM_KEY",
        "timeout_s": 5,
        "connect_timeout_s": 2,
        **extra,
    }


def config(providers: dict[str, dict[str, Any]], routes: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "providers": providers,
        "models": {f"{name}-model": {"provider": name, "model": "m1"} for name in providers},
        "routes": {route: {"pool": [f"{p}-model" for p in pool]} for route, pool in routes.items()},
    }


def ask(gateway_url: str, route: str, **extra: Any) -> httpx.Response:
    body = {"model": route, "messages": MESSAGES, **extra}
    return httpx.post(gateway_url + "/v1/chat/completions", json=body, timeout=10)


def test_https_upstream_through_a_connect_tunnel(
    proxy: ConnectProxy,
    tls_upstream: tuple[FakeUpstream, Path],
    gateway_factory: GatewayFactory,
) -> None:
    upstream, cert = tls_upstream
    proxy_url = f"http://gw:{SECRET}@127.0.0.1:{proxy.port}"
    base_url = f"https://localhost:{upstream.port}/v1"  # the proxy resolves the name
    gateway = gateway_factory(
        config({"tls": provider(base_url, proxy=proxy_url)}, {"chat": ["tls"]}),
        env={"SSL_CERT_FILE": str(cert), "FAKE_UPSTREAM_KEY": "sk-upstream"},
    )
    client = openai.OpenAI(base_url=gateway.base_url, api_key="unused")
    answer = client.chat.completions.create(model="chat", messages=MESSAGES)  # type: ignore[arg-type]
    assert answer.choices[0].message.content == "echo: hi"
    chunks = list(client.chat.completions.create(model="chat", messages=MESSAGES, stream=True))  # type: ignore[arg-type]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: hi"

    tunnels = proxy.records()
    assert tunnels, "nothing went through the proxy"
    assert {(s.method, s.target, s.answered) for s in tunnels} == {
        ("CONNECT", f"localhost:{upstream.port}", 200)
    }
    # The proxy's credentials went to the proxy; the upstream saw the provider's key only.
    hits = upstream.hits("m1")
    assert len(hits) == 2
    assert all(h.headers["Authorization"] == "Bearer sk-upstream" for h in hits)
    assert not any("Proxy-Authorization" in h.headers for h in hits)
    assert SECRET not in gateway.logs()


def test_plain_http_upstream_in_absolute_form(
    proxy: ConnectProxy, fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    proxy_url = f"http://gw:{SECRET}@127.0.0.1:{proxy.port}"
    gateway = gateway_factory(
        config({"plain": provider(fake_upstream.base_url, proxy=proxy_url)}, {"chat": ["plain"]})
    )
    assert ask(gateway.url, "chat").status_code == 200
    [seen] = proxy.records()
    assert seen.method == "POST"
    assert seen.target == f"http://127.0.0.1:{fake_upstream.port}/v1/chat/completions"
    assert seen.answered == 200
    [hit] = fake_upstream.hits("m1")
    assert "Proxy-Authorization" not in hit.headers
    assert SECRET not in gateway.logs()


def test_environment_proxies_and_no_proxy(
    proxy: ConnectProxy, fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    # The same upstream under two names: NO_PROXY exempts one of them.
    direct = fake_upstream.base_url
    proxied = f"http://localhost:{fake_upstream.port}/v1"
    gateway = gateway_factory(
        config(
            {"direct": provider(direct), "proxied": provider(proxied)},
            {
                "direct": ["direct"],
                "proxied": ["proxied"],
            },
        )
        | {"server": {"trust_env_proxy": True}},
        env={
            "HTTP_PROXY": f"http://gw:{SECRET}@127.0.0.1:{proxy.port}",
            "NO_PROXY": "127.0.0.1,.internal.example",
        },
    )
    assert ask(gateway.url, "direct").status_code == 200
    assert proxy.records() == []
    assert ask(gateway.url, "proxied").status_code == 200
    assert [s.target for s in proxy.records()] == [
        f"http://localhost:{fake_upstream.port}/v1/chat/completions"
    ]


def test_without_trust_env_proxy_the_environment_is_ignored(
    proxy: ConnectProxy, fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    gateway = gateway_factory(
        config({"plain": provider(fake_upstream.base_url)}, {"chat": ["plain"]}),
        env={"HTTP_PROXY": proxy.url, "HTTPS_PROXY": proxy.url},
    )
    assert ask(gateway.url, "chat").status_code == 200
    assert proxy.records() == []


@pytest.mark.parametrize("failure", ["407", "refused"])
def test_a_proxy_that_refuses_is_a_connect_error_and_the_plan_falls_back(
    failure: str,
    proxy: ConnectProxy,
    tls_upstream: tuple[FakeUpstream, Path],
    fake_upstream: FakeUpstream,
    gateway_factory: GatewayFactory,
) -> None:
    upstream, cert = tls_upstream
    if failure == "407":
        bad_proxy = f"http://gw:wrong-{SECRET}@127.0.0.1:{proxy.port}"
    else:
        bad_proxy = closed_port_url().replace("/v1", "")
    fake_upstream.set("m1", ok("served directly"))
    gateway = gateway_factory(
        config(
            {
                "behind": provider(f"https://localhost:{upstream.port}/v1", proxy=bad_proxy),
                "direct": provider(fake_upstream.base_url),
            },
            {"chat": ["behind", "direct"]},
        ),
        env={"SSL_CERT_FILE": str(cert)},
    )
    response = ask(gateway.url, "chat")
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "served directly"
    assert response.headers["x-gateway-attempts"] == "2"
    assert upstream.hits() == []
    if failure == "407":
        assert [(s.method, s.answered) for s in proxy.records()] == [("CONNECT", 407)]
    [line] = request_lines(gateway, 1)
    assert [a["outcome"] for a in line["attempts"]] == ["connect_error", "success"]
    assert SECRET not in gateway.logs()
