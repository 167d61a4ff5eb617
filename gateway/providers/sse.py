"""Server-sent event framing, as OpenAI-compatible streams use it: an event ends at a
blank line, ``\\n\\n`` or ``\\r\\n\\r\\n``. One place for the rule, shared by the attempt
loop (wait for the first whole event) and the relay (forward whole events only)."""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import Enum
from typing import Any

import orjson

EVENT_SPLIT = re.compile(rb"(\r\n\r\n|\n\n)")
# The longest event end, less one: how much of earlier bytes a search must overlap
# so an end split across two reads is still found.
END_OVERLAP = 3


def has_event_end(data: bytes) -> bool:
    return b"\n\n" in data or b"\r\n\r\n" in data


def last_event_end(data: bytes) -> int:
    """Index just past the last complete event, or -1."""
    lf = data.rfind(b"\n\n")
    crlf = data.rfind(b"\r\n\r\n")
    if crlf >= 0 and crlf + 4 > lf + 2:
        return crlf + 4
    return lf + 2 if lf >= 0 else -1


# Translating kinds parse the upstream's events; a lone CR ends a line in SSE, so
# "\r\r" ends an event there too.
_ANY_EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")


class EventReader:
    """Splits bytes, arriving in pieces cut anywhere, into whole SSE events.

    Each byte is searched once (``_searched``), so a giant event arriving in small
    reads costs linear time."""

    __slots__ = ("_buffer", "_searched")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._searched = 0

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self._buffer
        buffer += data
        events: list[bytes] = []
        start = max(0, self._searched - END_OVERLAP)
        while True:
            match = _ANY_EVENT_END.search(buffer, start)
            if match is None:
                self._searched = len(buffer)
                return events
            events.append(bytes(buffer[: match.start()]))
            del buffer[: match.end()]  # bytearray drops a prefix without copying
            start = 0

    def clear(self) -> None:
        self._buffer.clear()
        self._searched = 0


def event_data(event: bytes) -> tuple[str, bytes]:
    """An event's name (``event:``) and its ``data:`` lines joined."""
    name = ""
    data: list[bytes] = []
    for line in event.splitlines():
        if line.startswith(b"data:"):
            data.append(line[5:].lstrip(b" "))
        elif line.startswith(b"event:"):
            name = line[6:].strip().decode("utf-8", "replace")
    return name, b"\n".join(data)


DONE_EVENT = b"data: [DONE]\n\n"


def data_event(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


class StreamHead(Enum):
    """What a door makes of the events a stream has sent so far, before any reached
    the client: wait for more, commit to this member, or fail over."""

    MORE = "more"
    COMMIT = "commit"
    FAILED = "failed"


# Given the whole events received so far (at least one), the verdict.
HeadCheck = Callable[[bytes], StreamHead]

_ERROR_DATA_PREFIXES = (b'data: {"error"', b'data:{"error"')


def first_event_head(head: bytes) -> StreamHead:
    """The OpenAI chat rule: the first event decides; an error object fails over."""
    return StreamHead.FAILED if head.startswith(_ERROR_DATA_PREFIXES) else StreamHead.COMMIT


class EventFramer:
    """Cuts a byte stream into whole events: ``feed`` returns the events completed so
    far (``b""`` if none), ``rest`` what is left at the end."""

    __slots__ = ("_tail",)

    def __init__(self) -> None:
        # An incomplete event, kept in pieces: re-joining and re-scanning it on every
        # chunk was quadratic (a 3 MB event in 1 KB reads held the loop for 3 s).
        self._tail: list[bytes] = []

    def feed(self, chunk: bytes) -> bytes:
        if self._tail:
            # The tail holds no event end, so one can only finish in the new bytes
            # (or start in the tail's last 3, for a split "\r\n\r\n").
            overlap = b"".join(self._tail[-END_OVERLAP:])[-END_OVERLAP:]
            end = last_event_end(overlap + chunk)
            if end < 0:
                self._tail.append(chunk)
                return b""
            head = b"".join(self._tail)
            self._tail = []
            end += len(head) - len(overlap)
            chunk = head + chunk
        else:
            end = last_event_end(chunk)
            if end < 0:
                self._tail.append(chunk)
                return b""
        if end < len(chunk):
            self._tail.append(chunk[end:])
            chunk = chunk[:end]
        return chunk

    def rest(self) -> bytes:
        rest = b"".join(self._tail)
        self._tail = []
        return rest


def json_object(data: bytes) -> dict[str, object] | None:
    """An event's data as a JSON object, or ``None`` if it is not one."""
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None
