"""Reading token usage from OpenAI-shaped bodies and stream events."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.observability.record import Usage

# Far above any context window (10M tokens at most today), and low enough that a
# request's exact cost at the highest allowed price fits an int64 counter.
MAX_TOKENS = 2**28


def _count(value: Any) -> int:
    # No request has hundreds of millions of tokens: a larger count is garbage, and
    # would overflow the int64 counters (Redis HINCRBY) once multiplied by a price.
    valid = isinstance(value, int) and not isinstance(value, bool)
    return value if valid and 0 <= value <= MAX_TOKENS else 0


def _detail(raw: dict[str, Any], details: str, name: str) -> int:
    found = raw.get(details)
    return _count(found.get(name)) if isinstance(found, dict) else 0


def usage_from_mapping(raw: Any) -> Usage | None:
    """Usage in either OpenAI shape: chat's and embeddings' ``prompt_tokens`` /
    ``completion_tokens``, or the Responses API's ``input_tokens`` / ``output_tokens``."""
    if not isinstance(raw, dict):
        return None
    if "input_tokens" in raw:
        return Usage(
            input_tokens=_count(raw.get("input_tokens")),
            output_tokens=_count(raw.get("output_tokens")),
            cached_tokens=_detail(raw, "input_tokens_details", "cached_tokens"),
            reasoning_tokens=_detail(raw, "output_tokens_details", "reasoning_tokens"),
        )
    return Usage(
        input_tokens=_count(raw.get("prompt_tokens")),
        output_tokens=_count(raw.get("completion_tokens")),
        cached_tokens=_detail(raw, "prompt_tokens_details", "cached_tokens"),
        reasoning_tokens=_detail(raw, "completion_tokens_details", "reasoning_tokens"),
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
