"""Reading token usage from OpenAI-shaped bodies and stream events."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.observability.record import Usage

# Far above any context window (10M tokens at most today), and low enough that a
# request's exact cost at the highest allowed price fits an int64 counter.
MAX_TOKENS = 2**28


def usage_from_mapping(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    details = raw.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None

    def as_int(value: Any) -> int:
        # No request has hundreds of millions of tokens: a larger count is garbage, and
        # would overflow the int64 counters (Redis HINCRBY) once multiplied by a price.
        valid = isinstance(value, int) and not isinstance(value, bool)
        return value if valid and 0 <= value <= MAX_TOKENS else 0

    return Usage(
        input_tokens=as_int(raw.get("prompt_tokens")),
        output_tokens=as_int(raw.get("completion_tokens")),
        cached_tokens=as_int(cached),
    )


def usage_from_body(body: bytes) -> Usage | None:
    if b'"usage"' not in body:
        return None
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return usage_from_mapping(parsed.get("usage")) if isinstance(parsed, dict) else None
