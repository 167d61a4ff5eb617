"""A deterministic chat completion stream, as server-sent events."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import orjson

from gateway.providers.mock.request import wants_usage_chunk
from gateway.providers.mock.response import completion_id, usage


def split_reply(reply: str, pieces: int) -> list[str]:
    words = reply.split(" ")
    pieces = max(1, min(pieces, len(words)))
    size = -(-len(words) // pieces)
    parts = [" ".join(words[i : i + size]) for i in range(0, len(words), size)]
    return [p if i == 0 else " " + p for i, p in enumerate(parts)]


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def stream_events(body: dict[str, Any], reply: str, pieces: int) -> Iterator[bytes]:
    base = {
        "id": completion_id(body),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model", "mock"),
    }
    include_usage = wants_usage_chunk(body)
    parts = split_reply(reply, pieces)
    for i, text in enumerate(parts):
        delta: dict[str, Any] = {"content": text}
        if i == 0:
            delta["role"] = "assistant"
        yield _event({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
    yield _event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if include_usage:
        yield _event({**base, "choices": [], "usage": usage(body, reply)})
    yield b"data: [DONE]\n\n"
