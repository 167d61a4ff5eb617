"""Stream transform: Gemini's ``streamGenerateContent?alt=sse`` events (each a whole
``GenerateContentResponse`` holding the new parts) become OpenAI chunks.

Gemini sends no end marker: the last event carries ``finishReason`` and the body
ends. So ``[DONE]`` (and the usage chunk, when asked) is written at the end of the
body, and only if a finish reason came: a body cut before it is a truncation.
"""

from __future__ import annotations

from typing import Any

from gateway.providers.gemini.errors import openai_error
from gateway.providers.gemini.response import (
    BLOCKED_STATUS,
    blocked_error,
    blocked_prompt,
    candidate_parts,
    finish_reason,
    new_completion_id,
    openai_usage,
    tool_call,
)
from gateway.providers.sse import DONE_EVENT
from gateway.providers.translated import ChunkWriter, StreamRefused, delta_choice


class StreamTransformer(ChunkWriter):
    __slots__ = ("_calls", "_finished_seen", "_roles_sent", "_usage")

    def __init__(self, include_usage: bool) -> None:
        super().__init__(include_usage)
        self._roles_sent: set[int] = set()
        self._calls: dict[int, int] = {}  # candidate index → tool calls so far
        self._usage: dict[str, Any] | None = None
        self._finished_seen = False

    def end(self) -> bytes:
        if self.finished:
            return b""
        self.finished = True
        if not self._finished_seen:
            return b""  # cut short: the relay reports the truncation
        tail = [DONE_EVENT]
        if self.include_usage:
            tail.insert(0, self._chunk([], usage=self._usage or openai_usage({})))
        return b"".join(tail)

    def _event(self, name: str, payload: dict[str, Any], out: list[bytes]) -> None:
        if isinstance(payload.get("error"), dict):
            _, body = openai_error(500, payload["error"], "")
            out.append(b"data: " + body + b"\n\n" + DONE_EVENT)
            self.finished = True
            return
        self._id = self._id or str(payload.get("responseId") or new_completion_id())
        self._model = self._model or str(payload.get("modelVersion") or "")
        usage = openai_usage(payload.get("usageMetadata"))
        if usage is not None:
            self._usage = usage  # each event's counts are the total so far
        reason = blocked_prompt(payload)
        if reason is not None:
            if not self._roles_sent:  # nothing sent yet: refused, as without streaming
                self.finished = True
                raise StreamRefused(BLOCKED_STATUS, blocked_error(reason))
            self._delta(out, 0, {}, "content_filter")
            self._finished_seen = True
            return
        candidates = payload.get("candidates")
        for position, candidate in enumerate(candidates if isinstance(candidates, list) else []):
            if isinstance(candidate, dict):
                self._candidate(candidate, position, out)

    def _candidate(self, candidate: dict[str, Any], position: int, out: list[bytes]) -> None:
        index = candidate.get("index")
        index = index if isinstance(index, int) else position
        for part in candidate_parts(candidate):
            if isinstance(part.get("functionCall"), dict):
                call = tool_call(part)
                call["index"] = self._calls.get(index, 0)
                self._calls[index] = call["index"] + 1
                self._delta(out, index, {"tool_calls": [call]})
            elif isinstance(part.get("text"), str) and part["text"]:
                field = "reasoning_content" if part.get("thought") is True else "content"
                self._delta(out, index, {field: part["text"]})
        reason = finish_reason(candidate.get("finishReason"), index in self._calls)
        if reason is not None:
            self._delta(out, index, {}, reason)
            self._finished_seen = True

    def _delta(
        self, out: list[bytes], index: int, delta: dict[str, Any], finish: str | None = None
    ) -> None:
        if index not in self._roles_sent:
            self._roles_sent.add(index)
            out.append(self._chunk([delta_choice(index, {"role": "assistant", "content": ""})]))
        out.append(self._chunk([delta_choice(index, delta, finish)]))
