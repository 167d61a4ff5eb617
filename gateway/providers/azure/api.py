"""URL and headers for Azure OpenAI deployments."""

from __future__ import annotations

from urllib.parse import quote

from gateway.config.schema import ProviderSection
from gateway.providers.http import env_key

DEFAULT_API_VERSION = "2024-10-21"  # the latest GA data-plane version with stream usage


def deployment_url(base_url: str, deployment: str, api_version: str) -> str:
    name = quote(deployment, safe="")
    version = quote(api_version, safe="")
    return (
        f"{base_url.rstrip('/')}/openai/deployments/{name}/chat/completions?api-version={version}"
    )


def build_headers(section: ProviderSection) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    headers.update(section.headers)
    key = env_key(section)
    if key:
        headers["api-key"] = key
    return headers
