"""Request transform: an Anthropic Messages body becomes an OpenAI chat body.

The inverse of ``request_to_messages``, for a Messages client served by an
OpenAI-compatible member. Fields with no chat equivalent (``cache_control``, thinking
signatures, documents, server tools, ``top_k``, ``service_tier``...) are dropped with a
debug log; the README lists them.
"""

from __future__ import annotations

from typing import Any

import orjson
import structlog

from gateway.providers.chat_parts import text_of

log = structlog.get_logger("gateway.translate")

# Messages fields carried over as they are, or renamed.
_RENAMED = {
    "max_tokens": "max_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "stop_sequences": "stop",
}
# Fields the request shape itself accounts for; anything else is dropped and logged.
_HANDLED = frozenset(
    {*_RENAMED, "model", "messages", "system", "stream", "tools", "tool_choice"}
    | {"metadata", "thinking"}
)
_TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}

Part = dict[str, Any]


def to_chat(body: dict[str, Any], stream: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"model": body.get("model")}
    messages: list[dict[str, Any]] = []
    system = text_of(body.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    turns = body.get("messages")
    for turn in turns if isinstance(turns, list) else []:
        if isinstance(turn, dict):
            messages.extend(_turn(turn))
    out["messages"] = messages
    for name, chat_name in _RENAMED.items():
        if body.get(name) is not None:
            out[chat_name] = body[name]
    if stream:
        out["stream"] = True
        # Usage arrives in the last chunk only when asked for; the Messages stream
        # needs it for its message_delta event.
        out["stream_options"] = {"include_usage": True}
    tools = _tools(body.get("tools"))
    if tools:
        out["tools"] = tools
        _tool_choice(body.get("tool_choice"), out)
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        out["user"] = metadata["user_id"]
    thinking = body.get("thinking")
    if isinstance(thinking, dict):
        # The portable reasoning option; each provider kind maps it to its own field.
        out["thinking"] = thinking
    dropped = [name for name in body if name not in _HANDLED]
    if dropped:
        log.debug("messages fields dropped for a chat member", fields=dropped)
    return out


def _turn(turn: dict[str, Any]) -> list[dict[str, Any]]:
    role = turn.get("role")
    content = turn.get("content")
    if role == "assistant":
        return [_assistant(content)]
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    # Tool results are messages of their own in chat, and must come right after the
    # assistant's calls: before whatever else the user turn says.
    results: list[dict[str, Any]] = []
    parts: list[Part] = []
    for block in content if isinstance(content, list) else []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "tool_result":
            results.append(_tool_result(block))
        else:
            part = _user_part(block)
            if part is not None:
                parts.append(part)
    out = results
    if parts:
        out.append({"role": "user", "content": _collapse(parts)})
    return out


def _collapse(parts: list[Part]) -> str | list[Part]:
    if all(p["type"] == "text" for p in parts):
        return "\n\n".join(p["text"] for p in parts)
    return parts


def _user_part(block: dict[str, Any]) -> Part | None:
    kind = block.get("type")
    if kind == "text" and isinstance(block.get("text"), str):
        return {"type": "text", "text": block["text"]}
    if kind == "image":
        url = _image_url(block.get("source"))
        if url is not None:
            return {"type": "image_url", "image_url": {"url": url}}
    log.debug("content block dropped for a chat member", type=str(kind)[:40])
    return None


def _image_url(source: Any) -> str | None:
    if not isinstance(source, dict):
        return None
    if source.get("type") == "base64":
        return f"data:{source.get('media_type')};base64,{source.get('data')}"
    if source.get("type") == "url" and isinstance(source.get("url"), str):
        return str(source["url"])
    return None


def _assistant(content: Any) -> dict[str, Any]:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in content if isinstance(content, list) else []:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            function = {"name": block.get("name"), "arguments": arguments}
            calls.append({"id": block.get("id"), "type": "function", "function": function})
        else:
            # Thinking blocks (and their signatures) mean nothing to another vendor.
            log.debug("assistant block dropped for a chat member", type=str(kind)[:40])
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    elif message["content"] is None:
        message["content"] = ""
    return message


def _tool_result(block: dict[str, Any]) -> dict[str, Any]:
    content = block.get("content")
    text = text_of(content)
    if block.get("is_error") is True:
        text = f"Error: {text}" if text else "Error"
    return {"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": text}


def _tools(tools: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict) or not tool.get("name"):
            continue
        if "input_schema" not in tool:
            # A server tool (web search, code execution...): only Anthropic runs those.
            log.debug("server tool dropped for a chat member", type=str(tool.get("type"))[:40])
            continue
        function: dict[str, Any] = {"name": tool["name"], "parameters": tool["input_schema"]}
        if tool.get("description"):
            function["description"] = tool["description"]
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice: Any, out: dict[str, Any]) -> None:
    if not isinstance(choice, dict):
        return
    kind = choice.get("type")
    if kind in _TOOL_CHOICES:
        out["tool_choice"] = _TOOL_CHOICES[kind]
    elif kind == "tool" and choice.get("name"):
        out["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    if choice.get("disable_parallel_tool_use") is True and kind != "none":
        out["parallel_tool_calls"] = False
