"""Relaying a Responses API stream: ``event:``/``data:`` pairs pass through unchanged.

Only the events the gateway needs are decoded: ``response.created`` (the id, for
affinity) and the terminal ``response.completed`` / ``response.incomplete`` /
``response.failed`` (usage). Nothing is stripped or rewritten.
"""

from __future__ import annotations

import re

import orjson

from gateway.accounting.usage import usage_from_mapping
from gateway.observability.record import Usage
from gateway.providers.sse import EVENT_SPLIT, EventFramer, StreamHead, event_data, json_object

# Events that come before any output: an error after them can still fail over.
PREAMBLE = frozenset({"response.created", "response.in_progress", "response.queued"})
FAILED = frozenset({"error", "response.failed"})
TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed", "error"})
_DECODED = frozenset({"response.created"}) | TERMINAL
_SEQUENCE = b'"sequence_number":'
_DIGITS = re.compile(rb"\s*(\d{1,18})")
_MARKERS = (b"response.created", b"response.completed", b"response.incomplete", b"failed", b"error")


def events(chunk: bytes) -> list[tuple[str, bytes]]:
    """The (name, data) of each whole event in ``chunk``."""
    return [event_data(event) for event in EVENT_SPLIT.split(chunk)[::2] if event.strip()]


def _type_of(name: str, data: bytes) -> str:
    if name:
        return name
    # No `event:` line: the type is in the payload (as OpenAI also sends it there).
    parsed = json_object(data)
    kind = parsed.get("type") if parsed is not None else None
    return kind if isinstance(kind, str) else ""


def responses_head(head: bytes) -> StreamHead:
    """Commit at the first output event; an error before it fails over."""
    for name, data in events(head):
        kind = _type_of(name, data)
        if kind in FAILED:
            return StreamHead.FAILED
        if kind not in PREAMBLE:
            return StreamHead.COMMIT
    return StreamHead.MORE


class ResponsesRelay:
    __slots__ = ("_framer", "_remember_id", "complete", "response_id", "sequence", "usage")

    def __init__(self, remember_id: bool = True) -> None:
        self._framer = EventFramer()
        self._remember_id = remember_id
        self.usage: Usage | None = None
        self.response_id: str | None = None
        self.complete = False
        # The last event's sequence_number: an error event the gateway adds follows it.
        self.sequence = -1

    def feed(self, chunk: bytes) -> bytes:
        chunk = self._framer.feed(chunk)
        if not chunk:
            return chunk
        at = chunk.rfind(_SEQUENCE)
        if at >= 0:
            digits = _DIGITS.match(chunk, at + len(_SEQUENCE))
            if digits is not None:
                self.sequence = int(digits.group(1))
        if any(marker in chunk for marker in _MARKERS):
            self._scan(chunk)
        return chunk

    def finish(self) -> bytes:
        return self._framer.rest()

    def _scan(self, chunk: bytes) -> None:
        for name, data in events(chunk):
            kind = _type_of(name, data)
            if kind not in _DECODED:
                continue
            if kind in TERMINAL:
                self.complete = True
            parsed = json_object(data)
            response = parsed.get("response") if parsed is not None else None
            if not isinstance(response, dict):
                continue
            rid = response.get("id")
            if kind == "response.created" and self._remember_id and isinstance(rid, str):
                self.response_id = rid
            usage = usage_from_mapping(response.get("usage"))
            if usage is not None:
                self.usage = usage


def error_event(message: str, code: str, sequence: int | None = None) -> bytes:
    payload: dict[str, object] = {"type": "error", "code": code, "message": message, "param": None}
    if sequence is not None:
        payload["sequence_number"] = sequence
    return b"event: error\ndata: " + orjson.dumps(payload) + b"\n\n"
