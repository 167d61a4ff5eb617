"""The real ``anthropic`` SDK against a running ``gateway serve`` on ``/v1/messages``:
through an Anthropic member (bytes pass through), through an OpenAI-compatible one
(translated), with fallback, count_tokens, auth, the model list and exact usage."""

from __future__ import annotations

import json
import time
from typing import Any

import anthropic
import httpx
import pytest

from tests.support.fake_anthropic import (
    DEFAULT_USAGE,
    FakeAnthropic,
    counted_tokens,
    message,
    overloaded_after_start,
    signature_of,
)
from tests.support.fake_upstream import FakeUpstream, ok
from tests.support.gateway_process import GatewayProcess
from tests.support.messages_setup import (
    ANTHROPIC_KEY,
    CLAUDE_PRICE,
    CLIENT_KEY,
    GPT_PRICE,
    expected_micro_usd,
    sdk,
)

HELLO: list[Any] = [{"role": "user", "content": "hello"}]
WEATHER_TOOL: Any = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
CALL = {"id": "toolu_01", "name": "get_weather", "input": {"city": "Paris", "unit": "C"}}
OPENAI_CALL = {
    "id": "call_01",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city": "Paris", "unit": "C"}'},
}
BETA = "interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14"


def log_line(messages_gateway: GatewayProcess, request_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [r for r in messages_gateway.log_lines() if r.get("request_id") == request_id]
        if lines:
            return lines[-1]
        time.sleep(0.05)
    raise AssertionError(f"no log line for {request_id}")


# -- through an Anthropic member: the bytes pass through -------------------


def test_create_through_an_anthropic_member_is_byte_exact(
    messages_gateway: GatewayProcess, fakes: tuple[FakeAnthropic, FakeUpstream]
) -> None:
    claude, _ = fakes
    claude.set("claude-sonnet-4-5", message("Bonjour", tool_uses=[CALL]))
    raw = sdk(messages_gateway).messages.with_raw_response.create(
        model="sonnet",
        max_tokens=512,
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        messages=HELLO,
        tools=[WEATHER_TOOL],
        extra_headers={"anthropic-beta": BETA},
        # A field the gateway has never heard of still reaches Anthropic.
        extra_body={"context_management": {"edits": []}},
    )
    answer = raw.parse()
    assert raw.http_response.content == claude.answers[-1]
    assert [b.type for b in answer.content] == ["text", "tool_use"]
    assert answer.content[1].input == CALL["input"]  # type: ignore[union-attr]
    assert raw.headers["x-gateway-route"] == "sonnet"
    assert raw.headers["x-gateway-provider"] == "claude"
    assert raw.headers["x-gateway-attempts"] == "1"
    sent = claude.hits()[-1]
    # The client's body, model replaced; the client's key never forwarded.
    assert sent.body["model"] == "claude-sonnet-4-5"
    assert sent.body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert sent.body["tools"] == [WEATHER_TOOL]
    assert sent.body["context_management"] == {"edits": []}
    assert sent.body["temperature"] == 0.5  # the route's options, merged
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY
    assert CLIENT_KEY not in json.dumps(sent.headers)
    assert sent.headers["anthropic-beta"] == BETA
    # The client's API version, not the provider's default.
    assert sent.headers["anthropic-version"] == raw.http_request.headers["anthropic-version"]


def test_thinking_leaves_out_the_route_sampling_options_anthropic_refuses_with_it(
    messages_gateway: GatewayProcess, fakes: tuple[FakeAnthropic, FakeUpstream]
) -> None:
    claude, _ = fakes
    claude.set("claude-sonnet-4-5", message("Thought it through", thinking="Let me see."))
    answer = sdk(messages_gateway).messages.create(
        model="sonnet",  # the route sets temperature 0.5, which thinking does not allow
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=HELLO,
        extra_body={"top_p": 0.97},
    )
    assert [b.type for b in answer.content] == ["thinking", "text"]
    sent = claude.hits()[-1].body
    assert "temperature" not in sent
    assert sent["top_p"] == 0.97  # allowed with thinking: the client's own, kept
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 1024}


