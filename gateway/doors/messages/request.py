"""Checking a Messages body just enough to route it; the upstream checks the rest.

Anthropic requires ``max_tokens`` where OpenAI does not: a body without it would fail
at every Anthropic member, so it is refused here, in Anthropic's words.
"""

from __future__ import annotations

from typing import Any

from gateway.doors.body import check_messages, check_model, check_stream, load_object
from gateway.errors import InvalidRequest

_ROLES = ("user", "assistant")


def parse_messages_body(raw: bytes, route_from_header: bool) -> dict[str, Any]:
    payload = load_object(raw)
    check_model(payload, route_from_header)
    for i, message in enumerate(check_messages(payload)):
        if message.get("role") not in _ROLES:
            raise InvalidRequest(
                f"messages.{i}.role: Input should be 'user' or 'assistant'",
                param=f"messages[{i}].role",
            )
        content = message.get("content")
        if not isinstance(content, str | list):
            raise InvalidRequest(
                f"messages.{i}.content: Input should be a string or a list of content blocks",
                param=f"messages[{i}].content",
            )
    max_tokens = payload.get("max_tokens")
    if max_tokens is None:
        raise InvalidRequest("max_tokens: Field required", param="max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise InvalidRequest("max_tokens: Input should be a positive integer", param="max_tokens")
    system = payload.get("system")
    if system is not None and not isinstance(system, str | list):
        raise InvalidRequest(
            "system: Input should be a string or a list of text blocks", param="system"
        )
    check_stream(payload)
    return payload


def parse_count_tokens_body(raw: bytes, route_from_header: bool) -> dict[str, Any]:
    payload = load_object(raw)
    check_model(payload, route_from_header)
    check_messages(payload)
    return payload
