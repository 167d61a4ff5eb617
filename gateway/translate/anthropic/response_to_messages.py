"""Response transform: an OpenAI chat completion becomes an Anthropic message.

The inverse of ``response_to_chat``. A reasoning model's ``reasoning_content`` becomes
a thinking block without a signature (another vendor's reasoning cannot be signed).
"""

from __future__ import annotations

from typing import Any

import orjson

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


class NotACompletion(ValueError):
    """A 2xx body that is not an OpenAI chat completion."""


def stop_reason(finish_reason: Any) -> str:
    return STOP_REASONS.get(str(finish_reason), "end_turn")


def message_id(completion_id: Any) -> str:
    raw = str(completion_id or "")
    return raw if raw.startswith("msg_") else "msg_" + raw.removeprefix("chatcmpl-")


def messages_usage(raw: Any) -> dict[str, int]:
    """Anthropic's usage for an OpenAI ``usage``: Anthropic's ``input_tokens`` leaves
    out the cached share, which OpenAI's ``prompt_tokens`` includes."""
    usage = raw if isinstance(raw, dict) else {}
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    cached = cached if isinstance(cached, int) and cached > 0 else 0
    prompt = usage.get("prompt_tokens")
    prompt = prompt if isinstance(prompt, int) else 0
    completion = usage.get("completion_tokens")
    return {
        "input_tokens": max(prompt - cached, 0),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
        "output_tokens": completion if isinstance(completion, int) else 0,
    }


def tool_input(arguments: Any) -> dict[str, Any]:
    if isinstance(arguments, dict):
        return arguments
    try:
        value = orjson.loads(arguments) if isinstance(arguments, str | bytes) else None
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def reasoning_of(message: dict[str, Any]) -> str | None:
    """The reasoning text, under either name OpenAI-compatible servers use."""
    for name in ("reasoning_content", "reasoning"):
        value = message.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def to_message(body: bytes) -> bytes:
    try:
        completion = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise NotACompletion("the body is not JSON") from exc
    choices = completion.get("choices") if isinstance(completion, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise NotACompletion("the body has no choices")
    choice = choices[0]
    reply = choice.get("message")
    reply = reply if isinstance(reply, dict) else {}
    content: list[dict[str, Any]] = []
    reasoning = reasoning_of(reply)
    if reasoning is not None:
        content.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    text = reply.get("content")
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    calls = reply.get("tool_calls")
    for call in calls if isinstance(calls, list) else []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            content.append(
                {
                    "type": "tool_use",
                    "id": call.get("id"),
                    "name": function.get("name"),
                    "input": tool_input(function.get("arguments")),
                }
            )
    message = {
        "id": message_id(completion.get("id")),
        "type": "message",
        "role": "assistant",
        "model": completion.get("model") or "",
        "content": content,
        "stop_reason": stop_reason(choice.get("finish_reason")),
        "stop_sequence": None,
        "usage": messages_usage(completion.get("usage")),
    }
    return orjson.dumps(message)