def test_stream_through_an_anthropic_member_is_byte_exact(
    messages_gateway: GatewayProcess, fakes: tuple[FakeAnthropic, FakeUpstream]
) -> None:
    claude, _ = fakes
    behavior = message("It is sunny", thinking="Paris weather needs a tool", tool_uses=[CALL])
    behavior.piece_size = 7  # events split anywhere
    claude.set("claude-sonnet-4-5", behavior)
    params: Any = {
        "model": "sonnet",
        "max_tokens": 4096,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        # With thinking on, Anthropic takes only temperature 1: the client's value wins
        # over the route's option (0.5).
        "extra_body": {"temperature": 1},
        "messages": HELLO,
        "tools": [WEATHER_TOOL],
    }
    with sdk(messages_gateway).messages.with_streaming_response.create(
        stream=True, **params
    ) as raw:
        body = b"".join(raw.http_response.iter_bytes())
    assert body == claude.answers[-1]

    claude.set("claude-sonnet-4-5", behavior)
    with sdk(messages_gateway).messages.stream(**params) as stream:
        final = stream.get_final_message()
    thinking, text, tool = final.content
    assert thinking.type == "thinking"
    assert thinking.thinking == "Paris weather needs a tool"
    assert thinking.signature == signature_of("Paris weather needs a tool")
    assert text.type == "text" and text.text == "It is sunny"
    assert tool.type == "tool_use" and tool.input == CALL["input"]
    assert final.stop_reason == "tool_use"
    assert final.usage.cache_read_input_tokens == DEFAULT_USAGE["cache_read_input_tokens"]


# -- through an OpenAI-compatible member: translated both ways ------------------


def test_create_through_an_openai_member_is_translated(
    messages_gateway: GatewayProcess, fakes: tuple[FakeAnthropic, FakeUpstream]
) -> None:
    _, upstream = fakes
    upstream.set("gpt-x", ok(tool_calls=[OPENAI_CALL], reasoning="Needs the tool"))
    answer = sdk(messages_gateway).messages.create(
        model="gpt-route",
        max_tokens=300,
        system="Be brief.",
        messages=[
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [{**CALL, "type": "tool_use", "id": "toolu_00"}]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_00", "content": "rainy"},
                    {"type": "text", "text": "and tomorrow?"},
                ],
            },
        ],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
        stop_sequences=["END"],
    )
    assert [b.type for b in answer.content] == ["thinking", "tool_use"]
    assert answer.content[1].input == CALL["input"]  # type: ignore[union-attr]
    assert answer.stop_reason == "tool_use"
    assert answer.usage.input_tokens == 11 - 3 and answer.usage.cache_read_input_tokens == 3
    sent = upstream.hits()[-1].body
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "toolu_00",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": OPENAI_CALL_ARGS},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_00", "content": "rainy"},
        {"role": "user", "content": "and tomorrow?"},
    ]
    assert sent["tools"][0]["function"]["parameters"] == WEATHER_TOOL["input_schema"]
    assert sent["tool_choice"] == "required" and sent["parallel_tool_calls"] is False
    assert sent["stop"] == ["END"] and sent["max_tokens"] == 300
    assert sent["seed"] == 7  # the route's options, merged in the member's format
    assert "authorization" not in {k.lower() for k in upstream.hits()[-1].headers}


OPENAI_CALL_ARGS = json.dumps(CALL["input"], separators=(",", ":"))


def test_stream_through_an_openai_member_assembles_in_the_sdk(
    messages_gateway: GatewayProcess, fakes: tuple[FakeAnthropic, FakeUpstream]
) -> None:
    _, upstream = fakes
    upstream.set(
        "gpt-x",
        ok(
            "Let me check",
            tool_calls=[OPENAI_CALL],
            reasoning="think first",
            split_tool_arguments=True,
        ),
    )
    events: list[str] = []
    with sdk(messages_gateway).messages.stream(
        model="gpt-route", max_tokens=300, messages=HELLO, tools=[WEATHER_TOOL]
    ) as stream:
        for event in stream:
            events.append(event.type)
        final = stream.get_final_message()
    thinking, text, tool = final.content
    assert thinking.type == "thinking" and thinking.thinking == "think first "
    assert text.type == "text" and text.text == "Let me check"
    assert tool.type == "tool_use" and tool.input == CALL["input"] and tool.id == "call_01"
    assert final.stop_reason == "tool_use"
    assert final.usage.output_tokens == 7 and final.usage.input_tokens == 8
    assert events[0] == "message_start" and events[-1] == "message_stop"
    assert "input_json" in events  # the SDK saw the tool input arrive in pieces
    sent = upstream.hits()[-1].body
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}


# -- failover ---------------------------------------------------------------


def test_an_overloaded_anthropic_member_falls_over_inside_one_stream(
    messages_gateway: GatewayProcess, fakes: tuple[FakeAnthropic, FakeUpstream]
) -> None:
    claude, upstream = fakes
    claude.set("claude-flaky", overloaded_after_start())
    upstream.set("gpt-backup", ok("served by the backup"))
    with sdk(messages_gateway).messages.stream(
        model="resilient", max_tokens=200, messages=HELLO
    ) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
        headers = s.response.headers
    assert text == "served by the backup"
    assert final.stop_reason == "end_turn"
    assert headers["x-gateway-attempts"] == "2"
    assert headers["x-gateway-provider"] == "fake"
    assert [h.body["model"] for h in claude.hits()] == ["claude-flaky"]
    # Parked by the overload: the next request goes straight to the backup.
    with sdk(messages_gateway).messages.stream(
        model="resilient", max_tokens=200, messages=HELLO
    ) as s:
        assert "".join(s.text_stream) == "served by the backup"
    assert len(claude.hits()) == 1


