"""Checking an embeddings body just enough to route it; the upstream checks the rest.

``input`` is a string, an array of strings, an array of tokens or an array of token
arrays; ``encoding_format`` and ``dimensions`` pass through untouched.
"""

from __future__ import annotations

from typing import Any

from gateway.doors.body import check_model, check_type, load_object
from gateway.errors import InvalidRequest

ENCODING_FORMATS = ("float", "base64")


def _is_tokens(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(t, int) and not isinstance(t, bool) for t in value)
    )


def _check_input(value: Any) -> None:
    if value is None:
        raise InvalidRequest("missing required parameter: 'input'", param="input")
    if isinstance(value, str):
        if not value:
            raise InvalidRequest("'input' must not be an empty string", param="input")
        return
    if not isinstance(value, list) or not value:
        raise InvalidRequest(
            "'input' must be a string, an array of strings, or an array of token arrays",
            param="input",
        )
    if _is_tokens(value):
        return
    for i, item in enumerate(value):
        if isinstance(item, str):
            if not item:
                raise InvalidRequest(f"'input[{i}]' must not be empty", param=f"input[{i}]")
        elif not _is_tokens(item):
            raise InvalidRequest(
                f"'input[{i}]' must be a string or an array of integer tokens",
                param=f"input[{i}]",
            )


def parse_embeddings_body(raw: bytes, route_from_header: bool) -> dict[str, Any]:
    payload = load_object(raw)
    check_model(payload, route_from_header)
    _check_input(payload.get("input"))
    fmt = payload.get("encoding_format")
    if fmt is not None and fmt not in ENCODING_FORMATS:
        raise InvalidRequest(
            "'encoding_format' must be 'float' or 'base64'", param="encoding_format"
        )
    check_type(payload, "dimensions", int, "a positive integer")
    dimensions = payload.get("dimensions")
    if dimensions is not None and dimensions < 1:
        raise InvalidRequest("'dimensions' must be a positive integer", param="dimensions")
    if payload.get("stream") is True:
        raise InvalidRequest("embeddings do not stream", param="stream")
    return payload


def largest_input_tokens(value: Any) -> int:
    """A token estimate of the largest input (about 4 characters a token)."""
    if isinstance(value, str):
        return len(value) // 4
    if _is_tokens(value):
        return len(value)
    return max((len(v) // 4 if isinstance(v, str) else len(v) for v in value), default=0)
