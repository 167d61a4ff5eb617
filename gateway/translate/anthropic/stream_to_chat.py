"""Stream transform: Anthropic's typed server-sent events become OpenAI chunks.

``StreamTransformer.feed`` takes the upstream's bytes as they arrive, split anywhere,
and returns the OpenAI events they complete. The role chunk is held back until the
first content: an ``error`` event that comes right after ``message_start`` (an
overload, typically) is then still the first thing the gateway sees, and fails over.
"""

from __future__ import annotations

from typing import Any

from gateway.providers.sse import DONE_EVENT, data_event
from gateway.providers.translated import ChunkWriter, delta_choice
from gateway.translate.anthropic.errors import openai_error
from gateway.translate.anthropic.response_to_chat import (
    finish_reason,
    openai_usage,
    usage_counts,
)


class StreamTransformer(ChunkWriter):
    __slots__ = ("_role_sent", "_tools", "_usage")

    def __init__(self, include_usage: bool) -> None:
        super().__init__(include_usage)
        self._role_sent = False
        self._tools: dict[int, int] = {}  # Anthropic block index → OpenAI tool index
        self._usage: dict[str, int] = {}

    def end(self) -> bytes:
        # message_stop ends an Anthropic stream; a body ending before it is truncated.
        self.finished = True
        return b""

    def _event(self, name: str, payload: dict[str, Any], out: list[bytes]) -> None:
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
            out.append(DONE_EVENT)
            self.finished = True
        elif kind == "error":
            error = openai_error(500, payload.get("error"))
            out.append(data_event({"error": error}))
            out.append(DONE_EVENT)
            self.finished = True
        # ping, content_block_stop, signature deltas and kinds added later carry
        # nothing to forward.

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
        elif kind == "thinking_delta" and isinstance(delta.get("thinking"), str):
            self._delta(out, {"reasoning_content": delta["thinking"]})
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
            out.append(self._chunk([delta_choice(0, {"role": "assistant", "content": ""})]))
        out.append(self._chunk([delta_choice(0, delta, finish)]))


def _index(payload: dict[str, Any]) -> int:
    index = payload.get("index")
    return index if isinstance(index, int) else -1
