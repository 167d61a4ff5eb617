"""Error mapping: Gemini's ``{"error": {code, message, status, details}}`` becomes
OpenAI's ``{"error": {message, type, param, code}}``.

Two corrections on the way: a bad key comes back from Gemini as 400
``INVALID_ARGUMENT`` (reason ``API_KEY_INVALID``), which is a credential failure
(401) and not the client's request; and a ``RetryInfo`` delay in the body becomes a
``Retry-After`` header, so the cooldown lasts as long as Gemini asked.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from gateway.errors import error_body

# Gemini status → (OpenAI type, OpenAI code).
ERROR_STATUSES: dict[str, tuple[str, str | None]] = {
    "INVALID_ARGUMENT": ("invalid_request_error", None),
    "FAILED_PRECONDITION": ("invalid_request_error", "failed_precondition"),
    "OUT_OF_RANGE": ("invalid_request_error", None),
    "UNAUTHENTICATED": ("authentication_error", "invalid_api_key"),
    "PERMISSION_DENIED": ("permission_error", None),
    "NOT_FOUND": ("invalid_request_error", "not_found"),
    "RESOURCE_EXHAUSTED": ("rate_limit_error", "rate_limit_exceeded"),
    "CANCELLED": ("server_error", None),
    "INTERNAL": ("server_error", None),
    "UNAVAILABLE": ("server_error", "overloaded"),
    "DEADLINE_EXCEEDED": ("server_error", "timeout"),
}
BAD_KEY_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED"})
CONTEXT_CODE = "context_length_exceeded"
# "The input token count (N) exceeds the maximum number of tokens allowed (M)."
_CONTEXT_MESSAGE = re.compile(r"input token count.*exceeds the maximum number of tokens", re.I)
_DELAY = re.compile(r"^(\d+(?:\.\d+)?)s$")


def inner_error(body: bytes) -> dict[str, Any] | None:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(parsed, list) and parsed:  # the streaming endpoint wraps it in a list
        parsed = parsed[0]
    error = parsed.get("error") if isinstance(parsed, dict) else None
    return error if isinstance(error, dict) else None


def _details(error: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    details = error.get("details")
    found = details if isinstance(details, list) else []
    return [d for d in found if isinstance(d, dict) and str(d.get("@type", "")).endswith(kind)]


def retry_delay(error: dict[str, Any]) -> str | None:
    for info in _details(error, "RetryInfo"):
        match = _DELAY.match(str(info.get("retryDelay", "")))
        if match:
            return match.group(1)
    return None


def openai_error(
    status: int, error: dict[str, Any] | None, fallback_text: str
) -> tuple[int, bytes]:
    fallback = ("invalid_request_error", None) if 400 <= status < 500 else ("server_error", None)
    if error is None:
        # Not Gemini's shape (a proxy's HTML page, say): keep a little of its text.
        text = f"gemini upstream error (HTTP {status}): {fallback_text}".rstrip(": ")
        return status, error_body(text, fallback[0], None, fallback[1])
    raw = error.get("message")
    message = raw if isinstance(raw, str) and raw else None
    if message is None:
        message = f"gemini upstream error ({error.get('status') or f'HTTP {status}'})"
    type_, code = ERROR_STATUSES.get(str(error.get("status")), fallback)
    if any(d.get("reason") in BAD_KEY_REASONS for d in _details(error, "ErrorInfo")):
        status, type_, code = 401, "authentication_error", "invalid_api_key"
    elif status == 400 and _CONTEXT_MESSAGE.search(message):
        code = CONTEXT_CODE  # the code OpenAI clients test for
    return status, error_body(message, type_, None, code)


def transform_error(status: int, body: bytes) -> tuple[int, bytes, dict[str, str]]:
    error = inner_error(body)
    text = "" if error is not None else body[:200].decode("utf-8", "replace").strip()
    new_status, out = openai_error(status, error, text)
    delay = retry_delay(error) if error is not None else None
    return new_status, out, ({"retry-after": delay} if delay else {})


def is_context_length_error(status: int, body: bytes) -> bool:
    """``body`` is what the provider's ``read()`` returned: already OpenAI-shaped."""
    return status == 400 and CONTEXT_CODE.encode() in body[:4096]
