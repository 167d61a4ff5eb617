"""Relaying a Responses API stream: ``event:``/``data:`` pairs pass through unchanged.

Only the events the gateway needs are decoded: ``response.created`` (the id, for
affinity) and the terminal ``response.completed`` / ``response.incomplete`` /
``response.failed`` (usage). They are found by their names' bytes, so the text deltas
between them are never split, named or parsed. Nothing is stripped or rewritten.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import orjson

from gateway.accounting.usage import usage_from_mapping
from gateway.observability.record import Usage
from gateway.providers.sse import EventFramer, StreamHead, event_data, json_object

# Events that come before any output: an error after them can still fail over.
PREAMBLE = frozenset({"response.created", "response.in_progress", "response.queued"})
FAILED = frozenset({"error", "response.failed"})
TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed", "error"})
_DECODED = frozenset({"response.created"}) | TERMINAL
# Each decoded event's type contains one of these, in its `event:` line and its data.
_MARKERS = (
    b"response.created",
    b"response.completed",
    b"response.incomplete",
    b"response.failed",
    b"error",
)
_EVENT_END = re.compile(rb"\r\n\r\n|\n\n")
_SEQUENCE = b'"sequence_number":'
_DIGITS = re.compile(rb"\s*(\d{1,18})")


def _events(chunk: bytes) -> Iterator[bytes]:
    """Each whole event of ``chunk`` in turn, split only as far as it is read."""
    start = 0
    for end in _EVENT_END.finditer(chunk):
        event = chunk[start : end.start()]
        start = end.end()
        if event.strip():
            yield event
    if chunk[start:].strip():
        yield chunk[start:]


def event_type(event: bytes) -> str:
    """An event's type: its ``event:`` line, else the ``type`` in its data (OpenAI sends
    both; the data alone is enough)."""
    if event.startswith(b"event:"):
        line_end = event.find(b"\n")
        return event[6 : line_end if line_end >= 0 else None].strip().decode("utf-8", "replace")
    name, data = event_data(event)
    if name:
        return name
    parsed = json_object(data)
    kind = parsed.get("type") if parsed is not None else None
    return kind if isinstance(kind, str) else ""


def responses_head(head: bytes) -> StreamHead:
    """Commit at the first output event; an error before it fails over. Only the
    events up to the verdict are read."""
    for event in _events(head):
        kind = event_type(event)
        if kind in FAILED:
            return StreamHead.FAILED
        if kind not in PREAMBLE:
            return StreamHead.COMMIT
    return StreamHead.MORE


def _bounds(chunk: bytes, at: int) -> tuple[int, int]:
    """Where the event around ``chunk[at]`` starts and ends (``chunk`` holds whole
    events; an event end holds no marker byte)."""
    lf, crlf = chunk.rfind(b"\n\n", 0, at), chunk.rfind(b"\r\n\r\n", 0, at)
    start = max(lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0)
    found = _EVENT_END.search(chunk, at)
    return start, found.start() if found is not None else len(chunk)


def _marked(chunk: bytes) -> list[bytes]:
    """The events of ``chunk`` that carry a marker, in stream order."""
    spans: dict[int, int] = {}
    for marker in _MARKERS:
        at = chunk.find(marker)
        while at >= 0:
            start, end = _bounds(chunk, at)
            spans[start] = end
            at = chunk.find(marker, end)
    return [chunk[start : spans[start]] for start in sorted(spans)]


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
        for event in _marked(chunk):
            self._decode(event)
        return chunk

    def finish(self) -> bytes:
        return self._framer.rest()

    def _decode(self, event: bytes) -> None:
        kind = event_type(event)
        if kind not in _DECODED:
            return  # a marker in other text (a delta that says "error")
        if kind in TERMINAL:
            self.complete = True
        parsed = json_object(event_data(event)[1])
        response = parsed.get("response") if parsed is not None else None
        if not isinstance(response, dict):
            return
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
