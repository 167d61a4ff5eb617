"""The ``/v1/messages`` door's parts: Messages ↔ chat translation, the stream's
opening and relay, error statuses, and the count_tokens estimate."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from gateway.doors.messages import errors
from gateway.doors.messages.count_tokens import estimate_tokens
from gateway.doors.messages.stream import MessagesOpening, MessagesRelay
from gateway.errors import ModelNotFound, NoMemberAvailable
from gateway.providers.anthropic.api import with_client_headers
from gateway.translate.anthropic.request_to_chat import to_chat
from gateway.translate.anthropic.response_to_messages import to_message
from gateway.translate.anthropic.stream_to_messages import MessagesStreamWriter
from tests.support.fake_anthropic import message, sse, stream_events


def chat_event(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return chat_event({"id": "chatcmpl-9", "model": "gpt-x", "choices": [choice]})


def events_of(data: bytes) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for raw in data.split(b"\n\n"):
        if raw:
            name, payload = raw.split(b"\n", 1)
            out.append((name[len(b"event: ") :].decode(), orjson.loads(payload[len(b"data: ") :])))
    return out


def feed_bytewise(writer: MessagesStreamWriter, data: bytes) -> bytes:
    return b"".join(writer.feed(data[i : i + 1]) for i in range(len(data)))


CHAT_STREAM = b"".join(
    [
        chunk({"role": "assistant", "content": None, "reasoning_content": "hmm"}),
        chunk({"content": "Hi"}),
        chunk({"content": " there"}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "f", "arguments": ""},
                    }
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": " 1}"}}]}),
        chunk({}, "tool_calls"),
        chat_event(
            {
                "id": "chatcmpl-9",
                "choices": [],
                "usage": {
                    "prompt_tokens": 50,
                    "completion_tokens": 9,
                    "prompt_tokens_details": {"cached_tokens": 20},
                },
            }
        ),
        b"data: [DONE]\n\n",
    ]
)


def test_a_chat_stream_becomes_messages_events_in_the_sdks_order() -> None:
    writer = MessagesStreamWriter()
    events = events_of(feed_bytewise(writer, CHAT_STREAM))
    assert writer.finished
    assert [name for name, _ in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[0][1]["message"]["id"] == "msg_9"
    starts = [p["content_block"] for n, p in events if n == "content_block_start"]
    assert [b["type"] for b in starts] == ["thinking", "text", "tool_use"]
    assert starts[2] == {"type": "tool_use", "id": "call_1", "name": "f", "input": {}}
    assert [p["index"] for n, p in events if n == "content_block_stop"] == [0, 1, 2]
    json_parts = [
        p["delta"]["partial_json"]
        for n, p in events
        if n == "content_block_delta" and p["delta"]["type"] == "input_json_delta"
    ]
    assert "".join(json_parts) == '{"a": 1}'
    delta = events[-2][1]
    assert delta["delta"]["stop_reason"] == "tool_use"
    assert delta["usage"] == {
        "input_tokens": 30,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 20,
        "output_tokens": 9,
    }


def test_a_chat_stream_without_done_gets_no_message_stop() -> None:
    writer = MessagesStreamWriter()
    out = writer.feed(chunk({"role": "assistant", "content": "partial"}))
    assert b"message_stop" not in out + writer.end()
    assert not writer.finished


def test_a_chat_error_event_becomes_an_anthropic_error_event() -> None:
    writer = MessagesStreamWriter()
    error = {"error": {"message": "boom", "type": "server_error"}}
    out = writer.feed(chunk({"role": "assistant"}) + chat_event(error))
    assert events_of(out)[-1] == (
        "error",
        {"type": "error", "error": {"type": "api_error", "message": "boom"}},
    )
    # Right after message_start, so still a failover point.
    assert MessagesOpening().error_status(out) == 500


def test_a_messages_body_becomes_a_chat_body() -> None:
    body = {
        "model": "m",
        "max_tokens": 100,
        "system": [{"type": "text", "text": "S", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look", "cache_control": {"type": "ephemeral"}},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "AAA"},
                    },
                    {"type": "document", "source": {"type": "text", "data": "doc"}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "t", "signature": "s"},
                    {"type": "tool_use", "id": "tu", "name": "f", "input": {"x": 1}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "tu", "content": "bad", "is_error": True}
                ],
            },
        ],
        "tools": [
            {"name": "f", "input_schema": {"type": "object"}},
            {"type": "web_search_20250305", "name": "web_search"},
        ],
        "tool_choice": {"type": "none"},
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "top_k": 5,
        "metadata": {"user_id": "u1"},
    }
    out = to_chat(body, stream=False)
    assert out["messages"] == [
        {"role": "system", "content": "S"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "tu", "type": "function", "function": {"name": "f", "arguments": '{"x":1}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "tu", "content": "Error: bad"},
    ]
    assert [t["function"]["name"] for t in out["tools"]] == ["f"]  # the server tool dropped
    assert out["tool_choice"] == "none"
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert out["user"] == "u1"
    assert "top_k" not in out and "stream" not in out


def test_a_completion_becomes_a_message() -> None:
    completion = {
        "id": "chatcmpl-1",
        "model": "gpt-x",
        "choices": [
            {"message": {"role": "assistant", "content": "cut"}, "finish_reason": "length"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2},
    }
    answer = orjson.loads(to_message(orjson.dumps(completion)))
    assert answer["content"] == [{"type": "text", "text": "cut"}]
    assert answer["stop_reason"] == "max_tokens"
    assert answer["usage"]["input_tokens"] == 5 and answer["usage"]["output_tokens"] == 2


def test_the_opening_runs_past_message_start_and_pings() -> None:
    events = stream_events("m", message("hi"))
    reader = MessagesOpening().reader()
    assert not reader.feed(events[0])  # message_start
    assert not reader.feed(events[1])  # ping
    assert reader.feed(events[2][:5] + events[2][5:])  # the first content block


@pytest.mark.parametrize(
    ("error_type", "status"),
    [("overloaded_error", 529), ("rate_limit_error", 429), ("api_error", 500)],
)
def test_an_error_after_message_start_names_its_status(error_type: str, status: int) -> None:
    opening = stream_events("m", message("hi"))[0] + sse(
        "error", {"type": "error", "error": {"type": error_type, "message": "x"}}
    )
    assert MessagesOpening().error_status(opening) == status
    assert MessagesOpening().error_status(stream_events("m", message("hi"))[0]) is None


def test_the_relay_passes_bytes_and_reads_usage_with_cache_writes() -> None:
    data = b"".join(stream_events("m", message("some words here")))
    relay = MessagesRelay()
    out = b"".join(relay.feed(data[i : i + 13]) for i in range(0, len(data), 13))
    assert out + relay.finish() == data
    assert relay.complete
    assert relay.usage is not None
    assert relay.usage.input_tokens == 20 + 5 + 3
    assert relay.usage.cached_tokens == 5 and relay.usage.cache_write_tokens == 3
    assert relay.usage.output_tokens == 9


def test_a_relay_without_message_stop_is_incomplete() -> None:
    relay = MessagesRelay()
    relay.feed(b"".join(stream_events("m", message("hi"))[:-1]))
    assert not relay.complete


def test_errors_take_anthropics_types_and_statuses() -> None:
    overloaded = NoMemberAvailable("x", all_rate_limited=False, all_overloaded=True, headers={})
    limited = NoMemberAvailable("x", all_rate_limited=True, headers={})
    mixed = NoMemberAvailable("x", all_rate_limited=False, headers={})
    cases = [(overloaded, 529, "overloaded_error"), (limited, 429, "rate_limit_error")]
    cases += [(mixed, 503, "api_error"), (ModelNotFound("no"), 404, "not_found_error")]
    for error, status, kind in cases:
        assert errors.error_status(error) == status
        assert orjson.loads(errors.error_body(error))["error"]["type"] == kind


def test_the_estimate_counts_text_tools_and_images() -> None:
    text = {"messages": [{"role": "user", "content": "x" * 400}]}
    assert estimate_tokens(text) == 100 + 3
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": "A" * 9999},
    }
    with_image = {"messages": [{"role": "user", "content": [image]}]}
    assert estimate_tokens(with_image) == 1600 + 3
    tools = {"messages": [], "tools": [{"name": "f", "input_schema": {"type": "object"}}]}
    assert estimate_tokens(tools) > 0


def test_client_api_switches_replace_the_version_and_join_the_betas() -> None:
    configured = {"x-api-key": "k", "anthropic-version": "2023-06-01", "Anthropic-Beta": "a,b"}
    merged = with_client_headers(
        configured, {"anthropic-version": "2026-01-01", "anthropic-beta": "b,c"}
    )
    assert merged == {
        "x-api-key": "k",
        "anthropic-version": "2026-01-01",
        "Anthropic-Beta": "a,b,c",
    }
    assert with_client_headers(configured, None) is configured
