"""Error mapping: Anthropic error bodies become OpenAI-shaped ones.

A non-failover error goes to the client as is, so it must read like OpenAI's:
``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

from typing import Any

import orjson

# Anthropic error type → (OpenAI type, OpenAI code).
ERROR_TYPES: dict[str, tuple[str, str | None]] = {
    "invalid_request_error": ("invalid_request_error", None),
    "authentication_error": ("authentication_error", "invalid_api_key"),
    "permission_error": ("permission_error", None),
    "not_found_error": ("invalid_request_error", "not_found"),
    "request_too_large": ("invalid_request_error", "request_too_large"),
    "rate_limit_error": ("rate_limit_error", "rate_limit_exceeded"),
    "billing_error": ("insufficient_quota", "insufficient_quota"),
    "api_error": ("server_error", None),
    "overloaded_error": ("server_error", "overloaded"),
    "timeout_error": ("server_error", "timeout"),
}
_CONTEXT_MARKERS = ("prompt is too long", "context window", "context length", "context limit")
_CONTEXT_CODE = "context_length_exceeded"


def openai_error(status: int, error: Any) -> dict[str, Any]:
    """The OpenAI error object for Anthropic's inner ``error`` (or anything else)."""
    kind = error.get("type") if isinstance(error, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if not isinstance(message, str) or not message:
        message = f"anthropic upstream error ({kind or f'HTTP {status}'})"
    fallback = ("invalid_request_error", None) if 400 <= status < 500 else ("server_error", None)
    type_, code = ERROR_TYPES.get(str(kind), fallback)
    if status in (400, 413) and _mentions_context(message):
        code = _CONTEXT_CODE  # the code OpenAI clients test for
    return {"message": message, "type": type_, "param": None, "code": code}


def transform_error(status: int, body: bytes) -> bytes:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if error is None:
        # Not Anthropic's shape (a proxy's HTML page, say): keep a little of its text.
        text = body[:200].decode("utf-8", "replace").strip()
        error = {"message": f"anthropic upstream error (HTTP {status}): {text}".rstrip(": ")}
    return orjson.dumps({"error": openai_error(status, error)})


def _mentions_context(message: str) -> bool:
    lowered = message.lower()
    return any(marker in lowered for marker in _CONTEXT_MARKERS)


def is_context_length_error(status: int, body: bytes) -> bool:
    """``body`` is what the provider's ``read()`` returned: already OpenAI-shaped."""
    if status not in (400, 413):
        return False
    lowered = body[:4096].lower()
    return _CONTEXT_CODE.encode() in lowered or any(
        marker.encode() in lowered for marker in _CONTEXT_MARKERS
    )
