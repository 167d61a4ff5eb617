"""Request transform: an OpenAI chat body becomes an Anthropic Messages body.

Anthropic rejects fields it does not know, so the body is built up from the fields
mapped here; everything else the client sent (``n``, ``logprobs``, ``seed``,
``response_format``, ``stream_options``...) is left behind.
"""

from __future__ import annotations

from typing import Any

import orjson

DEFAULT_MAX_TOKENS = 4096
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
    messages = body.get("messages")
    system, turns = _split_messages(messages if isinstance(messages, list) else [])
    out: dict[str, Any] = {"model": body.get("model")}
    if system:
        out["system"] = system
    out["messages"] = turns
    out["max_tokens"] = _max_tokens(body)
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
    return out


def _max_tokens(body: dict[str, Any]) -> int:
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    # OpenAI makes the limit optional, Anthropic requires it.
    return DEFAULT_MAX_TOKENS


def _split_messages(messages: list[Any]) -> tuple[str, list[dict[str, Any]]]:
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if role in ("system", "developer"):
            text = text_of(message.get("content"))
            if text:
                system.append(text)
            continue
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


def text_of(content: Any) -> str:
    """The text of a string or of a list of parts: OpenAI's text parts and Anthropic's
    text blocks share their shape."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return "\n\n".join(t for t in texts if isinstance(t, str) and t)
    return ""


def _user_blocks(content: Any) -> list[Block]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[Block] = []
    if not isinstance(content, list):
        return blocks
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("text"), str) and part["text"]:
            blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            image = _image(part.get("image_url"))
            if image is not None:
                blocks.append(image)
    return blocks


def _image(value: Any) -> Block | None:
    url = value.get("url") if isinstance(value, dict) else value
    if not isinstance(url, str):
        return None
    if url.startswith("data:"):
        header, sep, data = url[5:].partition(",")
        media_type, _, encoding = header.partition(";")
        if not sep or encoding != "base64":
            return None
        source = {"type": "base64", "media_type": media_type, "data": data}
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
                "input": _arguments(function.get("arguments")),
            }
        )
    return blocks


def _arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, str | bytes) or not raw:
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        # A model's malformed arguments must not fail the whole follow-up request.
        return {}
    return value if isinstance(value, dict) else {}


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
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            continue
        function = tool.get("function")
        if not isinstance(function, dict) or not function.get("name"):
            continue
        schema = function.get("parameters")
        entry: Block = {"name": function["name"]}
        if function.get("description"):
            entry["description"] = function["description"]
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
