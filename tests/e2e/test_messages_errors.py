"""Errors on ``/v1/messages`` through a running ``gateway serve``: the Anthropic SDK's
typed exceptions, 529 when every member is overloaded, bad input in Anthropic's shape,
and a stream broken after output."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import pytest

from tests.support.fake_anthropic import FakeAnthropic, overloaded, overloaded_after_start
from tests.support.fake_upstream import FakeUpstream, break_stream
from tests.support.gateway_process import GatewayProcess
from tests.support.messages_setup import CLIENT_KEY, sdk

HELLO: list[Any] = [{"role": "user", "content": "hello"}]


def test_every_member_overloaded_is_a_529_overloaded_error(
    messages_gateway: GatewayProcess, fakes: tuple[FakeAnthropic, FakeUpstream]
) -> None:
    claude, _ = fakes
    claude.set("claude-busy-1", overloaded())
    claude.set("claude-busy-2", overloaded_after_start())
    with pytest.raises(anthropic.APIStatusError) as caught:
        with sdk(messages_gateway).messages.stream(
            model="busy", max_tokens=50, messages=HELLO
        ) as s:
            s.get_final_message()
    error = caught.value
    assert error.status_code == 529
    assert error.body["type"] == "error"  # type: ignore[index]
    assert error.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert int(error.response.headers["retry-after"]) >= 1
    assert error.response.headers["x-gateway-route"] == "busy"


def test_errors_are_the_sdks_typed_exceptions(
    messages_gateway: GatewayProcess, fakes: tuple[FakeAnthropic, FakeUpstream]
) -> None:
    with pytest.raises(anthropic.NotFoundError) as missing:
        sdk(messages_gateway).messages.create(model="no-such-route", max_tokens=10, messages=HELLO)
    assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    with pytest.raises(anthropic.AuthenticationError):
        sdk(messages_gateway, api_key="wrong").messages.create(
            model="sonnet", max_tokens=10, messages=HELLO
        )
    # The upstream's own refusal passes through, typed as well.
    with pytest.raises(anthropic.BadRequestError) as refused:
        sdk(messages_gateway).messages.create(
            model="sonnet",
            max_tokens=2000,
            thinking={"type": "enabled", "budget_tokens": 4000},
            messages=HELLO,
        )
    assert "budget_tokens" in refused.value.message
    # The gateway's own check, in Anthropic's shape.
    response = httpx.post(
        messages_gateway.base_url + "/messages",
        headers={"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"},
        json={"model": "sonnet", "messages": HELLO},
    )
    assert response.status_code == 400
    assert response.json() == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"},
    }


# -- streams that break, bad input, metrics ----------------------------------


def test_a_stream_broken_after_output_ends_with_an_anthropic_error_event(
    messages_gateway: GatewayProcess, fakes: tuple[FakeAnthropic, FakeUpstream]
) -> None:
    _, upstream = fakes
    upstream.set("gpt-x", break_stream(after=2, reply="one two three four five six"))
    seen: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        with sdk(messages_gateway).messages.stream(
            model="gpt-route", max_tokens=50, messages=HELLO
        ) as stream:
            for event in stream:
                seen.append(event.type)
    assert "text" in seen  # output had reached the client before the break
    assert caught.value.body["error"]["type"] == "api_error"  # type: ignore[index]
    assert "upstream" in caught.value.body["error"]["message"]  # type: ignore[index]


def request_body(**changes: Any) -> bytes:
    body: dict[str, Any] = {"model": "sonnet", "max_tokens": 5, "messages": HELLO, **changes}
    return json.dumps(body).encode()


MESSAGES = "/messages"
COUNT = "/messages/count_tokens"


@pytest.mark.parametrize(
    ("path", "body", "status", "error_type"),
    [
        (MESSAGES, b"{not json", 400, "invalid_request_error"),
        (MESSAGES, b"[1, 2]", 400, "invalid_request_error"),
        (
            MESSAGES,
            request_body(messages=[{"role": "system", "content": "x"}]),
            400,
            "invalid_request_error",
        ),
        (MESSAGES, request_body(max_tokens="5"), 400, "invalid_request_error"),
        (MESSAGES, request_body(messages=[]), 400, "invalid_request_error"),
        (MESSAGES, request_body(stream="yes"), 400, "invalid_request_error"),
        (MESSAGES, request_body(model="nope"), 404, "not_found_error"),
        (MESSAGES, request_body(system="x" * 21_000_000), 413, "request_too_large"),
        (COUNT, b"{", 400, "invalid_request_error"),
        (COUNT, json.dumps({"model": "sonnet"}).encode(), 400, "invalid_request_error"),
        (COUNT, json.dumps({"model": "nope", "messages": HELLO}).encode(), 404, "not_found_error"),
        (COUNT, request_body(system="x" * 21_000_000), 413, "request_too_large"),
    ],
    ids=[
        "not-json",
        "not-object",
        "bad-role",
        "max-tokens-type",
        "no-messages",
        "stream-type",
        "unknown-model",
        "too-large",
        "count-not-json",
        "count-no-messages",
        "count-unknown-model",
        "count-too-large",
    ],
)
def test_bad_input_gets_an_anthropic_error_and_the_gateway_keeps_serving(
    messages_gateway: GatewayProcess,
    fakes: tuple[FakeAnthropic, FakeUpstream],
    path: str,
    body: bytes,
    status: int,
    error_type: str,
) -> None:
    url = messages_gateway.base_url + path
    headers = {"x-api-key": CLIENT_KEY, "content-type": "application/json"}
    response = httpx.post(url, content=body, headers=headers)
    assert response.status_code == status
    payload = response.json()
    assert payload["type"] == "error" and payload["error"]["type"] == error_type
    assert payload["error"]["message"]
    assert response.headers["x-request-id"]
    unauthorized = httpx.post(url, content=body[:1000])
    assert unauthorized.status_code == 401
    assert unauthorized.json()["error"]["type"] == "authentication_error"
    answer = sdk(messages_gateway).messages.create(model="sonnet", max_tokens=5, messages=HELLO)
    assert answer.content
