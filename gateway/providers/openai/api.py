"""URL and headers for an OpenAI-compatible API."""

from __future__ import annotations

from gateway.config.schema import ProviderSection
from gateway.providers.http import env_key


def chat_url(base_url: str) -> str:
    return base_url.rstrip("/") + "/chat/completions"


def build_headers(section: ProviderSection) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    headers.update(section.headers)
    key = env_key(section)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return headers
