"""Proxy URLs, the environment's proxies and NO_PROXY, and credentials kept out of
reprs and config errors."""

from __future__ import annotations

import pytest

from gateway.config.loader import ConfigError, load_config_text
from gateway.transport.proxy import bypasses, parse_proxy, proxy_from_env


def test_credentials_become_a_basic_header_and_stay_out_of_repr() -> None:
    proxy = parse_proxy("http://us%40er:p%3Ass@proxy.corp:3128")
    assert (proxy.host, proxy.port) == ("proxy.corp", 3128)
    assert proxy.authorization == "Basic dXNAZXI6cDpzcw=="  # us@er:p:ss
    assert "p:ss" not in repr(proxy) and "dXNA" not in repr(proxy)
    assert proxy.shown == "proxy.corp:3128"
    assert parse_proxy("proxy.corp").port == 80


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://u:secret@proxy:443", "must be an http:// proxy URL"),
        ("http://u:secret@:3128", "must name the proxy's host"),
        ("http://u:secret@proxy:3128/path", "must be just http://"),
        ("http://u:secret@proxy:99999", "has an invalid port"),
    ],
)
def test_bad_proxy_urls_are_refused_without_echoing_them(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_proxy(url)
    assert "secret" not in str(info.value)


def test_a_bad_provider_proxy_is_a_config_error_at_its_path() -> None:
    text = """
providers:
  up: {kind: openai, base_url: "https://api.example/v1", proxy: "https://u:secret@p:1"}
"""
    with pytest.raises(ConfigError) as info:
        load_config_text(text, "gateway.yaml")
    problems = "; ".join(info.value.problems)
    assert problems.startswith("providers.up.proxy: must be an http:// proxy URL")
    assert "secret" not in problems


def test_a_bad_environment_proxy_is_a_config_error_when_trusted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "socks5://u:secret@p:1080")
    text = "server: {trust_env_proxy: true}\n"
    with pytest.raises(ConfigError) as info:
        load_config_text(text, "gateway.yaml")
    assert info.value.problems == [
        "server.trust_env_proxy: $HTTPS_PROXY must be an http:// proxy URL "
        "(TLS to the proxy is not supported)"
    ]
    monkeypatch.delenv("HTTPS_PROXY")
    load_config_text(text, "gateway.yaml")


def test_scheme_picks_the_variable_lower_case_first() -> None:
    env = {"HTTPS_PROXY": "http://upper:1", "https_proxy": "http://lower:1", "HTTP_PROXY": "x"}
    assert proxy_from_env("https://api.example/v1", env) == "http://lower:1"
    assert proxy_from_env("http://api.example/v1", env) == "x"
    assert proxy_from_env("http://api.example/v1", {"HTTPS_PROXY": "http://p:1"}) is None


@pytest.mark.parametrize(
    ("host", "port", "no_proxy", "bypassed"),
    [
        ("api.openai.com", 443, "openai.com", True),
        ("api.openai.com", 443, ".openai.com", True),
        ("api.openai.com", 443, "*.openai.com", True),
        ("notopenai.com", 443, "openai.com", False),
        ("10.1.2.3", 80, "10.0.0.0/8", True),
        ("10.1.2.3", 80, "192.168.0.0/16, 10.1.2.4", False),
        ("::1", 80, "[::1]", True),
        ("::2", 80, "[::1]:80", False),
        ("::1", 80, "::1", True),
        ("ollama.local", 11434, "ollama.local:11434", True),
        ("ollama.local", 8080, "ollama.local:11434", False),
        ("anything", 1, "*", True),
        ("anything", 1, "", False),
    ],
)
def test_no_proxy_rules(host: str, port: int, no_proxy: str, bypassed: bool) -> None:
    assert bypasses(host, port, no_proxy) is bypassed


def test_no_proxy_with_a_port_matches_the_scheme_default() -> None:
    env = {"HTTPS_PROXY": "http://p:1", "NO_PROXY": "api.example:443"}
    assert proxy_from_env("https://api.example/v1", env) is None
    assert proxy_from_env("https://api.example:8443/v1", env) == "http://p:1"
