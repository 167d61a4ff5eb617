"""The ``anthropic`` kind's pure parts: request, response, stream and error transforms."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from gateway.translate.anthropic.errors import is_context_length_error, transform_error
from gateway.translate.anthropic.request_to_messages import to_anthropic
from gateway.translate.anthropic.response_to_chat import transform_response
from gateway.translate.anthropic.stream_to_chat import StreamTransformer
from tests.support.fake_anthropic import message, sse, stream_events

# -- request ---------------------------------------------------------------------


def test_system_and_developer_messages_become_system_and_turns_alternate() -> None:
    body = to_anthropic(
        {
            "model": "claude",
            "messages": [
                {"role": "system", "content": "Rule one."},
                {"role": "developer", "content": [{"type": "text", "text": "Rule two."}]},
                {"role": "user", "content": "a"},
                {"role": "user", "content": [{"type": "text", "text": "b"}]},
                {"role": "assistant", "content": "c"},
                {"role": "assistant", "content": ""},  # empty: Anthropic would reject it
            ],
        }
    )
    assert body["system"] == "Rule one.\n\nRule two."
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "assistant", "content": "c"},
    ]
    assert body["max_tokens"] == 4096


def test_images_from_data_and_http_urls() -> None:
    parts = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        {"type": "image_url", "image_url": {"url": "ftp://nope"}},
    ]
    body = to_anthropic({"model": "m", "messages": [{"role": "user", "content": parts}]})
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "what is this?"},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
        },
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


def test_tool_calls_and_results_and_tool_definitions() -> None:
    calls = [
        {"id": "t1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}},
        {"id": "t2", "type": "function", "function": {"name": "g", "arguments": "{not json"}},
    ]
    body = to_anthropic(
        {
            "model": "m",
            "messages": [
                {"role": "user", "content": "go"},
                {"role": "assistant", "content": "Calling.", "tool_calls": calls},
                {"role": "tool", "tool_call_id": "t1", "content": "one"},
                {"role": "tool", "tool_call_id": "t2", "content": [{"type": "text", "text": "2"}]},
                {"role": "user", "content": "and?"},
            ],
            "tools": [
                {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}},
                {"type": "function", "function": {"name": "g", "description": "G"}},
            ],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "parallel_tool_calls": False,
        }
    )
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Calling."},
            {"type": "tool_use", "id": "t1", "name": "f", "input": {"x": 1}},
            {"type": "tool_use", "id": "t2", "name": "g", "input": {}},
        ],
    }
    # Both results and the next user text share one user turn, results first.
    assert body["messages"][2] == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": "one"},
            {
                "type": "tool_result",
                "tool_use_id": "t2",
                "content": [{"type": "text", "text": "2"}],
            },
            {"type": "text", "text": "and?"},
        ],
    }
    assert body["tools"] == [
        {"name": "f", "input_schema": {"type": "object"}},
        {"name": "g", "description": "G", "input_schema": {"type": "object"}},
    ]
    assert body["tool_choice"] == {"type": "tool", "name": "f", "disable_parallel_tool_use": True}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [("auto", {"type": "auto"}), ("required", {"type": "any"}), ("none", {"type": "none"})],
)
def test_tool_choice_strings(choice: str, expected: dict[str, Any]) -> None:
    body = to_anthropic({"model": "m", "messages": [], "tool_choice": choice})
    assert body["tool_choice"] == expected


def test_parameters_map_and_unknown_fields_are_dropped() -> None:
    body = to_anthropic(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 10,
            "max_completion_tokens": 99,
            "temperature": 0.2,
            "top_p": 0.9,
            "top_k": 5,
            "stop": "END",
            "stream": True,
            "stream_options": {"include_usage": True},
            "user": "u-42",
            "n": 1,
            "seed": 7,
            "logprobs": True,
            "response_format": {"type": "json_object"},
            "presence_penalty": 0.5,
        }
    )
    assert body == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 99,
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 5,
        "stop_sequences": ["END"],
        "stream": True,
        "metadata": {"user_id": "u-42"},
    }
    listed = to_anthropic({"model": "m", "messages": [], "stop": ["a", "b"], "max_tokens": 3})
    assert listed["stop_sequences"] == ["a", "b"]
    assert listed["max_tokens"] == 3


# -- response --------------------------------------------------------------------


def anthropic_message(content: list[dict[str, Any]], stop_reason: str) -> bytes:
    usage = {
        "input_tokens": 10,
        "output_tokens": 4,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 7,
    }
    msg = {"id": "msg_1", "model": "claude", "content": content, "stop_reason": stop_reason}
    return orjson.dumps({**msg, "type": "message", "role": "assistant", "usage": usage})


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ],
)
def test_finish_reasons(stop_reason: str, finish: str) -> None:
    out = json.loads(
        transform_response(anthropic_message([{"type": "text", "text": "x"}], stop_reason))
    )
    assert out["choices"][0]["finish_reason"] == finish


def test_response_text_tool_calls_and_usage_with_cache() -> None:
    content = [
        {"type": "thinking", "thinking": "hmm", "signature": "s"},
        {"type": "text", "text": "Hello "},
        {"type": "text", "text": "world"},
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": [1, 2]}},
    ]
    out = json.loads(transform_response(anthropic_message(content, "tool_use")))
    assert out["id"] == "msg_1"
    assert out["object"] == "chat.completion"
    assert out["model"] == "claude"
    assert isinstance(out["created"], int)
    reply = out["choices"][0]["message"]
    assert reply["content"] == "Hello world"
    assert reply["tool_calls"] == [
        {"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": '{"a":[1,2]}'}}
    ]
    assert out["usage"] == {
        "prompt_tokens": 117,
        "completion_tokens": 4,
        "total_tokens": 121,
        "prompt_tokens_details": {"cached_tokens": 100},
    }


# -- errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "type_", "code"),
    [
        (400, "invalid_request_error", "invalid_request_error", None),
        (401, "authentication_error", "authentication_error", "invalid_api_key"),
        (429, "rate_limit_error", "rate_limit_error", "rate_limit_exceeded"),
        (529, "overloaded_error", "server_error", "overloaded"),
        (500, "api_error", "server_error", None),
        (418, "brand_new_error", "invalid_request_error", None),
    ],
)
def test_error_bodies_become_openai_shaped(
    status: int, kind: str, type_: str, code: str | None
) -> None:
    body = orjson.dumps({"type": "error", "error": {"type": kind, "message": "why"}})
    assert json.loads(transform_error(status, body)) == {
        "error": {"message": "why", "type": type_, "param": None, "code": code}
    }


def test_a_non_json_error_body_still_becomes_openai_shaped() -> None:
    out = json.loads(transform_error(502, b"<html>Bad gateway</html>"))
    assert out["error"]["type"] == "server_error"
    assert "HTTP 502" in out["error"]["message"]


def test_context_length_errors() -> None:
    too_long = orjson.dumps(
        {
            "type": "error",
            "error": {"type": "invalid_request_error", "message": "prompt is too long: 9 > 8"},
        }
    )
    mapped = transform_error(400, too_long)
    assert json.loads(mapped)["error"]["code"] == "context_length_exceeded"
    assert is_context_length_error(400, mapped)
    assert is_context_length_error(413, b'{"error":{"message":"exceeds the context window"}}')
    assert not is_context_length_error(429, mapped)
    other = transform_error(
        400, b'{"type":"error","error":{"type":"x","message":"bad temperature"}}'
    )
    assert not is_context_length_error(400, other)


# -- stream ----------------------------------------------------------------------


def events_of(data: bytes) -> list[Any]:
    payloads = [e.removeprefix(b"data: ") for e in data.split(b"\n\n") if e]
    return [p.decode() if p == b"[DONE]" else json.loads(p) for p in payloads]


def recorded_stream() -> bytes:
    call = {"id": "toolu_9", "name": "f", "input": {"q": "é ünïcode"}}
    return b"".join(stream_events("claude", message("Hi there, friend", tool_uses=[call])))


@pytest.mark.parametrize("include_usage", [False, True])
def test_stream_fed_byte_by_byte_gives_the_same_output_as_whole(include_usage: bool) -> None:
    data = recorded_stream()
    whole = StreamTransformer(include_usage).feed(data)
    one_by_one = StreamTransformer(include_usage)
    pieces = b"".join(one_by_one.feed(data[i : i + 1]) for i in range(len(data)))
    assert _without_created(pieces) == _without_created(whole)
    assert one_by_one.finished

    events = events_of(whole)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert {c["id"] for c in chunks} == {"msg_fake"}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Hi there, friend"
    calls = [
        call
        for c in chunks
        if c["choices"]
        for call in c["choices"][0]["delta"].get("tool_calls", [])
    ]
    assert calls[0] == {
        "index": 0,
        "id": "toolu_9",
        "type": "function",
        "function": {"name": "f", "arguments": ""},
    }
    arguments = "".join(c["function"]["arguments"] for c in calls)
    assert json.loads(arguments) == {"q": "é ünïcode"}
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "tool_calls"
    usage_chunks = [c for c in chunks if "usage" in c]
    if include_usage:
        assert usage_chunks == [
            {
                **chunks[-1],
                "choices": [],
                "usage": {
                    "prompt_tokens": 28,
                    "completion_tokens": 9,
                    "total_tokens": 37,
                    "prompt_tokens_details": {"cached_tokens": 5},
                },
            }
        ]
    else:
        assert usage_chunks == []


def _without_created(data: bytes) -> list[Any]:
    events = events_of(data)
    for event in events:
        if isinstance(event, dict):
            event.pop("created", None)
    return events


def test_crlf_framing_is_understood() -> None:
    data = recorded_stream().replace(b"\n", b"\r\n")
    out = events_of(StreamTransformer(False).feed(data))
    assert out[-1] == "[DONE]"
    assert (
        "".join(c["choices"][0]["delta"].get("content", "") for c in out[:-1] if c["choices"])
        == "Hi there, friend"
    )


def test_an_error_after_message_start_comes_out_first() -> None:
    start = stream_events("claude", message("x"))[:2]  # message_start, ping
    failure = sse(
        "error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    )
    transformer = StreamTransformer(True)
    assert transformer.feed(b"".join(start)) == b""
    out = transformer.feed(failure + b"event: ping\ndata: {}\n\n")
    assert out.startswith(b'data: {"error"')
    assert events_of(out) == [
        {
            "error": {
                "message": "Overloaded",
                "type": "server_error",
                "param": None,
                "code": "overloaded",
            }
        },
        "[DONE]",
    ]
    assert transformer.finished


def test_a_giant_event_in_small_reads_is_linear() -> None:
    text = "y" * 2_000_000
    data = b"".join(stream_events("claude", message(text)))
    transformer = StreamTransformer(False)
    out = [transformer.feed(data[i : i + 1024]) for i in range(0, len(data), 1024)]
    assert transformer.finished
    chunks = events_of(b"".join(out))[:-1]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == text
