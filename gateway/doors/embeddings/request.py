"""Checking an embeddings body just enough to route it; the upstream checks the rest.

``input`` is a string, an array of strings, an array of tokens or an array of token
arrays; ``encoding_format`` and ``dimensions`` pass through untouched.
"""

from __future__ import annotations

from typing import Any

from gateway.doors.body import check_model, check_type, load_object
from gateway.errors import InvalidRequest

ENCODING_FORMATS = ("float", "base64")
_STRINGS = {str}
_TOKENS = {int}  # JSON's true/false are of type bool: never tokens
_TOKEN_ARRAYS = {list}


def _is_tokens(value: Any) -> bool:
    return isinstance(value, list) and set(map(type, value)) == _TOKENS


def input_estimate(value: Any) -> int:
    """Checks ``input``; returns a token estimate of the largest input (about 4
    characters a token), which a model's context window bounds.

    A batch is one kind of input throughout in practice: that is checked a whole array
    at a time; only a mixed or invalid one is walked item by item."""
    if isinstance(value, str):
        if not value:
            raise InvalidRequest("'input' must not be an empty string", param="input")
        return len(value) // 4
    if value is None:
        raise InvalidRequest("missing required parameter: 'input'", param="input")
    if not isinstance(value, list) or not value:
        raise InvalidRequest(
            "'input' must be a string, an array of strings, or an array of token arrays",
            param="input",
        )
    kinds = set(map(type, value))
    if kinds == _STRINGS:
        if all(value):  # no empty string
            return max(map(len, value)) // 4
    elif kinds == _TOKENS:
        return len(value)
    elif kinds == _TOKEN_ARRAYS and all(set(map(type, item)) == _TOKENS for item in value):
        return max(map(len, value))
    return _item_by_item(value)


def _item_by_item(value: list[Any]) -> int:
    """``input_estimate`` of a mixed array, or the error naming its first bad item."""
    longest = 0
    for i, item in enumerate(value):
        if isinstance(item, str):
            if not item:
                raise InvalidRequest(f"'input[{i}]' must not be empty", param=f"input[{i}]")
            longest = max(longest, len(item) // 4)
        elif _is_tokens(item):
            longest = max(longest, len(item))
        else:
            raise InvalidRequest(
                f"'input[{i}]' must be a string or an array of integer tokens",
                param=f"input[{i}]",
            )
    return longest


def parse_embeddings_body(raw: bytes, route_from_header: bool) -> tuple[dict[str, Any], int]:
    """The checked body, and ``input_estimate`` of its input."""
    payload = load_object(raw)
    check_model(payload, route_from_header)
    estimate = input_estimate(payload.get("input"))
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
    return payload, estimate
