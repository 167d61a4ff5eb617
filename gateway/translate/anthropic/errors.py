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


def inner_error(status: int, body: bytes, vendor: str) -> Any:
    """The ``error`` object of an error body (both APIs put it there)."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        parsed = None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if error is None:
        # Not the API's shape (a proxy's HTML page, say): keep a little of its text.
        text = body[:200].decode("utf-8", "replace").strip()
        error = {"message": f"{vendor} error (HTTP {status}): {text}".rstrip(": ")}
    return error


def transform_error(status: int, body: bytes) -> bytes:
    return orjson.dumps(
        {"error": openai_error(status, inner_error(status, body, "anthropic upstream"))}
    )


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


# The other direction: an HTTP status (and OpenAI's error) → Anthropic's error.
# Anthropic's documented table; other 4xx are invalid_request_error, other 5xx api_error.
MESSAGES_ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
ERROR_STATUSES = {kind: status for status, kind in MESSAGES_ERROR_TYPES.items()}


def messages_error_type(status: int) -> str:
    kind = MESSAGES_ERROR_TYPES.get(status)
    if kind is not None:
        return kind
    return "invalid_request_error" if 400 <= status < 500 else "api_error"


def messages_error(status: int, error: Any) -> dict[str, Any]:
    """Anthropic's error object for OpenAI's inner ``error`` (or anything else)."""
    message = error.get("message") if isinstance(error, dict) else None
    if not isinstance(message, str) or not message:
        message = f"upstream error (HTTP {status})"
    return {"type": "error", "error": {"type": messages_error_type(status), "message": message}}


def to_messages_error(status: int, body: bytes) -> bytes:
    return orjson.dumps(messages_error(status, inner_error(status, body, "upstream")))
