"""Checking a chat completions body just enough to route it; the upstream checks the rest."""

from __future__ import annotations

import re
from typing import Any

import orjson

from gateway.errors import InvalidRequest

# The route name is echoed in response headers, where control characters are invalid.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def parse_chat_body(raw: bytes, route_from_header: bool) -> dict[str, Any]:
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise InvalidRequest("the request body must be a JSON object")
    # orjson reads 1024 levels deep but writes only 254: a body nested deeper than it
    # can write again would fail after routing, as a 500. Only a body with that many
    # brackets can be that deep, so the common case costs two byte counts.
    if raw.count(b"[") + raw.count(b"{") > 250:
        try:
            orjson.dumps(payload)
        except orjson.JSONEncodeError:
            raise InvalidRequest("the request body is nested too deeply") from None
    model = payload.get("model")
    if model is None and not route_from_header:
        raise InvalidRequest("missing required parameter: 'model'", param="model")
    if model is not None and (not isinstance(model, str) or not model):
        raise InvalidRequest("'model' must be a non-empty string", param="model")
    if model is not None and _CONTROL.search(model):
        raise InvalidRequest("'model' must not contain control characters", param="model")
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
    stream = payload.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise InvalidRequest("'stream' must be a boolean", param="stream")
    options = payload.get("stream_options")
    if options is not None and not isinstance(options, dict):
        raise InvalidRequest("'stream_options' must be an object", param="stream_options")
    return payload
