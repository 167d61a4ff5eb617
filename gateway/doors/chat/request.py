"""Checking a chat completions body just enough to route it; the upstream checks the rest."""

from __future__ import annotations

from typing import Any

from gateway.doors.body import check_model, check_type, load_object
from gateway.errors import InvalidRequest


def parse_chat_body(raw: bytes, route_from_header: bool) -> dict[str, Any]:
    payload = load_object(raw)
    check_model(payload, route_from_header)
    if "messages" not in payload:
        raise InvalidRequest("missing required parameter: 'messages'", param="messages")
    messages = payload["messages"]
    if not isinstance(messages, list):
        raise InvalidRequest("'messages' must be an array of message objects", param="messages")
    if not messages:
        raise InvalidRequest("'messages' must contain at least one message", param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidRequest(f"'messages[{i}]' must be an object", param=f"messages[{i}]")
    check_type(payload, "stream", bool, "a boolean")
    check_type(payload, "stream_options", dict, "an object")
    return payload
