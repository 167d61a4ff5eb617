"""The embeddings door's body check: every input shape, its estimate and its errors."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.doors.embeddings.request import input_estimate, parse_embeddings_body
from gateway.errors import InvalidRequest


@pytest.mark.parametrize(
    ("value", "estimate"),
    [
        ("x" * 40, 10),
        (["x" * 8, "x" * 40, "x"], 10),
        ([5, 6, 7], 3),
        ([[1, 2], [3, 4, 5, 6]], 4),
        (["x" * 40, [1, 2]], 10),  # a mixed batch is walked item by item
        ([[1] * 12, "x" * 8], 12),
    ],
)
def test_the_estimate_is_the_largest_input(value: Any, estimate: int) -> None:
    assert input_estimate(value) == estimate


@pytest.mark.parametrize(
    ("value", "param"),
    [
        (None, "input"),
        ("", "input"),
        ([], "input"),
        ({"text": "x"}, "input"),
        (["a", ""], "input[1]"),
        ([1, "a"], "input[0]"),
        ([True, False], "input[0]"),  # JSON booleans are not tokens
        ([[1], []], "input[1]"),
        ([[1, True]], "input[0]"),
        ([1.5], "input[0]"),
        (["a", None], "input[1]"),
    ],
)
def test_a_bad_input_names_what_is_wrong(value: Any, param: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        input_estimate(value)
    assert refused.value.param == param


def test_the_body_is_parsed_once_with_its_estimate() -> None:
    body = {"model": "e", "input": ["x" * 12, "x" * 4], "encoding_format": "base64"}
    payload, estimate = parse_embeddings_body(orjson.dumps(body), False)
    assert payload == body and estimate == 3
    with pytest.raises(InvalidRequest) as refused:
        parse_embeddings_body(orjson.dumps({**body, "dimensions": 0}), False)
    assert refused.value.param == "dimensions"
