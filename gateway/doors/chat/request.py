"""Checking a chat completions body just enough to route it; the upstream checks the rest."""

from __future__ import annotations

from typing import Any

from gateway.doors.body import check_messages, check_model, check_type, load_object


def parse_chat_body(raw: bytes, route_from_header: bool) -> dict[str, Any]:
    payload = load_object(raw)
    check_model(payload, route_from_header)
    check_messages(payload)
    check_type(payload, "stream", bool, "a boolean")
    check_type(payload, "stream_options", dict, "an object")
    return payload
