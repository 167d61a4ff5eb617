"""Adversarial Messages requests against the in-process gateway (the fuzz suite's
gateway: chat-only members, so every request crosses the translation): whatever the
body, the answer is a success or an Anthropic-shaped 4xx, never a 5xx of the
gateway's own, never a secret, and the gateway still serves afterwards."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.integration.test_fuzz_requests import (  # noqa: F401  (fixtures)
    AUTH,
    FUZZ,
    SECRETS,
    RawResponse,
    assert_still_serving,
    gateway,
    json_values,
    model_names,
    raw_request,
    upstream,
)
from tests.support.inprocess import InProcessGateway

MESSAGES_FUZZ = settings(FUZZ, max_examples=80)
ERROR_TYPES = {
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "not_found_error",
    "request_too_large",
    "rate_limit_error",
    "api_error",
    "overloaded_error",
}

blocks = st.one_of(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(
                ["text", "image", "tool_use", "tool_result", "thinking", "document", "x"]
            )
        },
        optional={
            "text": json_values,
            "source": json_values,
            "id": json_values,
            "name": json_values,
            "input": json_values,
            "tool_use_id": json_values,
            "content": json_values,
            "is_error": json_values,
            "cache_control": json_values,
        },
    ),
    json_values,
)
turns = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "assistant"]) | json_values},
        optional={"content": st.one_of(st.text(max_size=10), st.lists(blocks, max_size=3))},
    ),
    max_size=3,
)
messages_bodies = st.fixed_dictionaries(
    {},
    optional={
        "model": model_names,
        "messages": st.one_of(st.just([{"role": "user", "content": "hi"}]), turns, json_values),
        "max_tokens": st.one_of(st.integers(min_value=-2, max_value=5000), json_values),
        "stream": st.one_of(st.booleans(), json_values),
        "system": st.one_of(st.text(max_size=10), st.lists(blocks, max_size=2), json_values),
        "tools": st.one_of(st.lists(json_values, max_size=2), json_values),
        "tool_choice": json_values,
        "thinking": json_values,
        "stop_sequences": json_values,
        "metadata": json_values,
    },
)


def assert_anthropic_sane(response: RawResponse | None) -> None:
    assert response is not None, "the gateway closed the connection without an answer"
    for secret in SECRETS:
        assert secret.encode() not in response.body, response.body[:300]
    assert response.status < 500, (response.status, response.body[:500])
    content_type = response.header("content-type") or ""
    if response.status >= 400:
        body = json.loads(response.body)
        assert body["type"] == "error" and body["error"]["type"] in ERROR_TYPES, body
        assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    elif content_type.startswith("text/event-stream"):
        tail = response.body[-300:]
        assert b"event: message_stop" in tail or b"event: error" in tail, tail
    else:
        assert json.loads(response.body)["type"] == "message"
    assert response.header("x-request-id")


@MESSAGES_FUZZ
@given(body=messages_bodies)
def test_arbitrary_messages_bodies(
    gateway: InProcessGateway,  # noqa: F811
    body: dict[str, Any],
) -> None:
    raw = json.dumps(body).encode()
    headers = [AUTH, (b"content-type", b"application/json")]
    assert_anthropic_sane(raw_request(gateway.port, "POST", "/v1/messages", headers, raw))


def test_still_serving_after_the_messages_fuzz(gateway: InProcessGateway) -> None:  # noqa: F811
    assert_still_serving(gateway)
