"""Reading token usage from OpenAI-shaped bodies and stream events."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.observability.record import Usage

MAX_TOKENS = 2**32


def usage_from_mapping(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    details = raw.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None

    def as_int(value: Any) -> int:
        # No request has billions of tokens: a larger count is garbage, and would
        # overflow the int64 counters (Redis INCRBY) once multiplied by a price.
        valid = isinstance(value, int) and not isinstance(value, bool)
        return value if valid and 0 <= value <= MAX_TOKENS else 0

    return Usage(
        input_tokens=as_int(raw.get("prompt_tokens")),
        output_tokens=as_int(raw.get("completion_tokens")),
        cached_tokens=as_int(cached),
    )


def usage_from_messages(counts: dict[str, int]) -> Usage:
    """Usage from the token counts of an Anthropic ``usage``. Anthropic's
    ``input_tokens`` leaves out the tokens read from and written to the cache; the
    gateway's ``input_tokens`` counts the whole prompt, as OpenAI's does."""

    def count(name: str) -> int:
        value = counts.get(name, 0)
        return value if 0 <= value <= MAX_TOKENS else 0

    read = count("cache_read_input_tokens")
    written = count("cache_creation_input_tokens")
    return Usage(
        input_tokens=count("input_tokens") + read + written,
        output_tokens=count("output_tokens"),
        cached_tokens=read,
        cache_write_tokens=written,
    )


def usage_from_body(body: bytes) -> Usage | None:
    if b'"usage"' not in body:
        return None
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return usage_from_mapping(parsed.get("usage")) if isinstance(parsed, dict) else None