# -- count_tokens, auth, models ----------------------------------------------


def test_count_tokens_is_forwarded_to_an_anthropic_member(
    messages_gateway: GatewayProcess, fakes: tuple[FakeAnthropic, FakeUpstream]
) -> None:
    claude, _ = fakes
    counted = sdk(messages_gateway).messages.count_tokens(
        model="sonnet", messages=HELLO, tools=[WEATHER_TOOL], system="Be brief."
    )
    assert counted.input_tokens == counted_tokens({"messages": HELLO})
    sent = claude.hits()[-1]
    assert sent.path == "/v1/messages/count_tokens"
    assert sent.body["model"] == "claude-sonnet-4-5"


def test_count_tokens_without_an_anthropic_member_is_an_estimate(
    messages_gateway: GatewayProcess, fakes: tuple[FakeAnthropic, FakeUpstream]
) -> None:
    claude, upstream = fakes
    text = "word " * 400  # 2,000 characters: about 500 tokens
    raw = sdk(messages_gateway).messages.with_raw_response.count_tokens(
        model="gpt-route", messages=[{"role": "user", "content": text}]
    )
    assert raw.headers["x-gateway-token-count"] == "estimate"
    assert 450 <= raw.parse().input_tokens <= 550
    assert claude.hits() == [] and upstream.hits() == []


def test_bearer_auth_is_accepted_too(
    messages_gateway: GatewayProcess, fakes: tuple[FakeAnthropic, FakeUpstream]
) -> None:
    client = anthropic.Anthropic(
        base_url=messages_gateway.url, auth_token=CLIENT_KEY, max_retries=0
    )
    answer = client.messages.create(model="sonnet", max_tokens=10, messages=HELLO)
    assert answer.content[0].type == "text"


def test_models_list_in_anthropic_shape(
    messages_gateway: GatewayProcess, fakes: tuple[FakeAnthropic, FakeUpstream]
) -> None:
    ids = [m.id for m in sdk(messages_gateway).models.list()]
    assert {"sonnet", "gpt-route", "resilient", "claude"} <= set(ids)
    openai_shape = httpx.get(
        messages_gateway.base_url + "/models", headers={"Authorization": f"Bearer {CLIENT_KEY}"}
    ).json()
    assert openai_shape["object"] == "list"


# -- usage and cost ---------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
def test_usage_and_cost_are_exact_on_both_paths(
    messages_gateway: GatewayProcess, fakes: tuple[FakeAnthropic, FakeUpstream], stream: bool
) -> None:
    client = sdk(messages_gateway)
    kw: Any = {"max_tokens": 100, "messages": HELLO}
    for route, price, usage in (
        ("sonnet", CLAUDE_PRICE, DEFAULT_USAGE),
        (
            "gpt-route",
            GPT_PRICE,
            {"input_tokens": 8, "cache_read_input_tokens": 3, "output_tokens": 7},
        ),
    ):
        if stream:
            with client.messages.stream(model=route, **kw) as s:
                s.get_final_message()
                request_id = s.response.headers["x-request-id"]
        else:
            raw = client.messages.with_raw_response.create(model=route, **kw)
            request_id = raw.headers["x-request-id"]
            micro = expected_micro_usd(price, usage)
            assert raw.headers["x-gateway-cost-usd"] == f"{micro / 1_000_000:.6f}"
        line = log_line(messages_gateway, request_id)
        read = usage.get("cache_read_input_tokens", 0)
        written = usage.get("cache_creation_input_tokens", 0)
        assert line["api"] == "messages"
        assert line["input_tokens"] == usage["input_tokens"] + read + written
        assert line["cached_tokens"] == read
        assert line["cache_write_tokens"] == written
        assert line["output_tokens"] == usage["output_tokens"]
        assert round(line["cost_usd"] * 1_000_000) == expected_micro_usd(price, usage)


def test_metrics_count_messages_as_the_chat_operation(
    messages_gateway: GatewayProcess, fakes: tuple[FakeAnthropic, FakeUpstream]
) -> None:
    sdk(messages_gateway).messages.create(model="gpt-route", max_tokens=5, messages=HELLO)
    text = httpx.get(messages_gateway.url + "/metrics").text
    lines = [
        line
        for line in text.splitlines()
        if line.startswith("gen_ai_client_operation_duration_seconds_count")
        and 'route="gpt-route"' in line
    ]
    assert lines and all('gen_ai_operation_name="chat"' in line for line in lines)
