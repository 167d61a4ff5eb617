"""URLs and headers for an OpenAI-compatible API."""

from __future__ import annotations

from urllib.parse import quote

from gateway.config.schema import ProviderSection
from gateway.providers.http import env_key

# The path of each operation sent as a POST of the body.
OPERATION_PATHS = {
    "chat": "/chat/completions",
    "embeddings": "/embeddings",
    "responses": "/responses",
}
# Calls on one stored response: the HTTP method and what follows ``/responses/{id}``;
# the id (and the client's query) travel in the request's body.
STORED_RESPONSE_CALLS = {
    "responses.retrieve": ("GET", ""),
    "responses.delete": ("DELETE", ""),
    "responses.input_items": ("GET", "/input_items"),
    "responses.cancel": ("POST", "/cancel"),
}
OPERATIONS = frozenset(OPERATION_PATHS) | frozenset(STORED_RESPONSE_CALLS)


def operation_urls(base_url: str) -> dict[str, str]:
    base = base_url.rstrip("/")
    return {operation: base + path for operation, path in OPERATION_PATHS.items()}


def stored_response_url(
    responses_url: str, response_id: str, suffix: str = "", query: str = ""
) -> str:
    """``…/responses/{id}{suffix}``; ``responses_url`` may carry a query of its own."""
    path, _, own_query = responses_url.partition("?")
    url = f"{path}/{quote(response_id, safe='')}{suffix}"
    joined = "&".join(q for q in (own_query, query) if q)
    return f"{url}?{joined}" if joined else url


def build_headers(section: ProviderSection) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    headers.update(section.headers)
    key = env_key(section)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return headers
