"""The ``anthropic`` kind over real sockets, with the OpenAI SDK as the client: the
gateway speaks OpenAI to the client and the Messages API to a fake Anthropic."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from gateway.config.loader import ConfigError, load_config_text
from tests.integration.test_fallback import cooldowns, outcomes
from tests.support.fake_anthropic import (
    FakeAnthropic,
    error,
    message,
    overloaded,
    prompt_too_long,
    providers_section,
    rate_limited,
    stream_error,
)
from tests.support.fake_upstream import FakeUpstream, ok
from tests.support.inprocess import (
    InProcessFactory,
    InProcessGateway,
    inprocess_gateway,  # noqa: F401  (fixture)
)

MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "hello"},
]
WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
CALL = {"id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}}


@pytest.fixture(autouse=True)
def _anthropic_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_TEST_KEY", "sk-ant-test\n")


def claude_config(anthropic: FakeAnthropic, openai_base: str, **provider: Any) -> dict[str, Any]:
    providers = providers_section(anthropic, openai_base)
    providers["claude"].update(provider)
    return {
        "server": {"api_keys_env": None},
        "providers": providers,
        "models": {
            "sonnet": {"provider": "claude", "model": "claude-sonnet", "context_window": 8192},
            "opus": {"provider": "claude", "model": "claude-opus", "context_window": 200_000},
            "gpt": {"provider": "fake", "model": "gpt-backup"},
        },
        "routes": {
            "chat": {"pool": ["sonnet", "gpt"]},
            "long": {"pool": ["sonnet", "opus"]},
        },
        "resilience": {"cooldown_s": 30, "max_cooldown_s": 300, "ttft_timeout_s": 2},
    }


@pytest.fixture
def gw(
    fake_anthropic: FakeAnthropic,
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> InProcessGateway:
    return inprocess_gateway(claude_config(fake_anthropic, fake_upstream.base_url))


def sdk(gw: InProcessGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key="sk-client", max_retries=0, timeout=10)


def test_completion_reads_as_openai_and_the_upstream_request_as_anthropic(
    fake_anthropic: FakeAnthropic, gw: InProcessGateway
) -> None:
    fake_anthropic.set("claude-sonnet", message("Hi there"))

    completion = sdk(gw).chat.completions.create(model="chat", messages=MESSAGES)

    assert completion.choices[0].message.content == "Hi there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 28  # 20 + 5 cache read + 3 cache write
    assert completion.usage.completion_tokens == 9
    assert completion.usage.total_tokens == 37
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 5
    usage = gw.wait_for_records(1)[0].usage
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens, usage.cached_tokens) == (28, 9, 5)

    (hit,) = fake_anthropic.hits()
    assert hit.path == "/v1/messages"
    assert hit.headers["x-api-key"] == "sk-ant-test"
    assert hit.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in hit.headers
    assert hit.headers["x-request-id"]
    assert hit.body == {
        "model": "claude-sonnet",
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "hello"}],
        "max_tokens": 4096,
    }


def stream_chunks(gw: InProcessGateway, **kw: Any) -> list[Any]:
    return list(sdk(gw).chat.completions.create(model="chat", messages=MESSAGES, stream=True, **kw))


def test_stream_with_include_usage_ends_with_a_usage_chunk(
    fake_anthropic: FakeAnthropic, gw: InProcessGateway
) -> None:
    # Pieces of 7 bytes split every event, and most lines, across reads.
    fake_anthropic.set("claude-sonnet", message("one two three four", piece_size=7))

    chunks = stream_chunks(gw, stream_options={"include_usage": True}, max_tokens=50)

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four"
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == 28
    assert chunks[-1].usage.completion_tokens == 9
    (hit,) = fake_anthropic.hits()
    assert hit.body["stream"] is True
    assert hit.body["max_tokens"] == 50
    assert "stream_options" not in hit.body
    assert hit.headers["x-api-key"] == "sk-ant-test"


def test_stream_without_include_usage_has_no_usage_chunk_but_is_accounted(
    fake_anthropic: FakeAnthropic, gw: InProcessGateway
) -> None:
    fake_anthropic.set("claude-sonnet", message("just text", piece_size=3))

    chunks = stream_chunks(gw)

    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "just text"
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)
    usage = gw.wait_for_records(1)[0].usage
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens) == (28, 9)


def test_tool_calls_round_trip(fake_anthropic: FakeAnthropic, gw: InProcessGateway) -> None:
    fake_anthropic.set("claude-sonnet", message(None, tool_uses=[CALL]))
    client = sdk(gw)

    completion = client.chat.completions.create(
        model="chat", messages=MESSAGES, tools=[WEATHER_TOOL], tool_choice="required"
    )

    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None
    (call,) = choice.message.tool_calls
    assert call.id == "toolu_01"
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]
    first = fake_anthropic.hits()[0].body
    assert first["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": WEATHER_TOOL["function"]["parameters"],
        }
    ]
    assert first["tool_choice"] == {"type": "any"}

    fake_anthropic.set("claude-sonnet", message("It is sunny in Paris."))
    follow_up: list[Any] = [
        *MESSAGES,
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": "toolu_01", "content": "sunny, 21C"},
    ]
    answer = client.chat.completions.create(model="chat", messages=follow_up, tools=[WEATHER_TOOL])
    assert answer.choices[0].message.content == "It is sunny in Paris."
    second = fake_anthropic.hits()[1].body
    assert second["messages"] == [
        {"role": "user", "content": "hello"},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_01",
                    "name": "get_weather",
                    "input": CALL["input"],
                }
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": "sunny, 21C"}
            ],
        },
    ]


def test_streamed_tool_calls_assemble_in_the_sdk(
    fake_anthropic: FakeAnthropic, gw: InProcessGateway
) -> None:
    second = {"id": "toolu_02", "name": "get_weather", "input": {"city": "Oslo"}}
    fake_anthropic.set(
        "claude-sonnet", message("Checking.", tool_uses=[CALL, second], piece_size=5)
    )

    with sdk(gw).chat.completions.stream(
        model="chat", messages=MESSAGES, tools=[WEATHER_TOOL]
    ) as stream:
        final = stream.get_final_completion()

    reply = final.choices[0].message
    assert reply.content == "Checking."
    assert final.choices[0].finish_reason == "tool_calls"
    assert reply.tool_calls is not None
    assert [(c.id, json.loads(c.function.arguments)) for c in reply.tool_calls] == [
        ("toolu_01", {"city": "Paris"}),
        ("toolu_02", {"city": "Oslo"}),
    ]


def test_rate_limit_falls_over_and_parks_for_retry_after(
    fake_anthropic: FakeAnthropic, fake_upstream: FakeUpstream, gw: InProcessGateway
) -> None:
    fake_anthropic.set("claude-sonnet", rate_limited(retry_after=40))
    fake_upstream.set("gpt-backup", ok("from gpt"))

    completion = sdk(gw).chat.completions.create(model="chat", messages=MESSAGES)

    assert completion.choices[0].message.content == "from gpt"
    assert outcomes(gw) == [("sonnet", "rate_limited"), ("gpt", "success")]
    parked = cooldowns(gw)
    assert len(parked) == 1
    assert 30 < next(iter(parked.values())) <= 40  # Retry-After, not cooldown_s


@pytest.mark.parametrize("stream", [False, True])
def test_overloaded_falls_over(
    fake_anthropic: FakeAnthropic, fake_upstream: FakeUpstream, gw: InProcessGateway, stream: bool
) -> None:
    fake_anthropic.set("claude-sonnet", overloaded())
    fake_upstream.set("gpt-backup", ok("from gpt"))

    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in stream_chunks(gw) if c.choices)
    else:
        reply = sdk(gw).chat.completions.create(model="chat", messages=MESSAGES)
        text = reply.choices[0].message.content or ""

    assert text == "from gpt"
    assert outcomes(gw) == [("sonnet", "upstream_5xx"), ("gpt", "success")]


def test_an_error_event_before_content_falls_over(
    fake_anthropic: FakeAnthropic, fake_upstream: FakeUpstream, gw: InProcessGateway
) -> None:
    fake_anthropic.set("claude-sonnet", stream_error())
    fake_upstream.set("gpt-backup", ok("from gpt"))

    chunks = stream_chunks(gw)

    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "from gpt"
    assert outcomes(gw) == [("sonnet", "upstream_5xx"), ("gpt", "success")]


@pytest.mark.parametrize("stream", [False, True])
def test_invalid_request_is_an_openai_shaped_400(
    fake_anthropic: FakeAnthropic, fake_upstream: FakeUpstream, gw: InProcessGateway, stream: bool
) -> None:
    fake_anthropic.set(
        "claude-sonnet", error(400, "invalid_request_error", "temperature: must be at most 1")
    )

    with pytest.raises(openai.BadRequestError) as raised:
        sdk(gw).chat.completions.create(
            model="chat", messages=MESSAGES, temperature=1.5, stream=stream
        )

    assert raised.value.status_code == 400
    assert raised.value.body == {
        "message": "temperature: must be at most 1",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    assert fake_upstream.hits() == []  # the client's mistake: no failover


def test_prompt_too_long_escalates_to_a_larger_context_window(
    fake_anthropic: FakeAnthropic, gw: InProcessGateway
) -> None:
    fake_anthropic.set("claude-sonnet", prompt_too_long())
    fake_anthropic.set("claude-opus", message("from opus"))

    completion = sdk(gw).chat.completions.create(model="long", messages=MESSAGES)

    assert completion.choices[0].message.content == "from opus"
    assert outcomes(gw) == [("sonnet", "context_length"), ("opus", "success")]
    assert cooldowns(gw) == {}


def test_prompt_too_long_without_a_larger_member_is_the_clients(
    fake_anthropic: FakeAnthropic, gw: InProcessGateway
) -> None:
    fake_anthropic.set("claude-opus", prompt_too_long())

    response = httpx.post(
        gw.url + "/v1/chat/completions",
        json={"model": "opus", "messages": [{"role": "user", "content": "x"}]},
        timeout=10,
    )

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == "context_length_exceeded"
    assert "prompt is too long" in response.json()["error"]["message"]


def test_configured_headers_override_the_version_and_add_a_beta(
    fake_anthropic: FakeAnthropic,
    fake_upstream: FakeUpstream,
    inprocess_gateway: InProcessFactory,  # noqa: F811
) -> None:
    headers = {"Anthropic-Version": "2024-01-01", "anthropic-beta": "tools-2024"}
    config = claude_config(fake_anthropic, fake_upstream.base_url, headers=headers)
    gw = inprocess_gateway(config)

    sdk(gw).chat.completions.create(model="sonnet", messages=MESSAGES)

    (hit,) = fake_anthropic.hits()
    assert hit.headers["anthropic-version"] == "2024-01-01"
    assert hit.headers["anthropic-beta"] == "tools-2024"


def test_anthropic_needs_a_base_url() -> None:
    text = "providers:\n  p: {kind: anthropic}\nmodels:\n  m: {provider: p}\n"
    text += "routes:\n  r: {pool: [m]}\n"
    with pytest.raises(ConfigError) as raised:
        load_config_text(text, "test.yaml", {})
    assert raised.value.problems == ["providers.p.base_url: required for kind 'anthropic'"]
