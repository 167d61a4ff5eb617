"""URL and headers for the Anthropic Messages API."""

from __future__ import annotations

import os
from collections.abc import Mapping

from gateway.config.schema import ProviderSection

API_VERSION = "2023-06-01"


def messages_url(base_url: str) -> str:
    return base_url.rstrip("/") + "/messages"


def count_tokens_url(base_url: str) -> str:
    return base_url.rstrip("/") + "/messages/count_tokens"


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
    if section.api_key_env:
        # A key file mounted as an env var often ends in a newline.
        key = os.environ.get(section.api_key_env, "").strip()
        if key:
            headers["x-api-key"] = key
    return headers
