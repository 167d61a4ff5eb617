"""Request transform: an OpenAI chat body becomes an Anthropic Messages body.

Anthropic rejects fields it does not know, so the body is built up from the fields
mapped here; everything else the client sent (``n``, ``logprobs``, ``seed``,
``response_format``, ``stream_options``...) is left behind.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.providers.chat_parts import (
    arguments,
    data_url,
    functions,
    mapped_content,
    split_system,
    text_of,
)
from gateway.providers.reasoning import Reasoning, read_reasoning

DEFAULT_MAX_TOKENS = 4096
# reasoning_effort → thinking.budget_tokens; Anthropic's minimum budget is 1024.
THINKING_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}
MIN_THINKING_BUDGET = 1024
_PASSED_THROUGH = ("temperature", "top_p", "top_k")
_TOOL_CHOICES: dict[str, dict[str, Any]] = {
    "auto": {"type": "auto"},
    "required": {"type": "any"},
    "none": {"type": "none"},
}

Block = dict[str, Any]


def encode_request(body: dict[str, Any]) -> bytes:
    return orjson.dumps(to_anthropic(body))


def to_anthropic(body: dict[str, Any]) -> dict[str, Any]:
    system, turns = _split_messages(body.get("messages"))
    out: dict[str, Any] = {"model": body.get("model")}
    if system:
        out["system"] = system
    out["messages"] = turns
    out["max_tokens"] = _max_tokens(body) or DEFAULT_MAX_TOKENS
    for name in _PASSED_THROUGH:
        if body.get(name) is not None:
            out[name] = body[name]
    stop = body.get("stop")
    if isinstance(stop, str):
        out["stop_sequences"] = [stop]
    elif isinstance(stop, list) and stop:
        out["stop_sequences"] = [s for s in stop if isinstance(s, str)]
    if body.get("stream"):
        out["stream"] = True
    tools = _tools(body.get("tools"))
    if tools:
        out["tools"] = tools
    choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"), bool(tools))
    if choice is not None:
        out["tool_choice"] = choice
    user = body.get("user")
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": user}
    reasoning = read_reasoning(body)
    if reasoning is not None:
        _think(out, reasoning, _max_tokens(body, None))
    return out


def _think(out: dict[str, Any], reasoning: Reasoning, asked_max: int | None) -> None:
    """``thinking: {type: enabled, budget_tokens}`` under the API's rules: the budget
    at least 1024 and below ``max_tokens``, no ``temperature`` or ``top_k``, and
    ``top_p`` only from 0.95."""
    budget = reasoning.budget_from(THINKING_BUDGETS)
    if not budget:  # "none", a zero budget, or only include_thoughts (always on here)
        return
    budget = max(budget, MIN_THINKING_BUDGET)
    out["thinking"] = {"type": "enabled", "budget_tokens": budget}
    if asked_max is None or asked_max <= budget:
        # The client's limit is for the answer; thinking comes on top of it.
        out["max_tokens"] = budget + (asked_max or DEFAULT_MAX_TOKENS)
    fit_sampling_to_thinking(out)


def fit_sampling_to_thinking(out: dict[str, Any]) -> None:
    """With thinking on, the API refuses ``temperature`` other than 1, any ``top_k``
    and ``top_p`` below 0.95; such values (often a route's options) are left out."""
    temperature = out.get("temperature")
    if temperature is not None and temperature != 1:
        del out["temperature"]
    out.pop("top_k", None)
    top_p = out.get("top_p")
    if isinstance(top_p, int | float) and top_p < 0.95:
        del out["top_p"]


def thinks(body: dict[str, Any]) -> bool:
    """Does a Messages API body turn extended thinking on?"""
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def _max_tokens(body: dict[str, Any], default: int | None = DEFAULT_MAX_TOKENS) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    # OpenAI makes the limit optional, Anthropic requires it.
    return default


def _split_messages(messages: Any) -> tuple[str, list[dict[str, Any]]]:
    system, rest = split_system(messages)
    turns: list[dict[str, Any]] = []
    for message in rest:
        role = message.get("role")
        if role == "user":
            blocks = _user_blocks(message.get("content"))
        elif role == "assistant":
            blocks = _assistant_blocks(message)
        elif role == "tool":
            blocks = [_tool_result(message)]
            role = "user"  # Anthropic carries tool results in a user turn
        else:
            continue
        if not blocks:
            continue  # Anthropic rejects empty content
        if turns and turns[-1]["role"] == role:
            # Anthropic requires user and assistant turns to alternate.
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    for turn in turns:
        content = turn["content"]
        if len(content) == 1 and content[0]["type"] == "text":
            turn["content"] = content[0]["text"]
    return "\n\n".join(system), turns


def _user_blocks(content: Any) -> list[Block]:
    return mapped_content(content, lambda text: {"type": "text", "text": text}, _image)


def _image(url: str) -> Block | None:
    inline = data_url(url)
    if inline is not None:
        source = {"type": "base64", "media_type": inline[0], "data": inline[1]}
        return {"type": "image", "source": source}
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    return None


def _assistant_blocks(message: dict[str, Any]) -> list[Block]:
    text = text_of(message.get("content"))
    blocks: list[Block] = [{"type": "text", "text": text}] if text else []
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else []:
        if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
            continue
        function = call["function"]
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id"),
                "name": function.get("name"),
                "input": arguments(function.get("arguments")),
            }
        )
    return blocks


def _tool_result(message: dict[str, Any]) -> Block:
    content = message.get("content")
    result: Block = {"type": "tool_result", "tool_use_id": message.get("tool_call_id")}
    if isinstance(content, str):
        result["content"] = content
    elif isinstance(content, list):
        result["content"] = _user_blocks(content)
    return result


def _tools(tools: Any) -> list[Block]:
    out: list[Block] = []
    for entry, schema in functions(tools):
        # Anthropic requires a schema; OpenAI lets a tool without arguments omit it.
        entry["input_schema"] = schema if isinstance(schema, dict) else {"type": "object"}
        out.append(entry)
    return out


def _tool_choice(choice: Any, parallel: Any, has_tools: bool) -> Block | None:
    mapped: Block | None = None
    if isinstance(choice, str):
        mapped = dict(_TOOL_CHOICES[choice]) if choice in _TOOL_CHOICES else None
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        mapped = {"type": "tool", "name": choice["function"].get("name")}
    if parallel is False and has_tools:
        mapped = mapped or {"type": "auto"}
        if mapped["type"] != "none":
            mapped["disable_parallel_tool_use"] = True
    return mapped
