"""Failures the mock injects, shaped like a real upstream's."""

from __future__ import annotations

from gateway.config.schema import MockFailure
from gateway.errors import error_body


def failure_headers(failure: MockFailure) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if failure.retry_after_s is not None:
        headers["Retry-After"] = f"{failure.retry_after_s:g}"
        headers["retry-after-ms"] = str(int(failure.retry_after_s * 1000))
    return headers


def failure_body(failure: MockFailure) -> bytes:
    type_ = "rate_limit_error" if failure.status == 429 else "server_error"
    if 400 <= failure.status < 500 and failure.status != 429:
        type_ = "invalid_request_error"
    code = "rate_limit_exceeded" if failure.status == 429 else f"mock_{failure.status}"
    return error_body(failure.message, type_, None, code)


def invalid_request(message: str) -> bytes:
    return error_body(message, "invalid_request_error", None, "invalid_request")
