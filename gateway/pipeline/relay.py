"""Forwarding an upstream SSE stream in whole events, whatever the door's format.

Bytes are forwarded as they arrive, cut only at event ends, without decoding them; a
door's relay looks at each batch of whole events (for usage, or its end marker) in
``inspect``.
"""

from __future__ import annotations

from gateway.providers.sse import EventFramer


class EventRelay:
    __slots__ = ("_framer",)

    def __init__(self) -> None:
        self._framer = EventFramer()

    def inspect(self, events: bytes, final: bool) -> bytes:
        """What to forward of ``events`` (whole events; with ``final``, what was left
        unterminated when the upstream ended)."""
        return events

    def feed(self, chunk: bytes) -> bytes:
        """Bytes to forward now: the complete events received so far."""
        events = self._framer.feed(chunk)
        return self.inspect(events, False) if events else b""

    def finish(self) -> bytes:
        rest = self._framer.rest()
        return self.inspect(rest, True) if rest else rest
