"""Forwarding an upstream SSE stream in whole events, whatever the door's format.

Bytes are forwarded as they arrive, cut only at event ends, without decoding them; a
door's relay looks at each batch of whole events (for usage, or its end marker) in
``inspect``.
"""

from __future__ import annotations

from gateway.providers.sse import END_OVERLAP, last_event_end


class EventRelay:
    __slots__ = ("_tail",)

    def __init__(self) -> None:
        # An incomplete event, kept in pieces: re-joining and re-scanning it on every
        # chunk was quadratic (a 3 MB event in 1 KB reads held the loop for 3 s).
        self._tail: list[bytes] = []

    def inspect(self, events: bytes, final: bool) -> bytes:
        """What to forward of ``events`` (whole events; with ``final``, what was left
        unterminated when the upstream ended)."""
        return events

    def feed(self, chunk: bytes) -> bytes:
        """Bytes to forward now: the complete events received so far."""
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
        return self.inspect(chunk, False)

    def finish(self) -> bytes:
        rest = b"".join(self._tail)
        self._tail = []
        return self.inspect(rest, True) if rest else rest
