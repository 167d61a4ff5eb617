"""The one table that names every attempt outcome (spec §5).

These names are what logs, metrics and error messages say.

| outcome           | trigger                                    | next member? | parks for      |
|-------------------|--------------------------------------------|--------------|----------------|
| rate_limited      | 429                                        | yes          | Retry-After*   |
| upstream_5xx      | 5xx, 529, 409; an SSE error event first    | yes          | Retry-After*   |
| timeout           | 408, read timeout                          | yes          | cooldown_s     |
| ttft_timeout      | no first stream byte in ttft_timeout_s     | yes          | cooldown_s     |
| connect_error     | refused, DNS, reset, an empty stream       | yes          | cooldown_s     |
| bad_credentials   | 401, 403                                   | yes          | max_cooldown_s |
| context_length    | 400 saying the context length was exceeded | larger only  | not parked     |
| client_error      | other 400, 404, 413, 422 and other 4xx     | no           | not parked     |
| client_disconnect | the client went away                       | stop         | not parked     |

* Retry-After or retry-after-ms when the upstream sent one, else cooldown_s;
  always capped at max_cooldown_s.

Under a user's own key (BYOK), bad_credentials and rate_limited are that user's: the
answer goes back to the client and nothing is parked (``attempts.USER_KEY_FAILURES``).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from enum import StrEnum

from gateway.providers.base import (
    UpstreamConnectError,
    UpstreamError,
    UpstreamStreamBroken,
    UpstreamTimeout,
)


class Outcome(StrEnum):
    SUCCESS = "success"
    RATE_LIMITED = "rate_limited"
    UPSTREAM_5XX = "upstream_5xx"
    TIMEOUT = "timeout"
    TTFT_TIMEOUT = "ttft_timeout"
    CONNECT_ERROR = "connect_error"
    BAD_CREDENTIALS = "bad_credentials"
    CONTEXT_LENGTH = "context_length"
    CLIENT_ERROR = "client_error"
    CLIENT_DISCONNECT = "client_disconnect"


AVAILABILITY_FAILURES = frozenset(
    {
        Outcome.RATE_LIMITED,
        Outcome.UPSTREAM_5XX,
        Outcome.TIMEOUT,
        Outcome.TTFT_TIMEOUT,
        Outcome.CONNECT_ERROR,
        Outcome.BAD_CREDENTIALS,
    }
)


def classify_status(status: int, context_length: bool = False) -> Outcome:
    if status < 400:
        return Outcome.SUCCESS
    if status == 429:
        return Outcome.RATE_LIMITED
    if status in (401, 403):
        return Outcome.BAD_CREDENTIALS
    if status == 408:
        return Outcome.TIMEOUT
    if status == 409 or status >= 500:
        return Outcome.UPSTREAM_5XX
    if context_length:
        return Outcome.CONTEXT_LENGTH
    return Outcome.CLIENT_ERROR


def classify_exception(exc: UpstreamError) -> Outcome:
    if isinstance(exc, UpstreamTimeout):
        return Outcome.TIMEOUT
    if isinstance(exc, UpstreamConnectError | UpstreamStreamBroken):
        return Outcome.CONNECT_ERROR
    return Outcome.CONNECT_ERROR


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """``name`` (lower case) from any mapping: the transport's ignores case, a dict not."""
    value = headers.get(name)
    if value is not None:
        return value
    for key, candidate in headers.items():
        if key.lower() == name:
            return candidate
    return None


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date).

    ``retry-after-ms`` (OpenAI, Azure) is the more precise of the two and wins.
    """
    raw_ms = _header(headers, "retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = _header(headers, "retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
