"""Stream transform: OpenAI chat chunks become Anthropic's typed Messages events.

The inverse of ``stream_to_chat``. ``feed`` takes the upstream's bytes, split
anywhere, and returns the events they complete, in the order the Anthropic SDK's
stream accumulator expects: ``message_start``; per content block (thinking, text,
each tool call) ``content_block_start``, its deltas and ``content_block_stop``; then
``message_delta`` (stop reason and usage) and ``message_stop``. An OpenAI error event
becomes Anthropic's ``error`` event.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.providers.sse import EventReader, event_data
from gateway.translate.anthropic.errors import messages_error
from gateway.translate.anthropic.response_to_messages import (
    message_id,
    messages_usage,
    reasoning_of,
    stop_reason,
)


def named_event(name: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


class MessagesStreamWriter:
    __slots__ = (
        "_block",
        "_events",
        "_index",
        "_kind",
        "_started",
        "_stop",
        "_tools",
        "_usage",
        "finished",
    )

    def __init__(self) -> None:
        self.finished = False
        self._events = EventReader()
        self._started = False
        self._index = -1  # the open content block's index, -1 before the first
        self._kind = ""  # what the open block holds: thinking, text or tool:<n>
        self._block = False
        self._tools: set[int] = set()
        self._stop: str | None = None
        self._usage: dict[str, Any] | None = None

    def feed(self, data: bytes) -> bytes:
        if self.finished:
            return b""
        out: list[bytes] = []
        for event in self._events.feed(data):
            _, payload = event_data(event)
            if payload == b"[DONE]":
                self._finish(out)
            else:
                try:
                    parsed = orjson.loads(payload) if payload else None
                except orjson.JSONDecodeError:
                    continue
                if isinstance(parsed, dict):
                    self._chunk(parsed, out)
            if self.finished:
                self._events.clear()
                break
        return b"".join(out)

    def end(self) -> bytes:
        # No [DONE]: the stream was cut short, and the relay reports it so.
        return b""

    def _chunk(self, chunk: dict[str, Any], out: list[bytes]) -> None:
        error = chunk.get("error")
        if error is not None:
            out.append(named_event("error", messages_error(500, error)))
            self.finished = True
            return
        if not self._started:
            self._start(chunk, out)
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        choices = chunk.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        if not isinstance(choice, dict):
            return
        delta = choice.get("delta")
        if isinstance(delta, dict):
            reasoning = reasoning_of(delta)
            if reasoning is not None:
                self._open(out, "thinking", {"type": "thinking", "thinking": "", "signature": ""})
                self._delta(out, {"type": "thinking_delta", "thinking": reasoning})
            content = delta.get("content")
            if isinstance(content, str) and content:
                self._open(out, "text", {"type": "text", "text": ""})
                self._delta(out, {"type": "text_delta", "text": content})
            calls = delta.get("tool_calls")
            for call in calls if isinstance(calls, list) else []:
                if isinstance(call, dict):
                    self._tool_call(call, out)
        if choice.get("finish_reason") is not None:
            self._stop = stop_reason(choice["finish_reason"])

    def _start(self, chunk: dict[str, Any], out: list[bytes]) -> None:
        self._started = True
        message: dict[str, Any] = {
            "id": message_id(chunk.get("id")),
            "type": "message",
            "role": "assistant",
            "model": chunk.get("model") or "",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            # The chat stream tells its usage at the end only: message_delta has it.
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        out.append(named_event("message_start", {"type": "message_start", "message": message}))

    def _tool_call(self, call: dict[str, Any], out: list[bytes]) -> None:
        position = call.get("index")
        position = position if isinstance(position, int) else 0
        function = call.get("function")
        function = function if isinstance(function, dict) else {}
        kind = f"tool:{position}"
        if position not in self._tools:
            self._tools.add(position)
            block = {"type": "tool_use", "id": call.get("id"), "name": function.get("name")}
            self._open(out, kind, {**block, "input": {}})
        elif self._kind != kind:
            return  # a late fragment of an earlier call: its block is closed
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            self._delta(out, {"type": "input_json_delta", "partial_json": arguments})

    def _open(self, out: list[bytes], kind: str, block: dict[str, Any]) -> None:
        if self._block and self._kind == kind:
            return
        self._close(out)
        self._index += 1
        self._kind = kind
        self._block = True
        start = {"type": "content_block_start", "index": self._index, "content_block": block}
        out.append(named_event("content_block_start", start))

    def _delta(self, out: list[bytes], delta: dict[str, Any]) -> None:
        change = {"type": "content_block_delta", "index": self._index, "delta": delta}
        out.append(named_event("content_block_delta", change))

    def _close(self, out: list[bytes]) -> None:
        if self._block:
            stop = {"type": "content_block_stop", "index": self._index}
            out.append(named_event("content_block_stop", stop))
            self._block = False

    def _finish(self, out: list[bytes]) -> None:
        if not self._started:
            self._start({}, out)
        self._close(out)
        end = {"stop_reason": self._stop or "end_turn", "stop_sequence": None}
        usage = messages_usage(self._usage)
        out.append(
            named_event("message_delta", {"type": "message_delta", "delta": end, "usage": usage})
        )
        out.append(named_event("message_stop", {"type": "message_stop"}))
        self.finished = True
