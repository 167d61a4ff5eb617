"""The headers an ``openai`` provider sends: its key from the environment, trimmed."""

from __future__ import annotations

import pytest

from gateway.config.schema import ProviderSection
from gateway.providers.openai.api import build_headers


def section(**fields: object) -> ProviderSection:
    return ProviderSection(kind="openai", base_url="http://127.0.0.1:1/v1", **fields)  # type: ignore[arg-type]


def test_key_from_a_mounted_file_loses_its_trailing_newline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UP_KEY", "sk-upstream\n")
    headers = build_headers(section(api_key_env="UP_KEY"))
    assert headers["Authorization"] == "Bearer sk-upstream"


def test_blank_key_sends_no_authorization(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UP_KEY", " \n")
    assert "Authorization" not in build_headers(section(api_key_env="UP_KEY"))


def test_configured_headers_are_sent_as_given() -> None:
    headers = build_headers(section(headers={"api-key": "k", "X-Team": "search"}))
    assert headers["api-key"] == "k" and headers["X-Team"] == "search"
    assert headers["Content-Type"] == "application/json"
