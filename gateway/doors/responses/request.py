"""Checking a Responses API body just enough to route it; the upstream checks the rest."""

from __future__ import annotations

import re
from typing import Any

from gateway.doors.body import check_model, check_type, load_object
from gateway.errors import InvalidRequest

# Response ids are sent upstream in URLs and used as state keys: a short token.
RESPONSE_ID = re.compile(r"[A-Za-z0-9_.:-]{1,256}")


def check_response_id(value: Any, param: str) -> str:
    if not isinstance(value, str) or not RESPONSE_ID.fullmatch(value):
        raise InvalidRequest(
            f"'{param}' must be a response id (letters, digits, '_', '-', '.', ':')",
            param=param,
        )
    return value


def parse_responses_body(raw: bytes, route_from_header: bool) -> dict[str, Any]:
    payload = load_object(raw)
    check_model(payload, route_from_header)
    if (
        "input" not in payload
        and "previous_response_id" not in payload
        and ("prompt" not in payload)
    ):
        raise InvalidRequest("missing required parameter: 'input'", param="input")
    raw_input = payload.get("input")
    if raw_input is not None and not isinstance(raw_input, (str, list)):
        raise InvalidRequest("'input' must be a string or an array of items", param="input")
    check_type(payload, "stream", bool, "a boolean")
    check_type(payload, "store", bool, "a boolean")
    if payload.get("previous_response_id") is not None:
        check_response_id(payload["previous_response_id"], "previous_response_id")
    return payload
