"""Chat answers for the response cache: one stored form, replayed either way.

An entry is always a ``chat.completion`` JSON body. A stream that was recorded is
assembled into that form; a hit on a stream is replayed from it as chunks with the
same content, tool calls and finish reasons, ending with a usage chunk (which the
relay strips again when the client did not ask for usage) and ``[DONE]``.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.observability.record import Usage
from gateway.providers.sse import EVENT_SPLIT


def _loads(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def is_complete_answer(body: bytes) -> bool:
    """A whole answer: every choice ended with a finish reason."""
    parsed = _loads(body)
    if not isinstance(parsed, dict):
        return False
    choices = parsed.get("choices")
    if not isinstance(choices, list) or not choices:
        return False
    return all(isinstance(c, dict) and c.get("finish_reason") for c in choices)


class _Choice:
    __slots__ = ("content", "finish_reason", "reasoning", "refusal", "role", "tool_calls")

    def __init__(self) -> None:
        self.role = "assistant"
        self.content: list[str] | None = None
        self.reasoning: list[str] | None = None
        self.refusal: list[str] | None = None
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None

    def add(self, delta: dict[str, Any]) -> None:
        if isinstance(delta.get("role"), str):
            self.role = delta["role"]
        for name in ("content", "reasoning_content", "refusal"):
            text = delta.get(name)
            if isinstance(text, str):
                slot = "reasoning" if name == "reasoning_content" else name
                parts = getattr(self, slot)
                if parts is None:
                    parts = []
                    setattr(self, slot, parts)
                parts.append(text)
        for call in delta.get("tool_calls") or ():
            if isinstance(call, dict):
                self._add_call(call)

    def _add_call(self, call: dict[str, Any]) -> None:
        index = call.get("index", len(self.tool_calls))
        if not isinstance(index, int):
            return
        slot = self.tool_calls.setdefault(
            index, {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
        )
        if isinstance(call.get("id"), str):
            slot["id"] = call["id"]
        if isinstance(call.get("type"), str):
            slot["type"] = call["type"]
        function = call.get("function")
        if isinstance(function, dict):
            for part in ("name", "arguments"):
                if isinstance(function.get(part), str):
                    slot["function"][part] += function[part]

    def message(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": self.role,
            "content": "".join(self.content) if self.content is not None else None,
        }
        if self.reasoning is not None:
            message["reasoning_content"] = "".join(self.reasoning)
        if self.refusal is not None:
            message["refusal"] = "".join(self.refusal)
        if self.tool_calls:
            message["tool_calls"] = [self.tool_calls[i] for i in sorted(self.tool_calls)]
        return message


class ChatStreamRecorder:
    """Assembles a ``chat.completion`` from the events a stream relay forwarded."""

    __slots__ = ("_choices", "_head", "_usage", "broken")

    def __init__(self) -> None:
        self._head: dict[str, Any] = {}
        self._choices: dict[int, _Choice] = {}
        self._usage: dict[str, Any] | None = None
        self.broken = False

    def feed(self, events: bytes) -> None:
        for event in EVENT_SPLIT.split(events)[::2]:
            data = b"\n".join(
                line[5:].lstrip() for line in event.splitlines() if line.startswith(b"data:")
            )
            if not data or data == b"[DONE]":
                continue
            chunk = _loads(data)
            if not isinstance(chunk, dict) or "error" in chunk:
                self.broken = True
                continue
            for name in ("id", "created", "model", "system_fingerprint", "service_tier"):
                if name in chunk and name not in self._head:
                    self._head[name] = chunk[name]
            if isinstance(chunk.get("usage"), dict):
                self._usage = chunk["usage"]
            for choice in chunk.get("choices") or ():
                if not isinstance(choice, dict) or not isinstance(choice.get("index", 0), int):
                    continue
                state = self._choices.setdefault(choice.get("index", 0), _Choice())
                if isinstance(choice.get("delta"), dict):
                    state.add(choice["delta"])
                if choice.get("finish_reason"):
                    state.finish_reason = choice["finish_reason"]

    def completion(self, usage: Usage | None) -> bytes | None:
        """The answer as one body; ``None`` unless every choice finished."""
        choices = self._choices
        if self.broken or not choices or any(c.finish_reason is None for c in choices.values()):
            return None
        body: dict[str, Any] = {
            "id": self._head.get("id"),
            "object": "chat.completion",
            "created": self._head.get("created"),
            "model": self._head.get("model"),
            "choices": [
                {
                    "index": i,
                    "message": choices[i].message(),
                    "logprobs": None,
                    "finish_reason": choices[i].finish_reason,
                }
                for i in sorted(choices)
            ],
        }
        for name in ("system_fingerprint", "service_tier"):
            if name in self._head:
                body[name] = self._head[name]
        raw_usage = self._usage if self._usage is not None else _usage_body(usage)
        if raw_usage is not None:
            body["usage"] = raw_usage
        return orjson.dumps(body)


def _usage_body(usage: Usage | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    body: dict[str, Any] = {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }
    if usage.cached_tokens:
        body["prompt_tokens_details"] = {"cached_tokens": usage.cached_tokens}
    return body


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def replay_stream(body: bytes) -> bytes:
    """A stored ``chat.completion`` as the stream the client would have received."""
    parsed = orjson.loads(body)
    head = {
        "id": parsed.get("id"),
        "object": "chat.completion.chunk",
        "created": parsed.get("created"),
        "model": parsed.get("model"),
    }
    if "system_fingerprint" in parsed:
        head["system_fingerprint"] = parsed["system_fingerprint"]
    out: list[bytes] = []
    for choice in parsed.get("choices") or ():
        index = choice.get("index", 0)
        message = choice.get("message") or {}
        delta: dict[str, Any] = {"role": message.get("role", "assistant")}
        for name in ("content", "reasoning_content", "refusal"):
            if message.get(name) is not None:
                delta[name] = message[name]
        if "content" not in delta and not message.get("tool_calls"):
            delta["content"] = ""
        out.append(_event({**head, "choices": [_choice(index, delta, None)]}))
        calls = message.get("tool_calls")
        if calls:
            deltas = [{"index": i, **call} for i, call in enumerate(calls)]
            out.append(_event({**head, "choices": [_choice(index, {"tool_calls": deltas}, None)]}))
        finish = choice.get("finish_reason")
        out.append(_event({**head, "choices": [_choice(index, {}, finish)]}))
    if isinstance(parsed.get("usage"), dict):
        out.append(_event({**head, "choices": [], "usage": parsed["usage"]}))
    out.append(b"data: [DONE]\n\n")
    return b"".join(out)


def _choice(index: int, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}


class ChatAnswerCodec:
    def is_complete(self, body: bytes) -> bool:
        return is_complete_answer(body)

    def recorder(self) -> ChatStreamRecorder:
        return ChatStreamRecorder()

    def replay(self, body: bytes) -> bytes:
        return replay_stream(body)
