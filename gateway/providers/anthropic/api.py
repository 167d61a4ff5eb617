"""URL and headers for the Anthropic Messages API."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.config.schema import ProviderSection
from gateway.providers.http import env_key

API_VERSION = "2023-06-01"


def messages_url(base_url: str) -> str:
    """Both forms of the base URL: ``https://api.anthropic.com/v1`` (OpenAI-style) and
    ``https://api.anthropic.com`` (what the Anthropic SDKs and ``ANTHROPIC_BASE_URL``
    take, appending ``/v1/messages`` themselves)."""
    base = base_url.split("?", 1)[0].rstrip("/")
    return base + ("/messages" if base.endswith("/v1") else "/v1/messages")


def count_tokens_url(base_url: str) -> str:
    return messages_url(base_url) + "/count_tokens"


def with_client_headers(
    headers: dict[str, str], client: Mapping[str, str] | None
) -> dict[str, str]:
    """The client's ``anthropic-version`` replaces ours; its ``anthropic-beta`` flags
    join the configured ones (both sets of features were asked for)."""
    if not client:
        return headers
    out = dict(headers)
    for name, value in client.items():
        configured = next((k for k in out if k.lower() == name), None)
        if name == "anthropic-beta" and configured is not None:
            flags = [f.strip() for f in f"{out[configured]},{value}".split(",") if f.strip()]
            out[configured] = ",".join(dict.fromkeys(flags))
        else:
            if configured is not None:
                del out[configured]
            out[name] = value
    return out


def build_headers(section: ProviderSection) -> dict[str, str]:
    headers = {
        "content-type": "application/json",
        "accept": "application/json",
        "anthropic-version": API_VERSION,
    }
    # Configured headers may pin another anthropic-version or add anthropic-beta; a
    # differently-cased name must replace ours, not be sent beside it.
    for name, value in section.headers.items():
        headers.pop(name.lower(), None)
        headers[name] = value
    key = env_key(section)
    if key:
        headers["x-api-key"] = key
    return headers
