"""The real ``openai`` SDK against a running gateway in front of a fake upstream."""

from __future__ import annotations

import openai
import pytest

from tests.conftest import GatewayFactory
from tests.support.configs import upstream_config
from tests.support.fake_upstream import FakeUpstream, error, ok, rate_limited

MESSAGES = [{"role": "user", "content": "hello there"}]


def client(gateway_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway_url, api_key="client-secret", max_retries=0)


def test_non_streaming_answer(fake_upstream: FakeUpstream, gateway_factory: GatewayFactory) -> None:
    fake_upstream.set("m1", ok("the answer"))
    gw = gateway_factory(
        upstream_config(fake_upstream.base_url, ["m1"]), env={"FAKE_UPSTREAM_KEY": "sk-upstream"}
    )
    raw = client(gw.base_url).chat.completions.with_raw_response.create(
        model="chat", messages=MESSAGES
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "the answer"
    assert completion.usage is not None and completion.usage.prompt_tokens == 11
    assert raw.headers["x-gateway-route"] == "chat"
    assert raw.headers["x-gateway-provider"] == "fake"
    assert raw.headers["x-gateway-model"] == "m1"
    assert raw.headers["x-gateway-attempts"] == "1"
    assert raw.headers["x-request-id"]
    assert [r.model for r in fake_upstream.hits()] == ["m1"]


def test_stream_with_include_usage(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    fake_upstream.set("m1", ok("one two three four five"))
    gw = gateway_factory(upstream_config(fake_upstream.base_url, ["m1"]))
    chunks = list(
        client(gw.base_url).chat.completions.create(
            model="chat", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four five"
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == 1 and usage_chunks[0].usage is not None
    assert usage_chunks[0].usage.completion_tokens == 7


def test_stream_without_include_usage_hides_usage(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory
) -> None:
    fake_upstream.set("m1", ok("alpha beta gamma"))
    gw = gateway_factory(upstream_config(fake_upstream.base_url, ["m1"]))
    chunks = list(
        client(gw.base_url).chat.completions.create(model="chat", messages=MESSAGES, stream=True)
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "alpha beta gamma"
    )
    assert all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks)
    # The gateway asked upstream for usage on the client's behalf.
    assert fake_upstream.hits("m1")[0].body["stream_options"] == {"include_usage": True}


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
TOOL_CALLS = [
    {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
]


@pytest.mark.parametrize("stream", [False, True])
def test_tools_pass_through_both_ways(
    fake_upstream: FakeUpstream, gateway_factory: GatewayFactory, stream: bool
) -> None:
    fake_upstream.set("m1", ok(tool_calls=TOOL_CALLS))
    gw = gateway_factory(upstream_config(fake_upstream.base_url, ["m1"]))
    sdk = client(gw.base_url)
    if stream:
        chunks = list(
            sdk.chat.completions.create(
                model="chat", messages=MESSAGES, tools=TOOLS, tool_choice="auto", stream=True
            )
        )
        calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
        assert calls[0].function is not None
        assert calls[0].function.name == "get_weather"
        assert calls[0].function.arguments == '{"city": "Paris"}'
    else:
        completion = sdk.chat.completions.create(
            model="chat", messages=MESSAGES, tools=TOOLS, tool_choice="auto"
        )
        message = completion.choices[0].message
        assert completion.choices[0].finish_reason == "tool_calls"
        assert message.tool_calls is not None
        assert message.tool_calls[0].function.name == "get_weather"  # type: ignore[union-attr]
    sent = fake_upstream.hits("m1")[0].body
    assert sent["tools"] == TOOLS
    assert sent["tool_choice"] == "auto"

    # And the tool result goes back up unchanged.
    follow_up = [
        *MESSAGES,
        {"role": "assistant", "content": None, "tool_calls": TOOL_CALLS},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    fake_upstream.set("m1", ok("It is sunny."))
    answer = sdk.chat.completions.create(model="chat", messages=follow_up, tools=TOOLS)
    assert answer.choices[0].message.content == "It is sunny."
    assert fake_upstream.hits("m1")[-1].body["messages"] == follow_up


@pytest.mark.parametrize(
    ("behavior", "exc_class", "status"),
    [
        (error(400, "bad param", type_="invalid_request_error"), openai.BadRequestError, 400),
        (error(404, "no such model", type_="invalid_request_error"), openai.NotFoundError, 404),
        (rate_limited(retry_after=1), openai.RateLimitError, 429),
        (error(500, "boom"), openai.InternalServerError, None),
    ],
)
def test_upstream_errors_raise_matching_sdk_exceptions(
    fake_upstream: FakeUpstream,
    gateway_factory: GatewayFactory,
    behavior: object,
    exc_class: type[openai.APIStatusError],
    status: int | None,
) -> None:
    fake_upstream.set("m1", behavior)  # type: ignore[arg-type]
    gw = gateway_factory(upstream_config(fake_upstream.base_url, ["m1"]))
    with pytest.raises(exc_class) as raised:
        client(gw.base_url).chat.completions.create(model="chat", messages=MESSAGES)
    if status is not None:
        assert raised.value.status_code == status
    else:
        assert raised.value.status_code >= 500
    body = raised.value.body
    assert isinstance(body, dict) and "message" in body
