"""Reading and writing the parts of OpenAI chat messages, for the translating kinds
(``anthropic``, ``gemini``): each maps these to its own blocks or parts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import orjson


def split_system(messages: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """The texts of ``system``/``developer`` messages, and the other messages."""
    system: list[str] = []
    rest: list[dict[str, Any]] = []
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, dict):
            continue
        if message.get("role") in ("system", "developer"):
            text = text_of(message.get("content"))
            if text:
                system.append(text)
        else:
            rest.append(message)
    return system, rest


def text_of(content: Any) -> str:
    """A message's text: the string, or its text parts joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return "\n\n".join(t for t in texts if isinstance(t, str) and t)
    return ""


def content_parts(content: Any) -> Iterator[tuple[str, str]]:
    """``("text", text)`` and ``("image", url)`` for a user message's content."""
    if isinstance(content, str):
        if content:
            yield "text", content
        return
    for part in content if isinstance(content, list) else []:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("text"), str) and part["text"]:
            yield "text", part["text"]
        elif kind == "image_url":
            value = part.get("image_url")
            url = value.get("url") if isinstance(value, dict) else value
            if isinstance(url, str):
                yield "image", url


Part = TypeVar("Part")


def mapped_content(
    content: Any, text: Callable[[str], Part], image: Callable[[str], Part | None]
) -> list[Part]:
    """A user message's content in a kind's own parts; images it cannot take are left out."""
    parts: list[Part] = []
    for kind, value in content_parts(content):
        part = text(value) if kind == "text" else image(value)
        if part is not None:
            parts.append(part)
    return parts


def data_url(url: str) -> tuple[str, str] | None:
    """``(media type, base64 data)`` of a ``data:`` URL, or None."""
    if not url.startswith("data:"):
        return None
    header, sep, data = url[5:].partition(",")
    media_type, _, encoding = header.partition(";")
    if not sep or encoding != "base64" or not media_type:
        return None
    return media_type, data


def arguments(raw: Any) -> dict[str, Any]:
    """A tool call's arguments as an object."""
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


def assistant_message(
    texts: list[str], thoughts: list[str], calls: list[dict[str, Any]]
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts)}
    if thoughts:
        # The field other OpenAI-compatible servers (DeepSeek, vLLM) use for reasoning.
        message["reasoning_content"] = "".join(thoughts)
    if calls:
        message["tool_calls"] = calls
        message["content"] = message["content"] or None  # OpenAI's shape for a bare call
    return message


def functions(tools: Any) -> Iterator[tuple[dict[str, Any], Any]]:
    """Each function tool as ``({name, description?}, its parameters schema)``."""
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            continue
        function = tool.get("function")
        if not isinstance(function, dict) or not function.get("name"):
            continue
        entry: dict[str, Any] = {"name": function["name"]}
        if function.get("description"):
            entry["description"] = function["description"]
        yield entry, function.get("parameters")
