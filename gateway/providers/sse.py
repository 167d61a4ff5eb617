"""Server-sent event framing, as OpenAI-compatible streams use it: an event ends at a
blank line, ``\\n\\n`` or ``\\r\\n\\r\\n``. One place for the rule, shared by the attempt
loop (wait for the first whole event) and the relay (forward whole events only)."""

from __future__ import annotations

import re

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
