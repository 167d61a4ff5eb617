"""Config for the provider kinds of this release: ``byok`` and kind ``gemini``, with
errors naming their YAML path; the Anthropic base URL in both forms."""

from __future__ import annotations

import pytest

from gateway.config.loader import ConfigError, load_config_text
from gateway.providers.anthropic.api import messages_url
from gateway.providers.http import provider_sections


def config(provider: str) -> str:
    return f"""
providers:
  up: {provider}
models:
  m: {{provider: up}}
routes:
  chat: {{pool: [m]}}
"""


@pytest.mark.parametrize(
    ("value", "expected"),
    [("off", "off"), ("'off'", "off"), ("allowed", "allowed"), ("required", "required")],
)
def test_byok_values(value: str, expected: str) -> None:
    loaded = load_config_text(config(f"{{kind: gemini, byok: {value}}}"), env={})
    assert loaded.providers["up"].byok == expected


def test_byok_defaults_to_off_and_rejects_other_values_with_its_path() -> None:
    assert load_config_text(config("{kind: gemini}"), env={}).providers["up"].byok == "off"
    with pytest.raises(ConfigError) as raised:
        load_config_text(config("{kind: gemini, byok: on}"), env={})
    (problem,) = raised.value.problems
    assert problem.startswith("providers.up.byok:")


def test_byok_provider_names_must_differ_beyond_case() -> None:
    text = """
providers:
  Gemini: {kind: gemini, byok: allowed}
  gemini: {kind: gemini, byok: required}
  GEMINI: {kind: gemini}
models:
  m: {provider: gemini}
routes:
  chat: {pool: [m]}
"""
    with pytest.raises(ConfigError) as raised:
        load_config_text(text, env={})
    assert raised.value.problems == [
        "providers.gemini.byok: X-Gateway-Key-gemini would also name provider 'Gemini' "
        "(header names ignore case)"
    ]


def test_gemini_needs_no_base_url_but_anthropic_does() -> None:
    assert load_config_text(config("{kind: gemini}"), env={}).providers["up"].kind == "gemini"
    with pytest.raises(ConfigError) as raised:
        load_config_text(config("{kind: anthropic}"), env={})
    assert raised.value.problems == ["providers.up.base_url: required for kind 'anthropic'"]


@pytest.mark.parametrize(
    ("base_url", "url"),
    [
        ("https://api.anthropic.com", "https://api.anthropic.com/v1/messages"),
        ("https://api.anthropic.com/", "https://api.anthropic.com/v1/messages"),
        ("https://api.anthropic.com/v1", "https://api.anthropic.com/v1/messages"),
        ("https://api.anthropic.com/v1/", "https://api.anthropic.com/v1/messages"),
        ("https://gw.example/anthropic", "https://gw.example/anthropic/v1/messages"),
    ],
)
def test_the_anthropic_base_url_in_the_sdk_form_and_the_v1_form(base_url: str, url: str) -> None:
    assert messages_url(base_url) == url


def test_the_gemini_default_address_takes_the_environments_proxy() -> None:
    text = """
server: {trust_env_proxy: true}
providers:
  g: {kind: gemini}
models:
  m: {provider: g}
routes:
  chat: {pool: [m]}
"""
    loaded = load_config_text(text, env={})
    assert loaded.providers["g"].base_url == "https://generativelanguage.googleapis.com"
    environ = {"HTTPS_PROXY": "http://proxy.internal:3128"}
    assert provider_sections(loaded, environ)["g"].proxy == "http://proxy.internal:3128"
