"""URL and headers for an OpenAI-compatible API."""

from __future__ import annotations

import os

from gateway.config.schema import ProviderSection


def chat_url(base_url: str) -> str:
    return base_url.rstrip("/") + "/chat/completions"


def build_headers(section: ProviderSection) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    headers.update(section.headers)
    if section.api_key_env:
        key = os.environ.get(section.api_key_env)
        if key and key.strip():
            # A key file mounted as an env var often ends in a newline.
            headers["Authorization"] = f"Bearer {key.strip()}"
    return headers
