"""Reading users' keys from a request's headers (``gateway/providers/byok.py``)."""

from __future__ import annotations

from gateway.config.schema import ProviderSection
from gateway.providers.base import UpstreamRequest
from gateway.providers.byok import UserKeys, key_required, scrub
from gateway.providers.http import request_headers
from gateway.providers.registry import build_providers


def user_keys(**modes: str) -> UserKeys:
    sections = {name: ProviderSection(kind="mock", byok=mode) for name, mode in modes.items()}
    return UserKeys(build_providers(sections))


def test_keys_are_taken_for_byok_providers_and_every_key_header_is_removed() -> None:
    keys = user_keys(OpenAI="allowed", gemini="required", local="off")
    headers = {
        b"x-gateway-key-openai": b" sk-user \n",
        b"x-gateway-key-gemini": b"AIza-user",
        b"x-gateway-key-local": b"ignored",
        b"x-gateway-key-nobody": b"ignored",
        b"x-gateway-key-": b"",
        b"content-type": b"application/json",
    }

    assert keys.take(headers) == {"OpenAI": "sk-user", "gemini": "AIza-user"}
    assert headers == {b"content-type": b"application/json"}  # no later stage sees a key


def test_without_byok_providers_nothing_is_read_or_touched() -> None:
    headers = {b"x-gateway-key-openai": b"sk-user"}
    assert user_keys(openai="off").take(headers) is None
    assert headers == {b"x-gateway-key-openai": b"sk-user"}
    assert user_keys(openai="allowed").take({b"x-gateway-key-openai": b"  "}) is None


def test_the_401_names_each_header_once_and_echoed_keys_are_scrubbed() -> None:
    error = key_required(["gemini", "gemini", "claude"])
    assert error.status == 401
    assert error.message.endswith("send it as X-Gateway-Key-gemini, X-Gateway-Key-claude")
    assert error.param == "X-Gateway-Key-gemini"
    assert (
        scrub(b'{"error": "bad key sk-user-1"}', "sk-user-1") == b'{"error": "bad key [redacted]"}'
    )


def test_the_users_key_replaces_the_gateways_whatever_the_header_case() -> None:
    gateway_headers = {"Authorization": "Bearer sk-gateway", "OpenAI-Organization": "org-1"}
    upstream = UpstreamRequest({}, False, "req_1", api_key="sk-user")

    sent = request_headers(gateway_headers, upstream, "authorization", "Bearer ")

    assert sent == {
        "OpenAI-Organization": "org-1",
        "authorization": "Bearer sk-user",
        "X-Request-Id": "req_1",
    }
    assert gateway_headers["Authorization"] == "Bearer sk-gateway"  # the provider's own stay
