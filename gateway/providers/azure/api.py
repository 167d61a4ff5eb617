"""URLs and headers for Azure OpenAI deployments."""

from __future__ import annotations

from urllib.parse import quote

from gateway.config.schema import ProviderSection
from gateway.providers.http import env_key

DEFAULT_API_VERSION = "2024-10-21"  # the latest GA data-plane version with stream usage
# The Responses API needs 2025-03-01-preview or later; a provider whose own
# api_version is older uses this one for it.
RESPONSES_API_VERSION = "2025-04-01-preview"
# Chat and embeddings are addressed per deployment.
DEPLOYMENT_PATHS = {"chat": "chat/completions", "embeddings": "embeddings"}


def deployment_url(
    base_url: str, deployment: str, api_version: str, operation: str = "chat"
) -> str:
    name = quote(deployment, safe="")
    version = quote(api_version, safe="")
    path = DEPLOYMENT_PATHS[operation]
    return f"{base_url.rstrip('/')}/openai/deployments/{name}/{path}?api-version={version}"


def responses_url(base_url: str, api_version: str) -> str:
    """The Responses API is one resource-wide path; the deployment goes in ``model``."""
    version = api_version if api_version >= "2025-03-01" else RESPONSES_API_VERSION
    return f"{base_url.rstrip('/')}/openai/responses?api-version={quote(version, safe='')}"


def build_headers(section: ProviderSection) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    headers.update(section.headers)
    key = env_key(section)
    if key:
        headers["api-key"] = key
    return headers
