"""The classification table and Retry-After parsing (spec §5)."""

from __future__ import annotations

import email.utils

import pytest

from gateway.providers.base import (
    UpstreamConnectError,
    UpstreamError,
    UpstreamStreamBroken,
    UpstreamTimeout,
)
from gateway.providers.openai.errors import is_context_length_error
from gateway.resilience.classify import (
    AVAILABILITY_FAILURES,
    Outcome,
    classify_exception,
    classify_status,
    retry_after_seconds,
)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.SUCCESS),
        (201, Outcome.SUCCESS),
        (429, Outcome.RATE_LIMITED),
        (500, Outcome.UPSTREAM_5XX),
        (502, Outcome.UPSTREAM_5XX),
        (503, Outcome.UPSTREAM_5XX),
        (504, Outcome.UPSTREAM_5XX),
        (529, Outcome.UPSTREAM_5XX),
        (409, Outcome.UPSTREAM_5XX),
        (408, Outcome.TIMEOUT),
        (401, Outcome.BAD_CREDENTIALS),
        (403, Outcome.BAD_CREDENTIALS),
        (400, Outcome.CLIENT_ERROR),
        (404, Outcome.CLIENT_ERROR),
        (413, Outcome.CLIENT_ERROR),
        (422, Outcome.CLIENT_ERROR),
    ],
)
def test_status_classification(status: int, outcome: Outcome) -> None:
    assert classify_status(status) is outcome


def test_context_length_only_for_client_errors() -> None:
    assert classify_status(400, context_length=True) is Outcome.CONTEXT_LENGTH
    assert classify_status(413, context_length=True) is Outcome.CONTEXT_LENGTH
    # Availability statuses win over a body that mentions the context.
    assert classify_status(429, context_length=True) is Outcome.RATE_LIMITED
    assert classify_status(503, context_length=True) is Outcome.UPSTREAM_5XX


def test_availability_failures_fall_over_and_the_rest_do_not() -> None:
    assert (
        frozenset(
            {
                Outcome.RATE_LIMITED,
                Outcome.UPSTREAM_5XX,
                Outcome.TIMEOUT,
                Outcome.TTFT_TIMEOUT,
                Outcome.CONNECT_ERROR,
                Outcome.BAD_CREDENTIALS,
            }
        )
        == AVAILABILITY_FAILURES
    )
    for outcome in (Outcome.CONTEXT_LENGTH, Outcome.CLIENT_ERROR, Outcome.CLIENT_DISCONNECT):
        assert outcome not in AVAILABILITY_FAILURES


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (UpstreamTimeout("t"), Outcome.TIMEOUT),
        (UpstreamConnectError("c"), Outcome.CONNECT_ERROR),
        (UpstreamStreamBroken("b"), Outcome.CONNECT_ERROR),
        (UpstreamError("other"), Outcome.CONNECT_ERROR),
    ],
)
def test_exception_classification(exc: UpstreamError, outcome: Outcome) -> None:
    assert classify_exception(exc) is outcome


@pytest.mark.parametrize(
    "body",
    [
        b'{"error":{"code":"context_length_exceeded"}}',
        b'{"error":{"message":"This model\'s maximum context length is 8192 tokens"}}',
        b'{"error":{"message":"prompt is too long: 210000 tokens > 200000 maximum"}}',
    ],
)
def test_context_length_bodies_are_recognised(body: bytes) -> None:
    assert is_context_length_error(400, body)
    assert not is_context_length_error(500, body)


def test_other_400_is_not_context_length() -> None:
    assert not is_context_length_error(400, b'{"error":{"message":"temperature must be <= 2"}}')


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({}, None),
        ({"retry-after": "12"}, 12.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after-ms": "2500"}, 2.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # the precise one wins
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),
        ({"retry-after": "later, maybe"}, None),
        ({"retry-after": ""}, None),
        ({"Retry-After": "12"}, 12.0),  # any header spelling
        ({"Retry-After-Ms": "1500", "Retry-After": "2"}, 1.5),
    ],
)
def test_retry_after_forms(headers: dict[str, str], seconds: float | None) -> None:
    assert retry_after_seconds(headers) == seconds


def test_retry_after_http_date() -> None:
    now = 1_800_000_000.0
    date = email.utils.formatdate(now + 90, usegmt=True)
    assert retry_after_seconds({"retry-after": date}, now) == pytest.approx(90)
    past = email.utils.formatdate(now - 90, usegmt=True)
    assert retry_after_seconds({"retry-after": past}, now) == 0.0
