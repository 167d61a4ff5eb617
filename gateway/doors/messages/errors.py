"""The gateway's own errors in Anthropic's shape, with the statuses Anthropic uses."""

from __future__ import annotations

import orjson

from gateway.errors import GatewayError, NoMemberAvailable
from gateway.translate.anthropic.errors import messages_error_type

OVERLOADED = 529


def error_status(error: GatewayError) -> int:
    if isinstance(error, NoMemberAvailable) and error.all_overloaded:
        return OVERLOADED
    return error.status


def error_body(error: GatewayError) -> bytes:
    payload = {
        "type": "error",
        "error": {"type": messages_error_type(error_status(error)), "message": error.message},
    }
    return orjson.dumps(payload)
