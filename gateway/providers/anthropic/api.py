"""URL and headers for the Anthropic Messages API."""

from __future__ import annotations

import os

from gateway.config.schema import ProviderSection

API_VERSION = "2023-06-01"


def messages_url(base_url: str) -> str:
    return base_url.rstrip("/") + "/messages"


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
