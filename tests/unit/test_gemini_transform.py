"""The gemini kind's request transform (and a thought signature's way back).

Every request the transform writes is checked against the rules the fake Gemini
enforces (``tests/support/gemini_rules``), which are the real API's."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.providers.gemini import request, response
from tests.support.gemini_rules import Refused, check_request
from tests.support.tools import WEATHER_TOOL


def gemini_body(body: dict[str, Any]) -> dict[str, Any]:
    out = request.to_gemini(body)
    check_request(out)  # raises Refused where the real API would answer 400
    return out


def test_system_and_developer_messages_become_the_system_instruction() -> None:
    out = gemini_body(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
                {"role": "user", "content": "hello"},
                {"role": "assistant", "content": "bonjour"},
                {"role": "user", "content": "again"},
            ]
        }
    )
    assert out["systemInstruction"] == {"parts": [{"text": "Be brief."}, {"text": "Use French."}]}
    assert out["contents"] == [
        {"role": "user", "parts": [{"text": "hello"}]},
        {"role": "model", "parts": [{"text": "bonjour"}]},
        {"role": "user", "parts": [{"text": "again"}]},
    ]


def test_the_rules_refuse_an_assistant_role_and_a_stray_function_response() -> None:
    with pytest.raises(Refused, match="valid role"):
        check_request({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]})
    stray = {"functionResponse": {"name": "f", "response": {}}}
    with pytest.raises(Refused, match="immediately after a function call turn"):
        check_request({"contents": [{"role": "user", "parts": [stray]}]})


def test_tool_calls_and_results_become_function_call_and_response_turns() -> None:
    out = gemini_body(
        {
            "messages": [
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        },
                        {
                            "id": "call_2",
                            "type": "function",
                            "function": {"name": "get_time", "arguments": '{"city":"Rome"}'},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 21}'},
                {"role": "tool", "tool_call_id": "call_2", "content": "14:05"},
                {"role": "user", "content": "thanks"},
            ],
            "tools": [WEATHER_TOOL],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        }
    )
    assert out["contents"][1] == {
        "role": "model",
        "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
            {"functionCall": {"name": "get_time", "args": {"city": "Rome"}}},
        ],
    }
    assert out["contents"][2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
            {"functionResponse": {"name": "get_time", "response": {"result": "14:05"}}},
        ],
    }
    assert out["contents"][3] == {"role": "user", "parts": [{"text": "thanks"}]}
    (declaration,) = out["tools"][0]["functionDeclarations"]
    assert declaration == {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "OBJECT",
            "properties": {"city": {"type": "STRING"}},
            "required": ["city"],
        },
    }
    assert out["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
    }


@pytest.mark.parametrize(
    ("choice", "mode"), [("auto", "AUTO"), ("required", "ANY"), ("none", "NONE")]
)
def test_tool_choice_modes(choice: str, mode: str) -> None:
    out = gemini_body(
        {
            "messages": [{"role": "user", "content": "x"}],
            "tools": [WEATHER_TOOL],
            "tool_choice": choice,
        }
    )
    assert out["toolConfig"] == {"functionCallingConfig": {"mode": mode}}


def test_a_thought_signature_rides_in_the_tool_call_id_and_goes_back() -> None:
    answer = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {
                            "functionCall": {"name": "get_weather", "args": {"city": "Oslo"}},
                            "thoughtSignature": "c2lnbmF0dXJl",
                        }
                    ],
                },
                "finishReason": "STOP",
            }
        ]
    }
    _, body = response.transform_response(200, orjson.dumps(answer))
    message = orjson.loads(body)["choices"][0]["message"]
    follow_up = gemini_body(
        {
            "messages": [
                {"role": "user", "content": "Oslo?"},
                message,
                {"role": "tool", "tool_call_id": message["tool_calls"][0]["id"], "content": "cold"},
            ]
        }
    )
    assert follow_up["contents"][1]["parts"][0]["thoughtSignature"] == "c2lnbmF0dXJl"


def test_images_become_inline_data_or_file_data() -> None:
    out = gemini_body(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {
                            "type": "image_url",
                            "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
                        },
                        {"type": "image_url", "image_url": {"url": "https://example.com/cat.webp"}},
                        {"type": "image_url", "image_url": {"url": "data:image/png,notbase64"}},
                    ],
                }
            ]
        }
    )
    assert out["contents"][0]["parts"] == [
        {"text": "What is this?"},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
        {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.webp"}},
    ]


def test_sampling_fields_go_to_generation_config_under_gemini_names() -> None:
    out = gemini_body(
        {
            "messages": [{"role": "user", "content": "x"}],
            "temperature": 0.2,
            "top_p": 0.9,
            "max_completion_tokens": 300,
            "max_tokens": 100,
            "stop": "END",
            "n": 2,
            "seed": 7,
            "presence_penalty": 0.5,
            "logprobs": True,
            "user": "u-1",
            "stream_options": {"include_usage": True},
        }
    )
    assert out["generationConfig"] == {
        "temperature": 0.2,
        "topP": 0.9,
        "candidateCount": 2,
        "seed": 7,
        "presencePenalty": 0.5,
        "maxOutputTokens": 300,
        "stopSequences": ["END"],
    }
    assert set(out) == {"contents", "generationConfig"}


def test_json_schema_output_becomes_response_schema_gemini_accepts() -> None:
    schema = {
        "$defs": {"City": {"type": "object", "properties": {"name": {"type": "string"}}}},
        "type": "object",
        "properties": {
            "city": {"$ref": "#/$defs/City"},
            "population": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
            "tags": {"type": "array", "items": {"type": "string", "format": "email"}},
            "kind": {"const": "metro"},
        },
        "required": ["city", "population"],
        "additionalProperties": False,
        "$schema": "https://json-schema.org/draft/2020-12/schema",
    }
    out = gemini_body(
        {
            "messages": [{"role": "user", "content": "x"}],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "c", "schema": schema, "strict": True},
            },
        }
    )
    assert out["generationConfig"]["responseMimeType"] == "application/json"
    assert out["generationConfig"]["responseSchema"] == {
        "type": "OBJECT",
        "properties": {
            "city": {"type": "OBJECT", "properties": {"name": {"type": "STRING"}}},
            "population": {"nullable": True, "type": "INTEGER"},
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}},
            "kind": {"enum": ["metro"]},
        },
        "required": ["city", "population"],
    }
    json_object = gemini_body(
        {"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}}
    )
    assert json_object["generationConfig"] == {"responseMimeType": "application/json"}


def test_gemini_native_fields_pass_and_a_native_generation_config_merges_over() -> None:
    safety = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}]
    out = gemini_body(
        {
            "messages": [{"role": "user", "content": "x"}],
            "temperature": 0.5,
            "reasoning_effort": "low",
            "safetySettings": safety,
            "cachedContent": "cachedContents/abc123",
            "generationConfig": {"thinkingConfig": {"includeThoughts": True}, "topK": 3},
        }
    )
    assert out["safetySettings"] == safety
    assert out["cachedContent"] == "cachedContents/abc123"
    assert out["generationConfig"] == {
        "temperature": 0.5,
        "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True},
        "topK": 3,
    }
