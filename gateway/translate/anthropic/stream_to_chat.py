"""Stream transform: Anthropic's typed server-sent events become OpenAI chunks.

``StreamTransformer.feed`` takes the upstream's bytes as they arrive, split anywhere,
and returns the OpenAI events they complete. The role chunk is held back until the
first content: an ``error`` event that comes right after ``message_start`` (an
overload, typically) is then still the first thing the gateway sees, and fails over.
"""

from __future__ import annotations

import re
import time
from typing import Any

import orjson

from gateway.translate.anthropic.errors import openai_error
from gateway.translate.anthropic.response_to_chat import (
    finish_reason,
    openai_usage,
    usage_counts,
)

_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")
_END_OVERLAP = 3  # the longest event end, less one
DONE = b"data: [DONE]\n\n"


def sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


class StreamTransformer:
    __slots__ = (
        "_buffer",
        "_created",
        "_id",
        "_model",
        "_role_sent",
        "_searched",
        "_tools",
        "_usage",
        "finished",
        "include_usage",
    )

    def __init__(self, include_usage: bool) -> None:
        self.include_usage = include_usage
        self.finished = False
        self._buffer = bytearray()
        # How much of the buffer is known to hold no event end: each byte is searched
        # once, so a giant event arriving in small reads costs linear time.
        self._searched = 0
        self._id = ""
        self._model = ""
        self._created = int(time.time())
        self._role_sent = False
        self._tools: dict[int, int] = {}  # Anthropic block index → OpenAI tool index
        self._usage: dict[str, int] = {}

    def feed(self, data: bytes) -> bytes:
        if self.finished:
            return b""
        buffer = self._buffer
        buffer += data
        out: list[bytes] = []
        start = max(0, self._searched - _END_OVERLAP)
        while not self.finished:
            match = _EVENT_END.search(buffer, start)
            if match is None:
                self._searched = len(buffer)
                break
            event = bytes(buffer[: match.start()])
            del buffer[: match.end()]  # bytearray drops a prefix without copying
            start = 0
            self._event(event, out)
        if self.finished:
            buffer.clear()
        return b"".join(out)

    def end(self) -> bytes:
        return b""

    def _event(self, raw: bytes, out: list[bytes]) -> None:
        name = ""
        data: list[bytes] = []
        for line in raw.splitlines():
            if line.startswith(b"event:"):
                name = line[6:].strip().decode("utf-8", "replace")
            elif line.startswith(b"data:"):
                data.append(line[5:].lstrip(b" "))
        if not data:
            return
        try:
            payload = orjson.loads(b"\n".join(data))
        except orjson.JSONDecodeError:
            return
        if not isinstance(payload, dict):
            return
        kind = payload.get("type") or name
        if kind == "message_start":
            self._message_start(payload.get("message"))
        elif kind == "content_block_start":
            self._block_start(payload, out)
        elif kind == "content_block_delta":
            self._block_delta(payload, out)
        elif kind == "message_delta":
            self._message_delta(payload, out)
        elif kind == "message_stop":
            if self.include_usage:
                out.append(self._chunk([], usage=openai_usage(self._usage)))
            out.append(DONE)
            self.finished = True
        elif kind == "error":
            error = openai_error(500, payload.get("error"))
            out.append(sse({"error": error}))
            out.append(DONE)
            self.finished = True
        # ping, content_block_stop and kinds added later carry nothing to forward.

    def _message_start(self, message: Any) -> None:
        if not isinstance(message, dict):
            return
        self._id = str(message.get("id") or "")
        self._model = str(message.get("model") or "")
        usage_counts(message.get("usage"), self._usage)

    def _block_start(self, payload: dict[str, Any], out: list[bytes]) -> None:
        block = payload.get("content_block")
        if not isinstance(block, dict) or block.get("type") != "tool_use":
            return
        index = self._tools[_index(payload)] = len(self._tools)
        call = {
            "index": index,
            "id": block.get("id"),
            "type": "function",
            "function": {"name": block.get("name"), "arguments": ""},
        }
        self._delta(out, {"tool_calls": [call]})

    def _block_delta(self, payload: dict[str, Any], out: list[bytes]) -> None:
        delta = payload.get("delta")
        if not isinstance(delta, dict):
            return
        kind = delta.get("type")
        if kind == "text_delta" and isinstance(delta.get("text"), str):
            self._delta(out, {"content": delta["text"]})
        elif kind == "input_json_delta" and isinstance(delta.get("partial_json"), str):
            index = self._tools.get(_index(payload))
            if index is not None:
                call = {"index": index, "function": {"arguments": delta["partial_json"]}}
                self._delta(out, {"tool_calls": [call]})

    def _message_delta(self, payload: dict[str, Any], out: list[bytes]) -> None:
        usage_counts(payload.get("usage"), self._usage)
        delta = payload.get("delta")
        reason = finish_reason(delta.get("stop_reason") if isinstance(delta, dict) else None)
        if reason is not None:
            self._delta(out, {}, reason)

    def _delta(self, out: list[bytes], delta: dict[str, Any], finish: str | None = None) -> None:
        if not self._role_sent:
            self._role_sent = True
            out.append(self._chunk([self._choice({"role": "assistant", "content": ""})]))
        out.append(self._chunk([self._choice(delta, finish)]))

    @staticmethod
    def _choice(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        chunk = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": choices,
            **extra,
        }
        return sse(chunk)


def _index(payload: dict[str, Any]) -> int:
    index = payload.get("index")
    return index if isinstance(index, int) else -1
