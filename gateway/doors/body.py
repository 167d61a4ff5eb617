"""What every door checks of a JSON request body before it can route it."""

from __future__ import annotations

import re
from typing import Any

import orjson

from gateway.errors import InvalidRequest

# The route name is echoed in response headers, where control characters are invalid.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def load_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, parsed once."""
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
    return payload


def check_model(payload: dict[str, Any], route_from_header: bool) -> None:
    model = payload.get("model")
    if model is None and not route_from_header:
        raise InvalidRequest("missing required parameter: 'model'", param="model")
    if model is not None and (not isinstance(model, str) or not model):
        raise InvalidRequest("'model' must be a non-empty string", param="model")
    if model is not None and _CONTROL.search(model):
        raise InvalidRequest("'model' must not contain control characters", param="model")


def check_type(payload: dict[str, Any], name: str, kind: type, label: str) -> None:
    """An optional field, when present, must be of ``kind`` (``label`` in the message)."""
    value = payload.get(name)
    if value is None:
        return
    # JSON's true/false are Python ints too: only a boolean field takes them.
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise InvalidRequest(f"'{name}' must be {label}", param=name)


def check_stream(payload: dict[str, Any]) -> bool:
    stream = payload.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise InvalidRequest("'stream' must be a boolean", param="stream")
    return stream is True


def check_messages(payload: dict[str, Any]) -> list[dict[str, Any]]:
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
    return messages
