"""URL and headers for the Gemini API."""

from __future__ import annotations

from urllib.parse import quote

from gateway.config.schema import DEFAULT_BASE_URLS, ProviderSection
from gateway.providers.http import env_key

DEFAULT_BASE_URL = DEFAULT_BASE_URLS["gemini"]
DEFAULT_VERSION = "v1beta"
_VERSIONS = ("/v1beta", "/v1", "/v1alpha")
KEY_HEADER = "x-goog-api-key"


def versioned_base(base_url: str | None) -> str:
    """``base_url`` with an API version: the one it names, else ``v1beta``."""
    base = (base_url or DEFAULT_BASE_URL).rstrip("/")
    return base if base.endswith(_VERSIONS) else f"{base}/{DEFAULT_VERSION}"


def model_url(base: str, model: str, stream: bool) -> str:
    # Catalogs copied from Google's docs may name models as `models/gemini-...`.
    name = quote(model.removeprefix("models/"), safe="-._~")
    if stream:
        return f"{base}/models/{name}:streamGenerateContent?alt=sse"
    return f"{base}/models/{name}:generateContent"


def build_headers(section: ProviderSection) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    headers.update(section.headers)
    key = env_key(section)
    if key:
        headers[KEY_HEADER] = key
    return headers
