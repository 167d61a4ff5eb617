"""Checking a chat completions body just enough to route it; the upstream checks the rest."""

from __future__ import annotations

from typing import Any

from gateway.doors.body import check_messages, check_model, check_stream, load_object
from gateway.errors import InvalidRequest


def parse_chat_body(raw: bytes, route_from_header: bool) -> dict[str, Any]:
    payload = load_object(raw)
    check_model(payload, route_from_header)
    check_messages(payload)
    check_stream(payload)
    options = payload.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise InvalidRequest("'stream_options' must be an object", param="stream_options")
    return payload
