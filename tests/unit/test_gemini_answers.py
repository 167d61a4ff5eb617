"""The gemini kind's answers: responses, usage, errors and streams become OpenAI's."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from gateway.providers.gemini import api, errors, response
from gateway.providers.gemini.stream import StreamTransformer
from gateway.providers.translated import NotAnAnswer, StreamRefused


def answer(parts: list[dict[str, Any]], finish: str = "STOP", **extra: Any) -> bytes:
    candidate = {"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": 0}
    return orjson.dumps({"candidates": [candidate], "modelVersion": "gemini-x", **extra})


@pytest.mark.parametrize(
    ("finish", "parts", "expected"),
    [
        ("STOP", [{"text": "hi"}], "stop"),
        ("MAX_TOKENS", [{"text": "hi"}], "length"),
        ("SAFETY", [{"text": "hi"}], "content_filter"),
        ("RECITATION", [{"text": "hi"}], "content_filter"),
        ("STOP", [{"functionCall": {"name": "f", "args": {}}}], "tool_calls"),
    ],
)
def test_finish_reasons(finish: str, parts: list[dict[str, Any]], expected: str) -> None:
    _, body = response.transform_response(200, answer(parts, finish))
    assert orjson.loads(body)["choices"][0]["finish_reason"] == expected


def test_usage_counts_cached_and_thought_tokens() -> None:
    usage = {
        "promptTokenCount": 1000,
        "cachedContentTokenCount": 600,
        "candidatesTokenCount": 50,
        "thoughtsTokenCount": 200,
        "totalTokenCount": 1250,
    }
    parts = [{"text": "Let me think.", "thought": True}, {"text": "42"}]
    _, body = response.transform_response(200, answer(parts, usageMetadata=usage))
    completion = orjson.loads(body)
    assert completion["choices"][0]["message"] == {
        "role": "assistant",
        "content": "42",
        "reasoning_content": "Let me think.",
    }
    assert completion["usage"] == {
        "prompt_tokens": 1000,
        "completion_tokens": 250,
        "total_tokens": 1250,
        "prompt_tokens_details": {"cached_tokens": 600},
        "completion_tokens_details": {"reasoning_tokens": 200},
    }


def test_a_blocked_prompt_is_a_client_error() -> None:
    blocked = orjson.dumps({"promptFeedback": {"blockReason": "SAFETY"}})
    status, body = response.transform_response(200, blocked)
    assert status == 400
    assert orjson.loads(body)["error"]["code"] == "content_filter"
    with pytest.raises(NotAnAnswer):
        response.transform_response(200, b"<html>")


def test_errors_map_to_openai_shapes_and_statuses() -> None:
    bad_key = json.dumps(
        {
            "error": {
                "code": 400,
                "message": "API key not valid. Please pass a valid API key.",
                "status": "INVALID_ARGUMENT",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                    }
                ],
            }
        }
    ).encode()
    status, body, _ = errors.transform_error(400, bad_key)
    assert status == 401
    assert orjson.loads(body)["error"]["type"] == "authentication_error"

    quota = [
        {
            "error": {
                "code": 429,
                "message": "Resource has been exhausted (e.g. check quota).",
                "status": "RESOURCE_EXHAUSTED",
                "details": [
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}
                ],
            }
        }
    ]
    status, body, headers = errors.transform_error(429, json.dumps(quota).encode())
    assert (status, headers) == (429, {"retry-after": "37"})
    assert orjson.loads(body)["error"]["code"] == "rate_limit_exceeded"

    long_prompt = json.dumps(
        {
            "error": {
                "code": 400,
                "message": "The input token count (2551556) exceeds the maximum number of "
                "tokens allowed (1048576).",
                "status": "INVALID_ARGUMENT",
            }
        }
    ).encode()
    status, body, _ = errors.transform_error(400, long_prompt)
    assert errors.is_context_length_error(status, body)
    status, body, _ = errors.transform_error(
        400, b'{"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}}'
    )
    assert not errors.is_context_length_error(status, body)
    assert orjson.loads(body)["error"]["type"] == "invalid_request_error"
    status, body, _ = errors.transform_error(502, b"<html>Bad gateway</html>")
    assert (
        orjson.loads(body)["error"]["message"]
        == "gemini upstream error (HTTP 502): <html>Bad gateway</html>"
    )


def sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\r\n\r\n"


def chunks_of(data: bytes) -> list[dict[str, Any]]:
    out = []
    for event in data.split(b"\n\n"):
        if event.startswith(b"data: {"):
            out.append(orjson.loads(event[6:]))
    return out


def test_a_stream_split_anywhere_becomes_openai_chunks_with_usage_and_done() -> None:
    usage = {
        "promptTokenCount": 8,
        "candidatesTokenCount": 3,
        "thoughtsTokenCount": 4,
        "totalTokenCount": 15,
    }
    events = [
        sse(
            {
                "candidates": [{"content": {"parts": [{"text": "hm", "thought": True}]}}],
                "responseId": "r1",
                "modelVersion": "gemini-x",
            }
        ),
        sse({"candidates": [{"content": {"parts": [{"text": "Hello"}]}}]}),
        sse(
            {
                "candidates": [
                    {
                        "content": {"parts": [{"functionCall": {"name": "f", "args": {"a": 1}}}]},
                        "finishReason": "STOP",
                    }
                ],
                "usageMetadata": usage,
            }
        ),
    ]
    data = b"".join(events)
    translator = StreamTransformer(include_usage=True)
    out = b"".join(translator.feed(data[i : i + 5]) for i in range(0, len(data), 5))
    out += translator.end()
    assert out.endswith(b"data: [DONE]\n\n")
    chunks = chunks_of(out)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert deltas[1] == {"reasoning_content": "hm"}
    assert deltas[2] == {"content": "Hello"}
    call = deltas[3]["tool_calls"][0]
    assert (call["index"], call["function"]) == (0, {"name": "f", "arguments": '{"a":1}'})
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["completion_tokens"] == 7
    assert {c["id"] for c in chunks} == {"r1"}


def test_a_stream_cut_before_its_finish_reason_has_no_done() -> None:
    translator = StreamTransformer(include_usage=False)
    out = translator.feed(sse({"candidates": [{"content": {"parts": [{"text": "Hel"}]}}]}))
    assert b"Hel" in out
    assert translator.end() == b""
    assert translator.finished


def test_urls_and_model_names() -> None:
    base = api.versioned_base(None)
    assert api.model_url(base, "models/gemini-2.5-flash", False) == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    )
    assert api.model_url(api.versioned_base("https://proxy.example/v1/"), "g", True) == (
        "https://proxy.example/v1/models/g:streamGenerateContent?alt=sse"
    )


def test_a_prompt_blocked_in_the_first_event_refuses_the_stream() -> None:
    translator = StreamTransformer(include_usage=False)
    with pytest.raises(StreamRefused) as refused:
        translator.feed(sse({"promptFeedback": {"blockReason": "SAFETY"}}))
    assert refused.value.status == 400
    assert orjson.loads(refused.value.body)["error"]["code"] == "content_filter"
    assert translator.finished
