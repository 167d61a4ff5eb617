"""Response transform: an Anthropic message becomes an OpenAI chat completion."""

from __future__ import annotations

import time
from typing import Any

import orjson

from gateway.providers.chat_parts import assistant_message
from gateway.providers.translated import NotAnAnswer

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


def finish_reason(stop_reason: Any) -> str | None:
    if stop_reason is None:
        return None
    return FINISH_REASONS.get(str(stop_reason), "stop")


def usage_counts(raw: Any, into: dict[str, int] | None = None) -> dict[str, int]:
    """The integer token counts of an Anthropic ``usage``, laid over ``into``."""
    counts = into if into is not None else {}
    if isinstance(raw, dict):
        for name in _USAGE_FIELDS:
            value = raw.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                counts[name] = value
    return counts


def openai_usage(counts: dict[str, int]) -> dict[str, Any]:
    cached = counts.get("cache_read_input_tokens", 0)
    # Anthropic's input_tokens excludes cached and cache-writing tokens; OpenAI's
    # prompt_tokens includes them, with the cached share in the details.
    prompt = counts.get("input_tokens", 0) + cached + counts.get("cache_creation_input_tokens", 0)
    completion = counts.get("output_tokens", 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def tool_call(block: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": block.get("id"),
        "type": "function",
        "function": {
            "name": block.get("name"),
            "arguments": orjson.dumps(block.get("input") or {}).decode(),
        },
    }


def transform_response(body: bytes) -> bytes:
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise NotAnAnswer("the body is not JSON") from exc
    if not isinstance(message, dict) or not isinstance(message.get("content"), list):
        raise NotAnAnswer("the body has no content list")
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in message["content"]:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif block.get("type") == "thinking" and isinstance(block.get("thinking"), str):
            thoughts.append(block["thinking"])
        elif block.get("type") == "tool_use":
            calls.append(tool_call(block))
    reply = assistant_message(texts, thoughts, calls)
    completion = {
        "id": message.get("id") or "",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": message.get("model") or "",
        "choices": [
            {
                "index": 0,
                "message": reply,
                "finish_reason": finish_reason(message.get("stop_reason")) or "stop",
                "logprobs": None,
            }
        ],
        "usage": openai_usage(usage_counts(message.get("usage"))),
    }
    return orjson.dumps(completion)
