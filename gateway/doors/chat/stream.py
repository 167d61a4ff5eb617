"""Relaying an upstream SSE stream to the client.

Bytes are forwarded as they arrive, in whole events (``EventRelay``). Only an
event that carries ``usage`` is parsed; when the gateway asked for usage on the
client's behalf, that event (and the ``"usage":null`` fields it caused) is removed
so the client sees exactly the stream it asked for.
"""

from __future__ import annotations

import orjson

from gateway.accounting.usage import usage_from_mapping
from gateway.observability.record import Usage
from gateway.pipeline.relay import EventRelay
from gateway.providers.sse import EVENT_SPLIT, json_object

_USAGE_MARKERS = (b'"usage":{', b'"usage": {')


class StreamRelay(EventRelay):
    __slots__ = ("saw_done", "strip_usage", "usage")

    def __init__(self, strip_usage: bool) -> None:
        super().__init__()
        self.strip_usage = strip_usage
        self.usage: Usage | None = None
        self.saw_done = False

    @property
    def complete(self) -> bool:
        return self.saw_done

    def inspect(self, events: bytes, final: bool) -> bytes:
        if not final and b"[DONE]" in events:
            self.saw_done = True
        if b'"usage"' in events:
            events = self._scan_usage(events)
        return events

    def _scan_usage(self, chunk: bytes) -> bytes:
        if self.strip_usage:
            chunk = chunk.replace(b',"usage":null', b"").replace(b', "usage": null', b"")
        if not any(marker in chunk for marker in _USAGE_MARKERS):
            return chunk
        kept: list[bytes] = []
        # Split at event ends, LF or CRLF, keeping each event's own terminator.
        parts = EVENT_SPLIT.split(chunk)
        for i in range(0, len(parts), 2):
            event = parts[i]
            end = parts[i + 1] if i + 1 < len(parts) else b""
            if not any(marker in event for marker in _USAGE_MARKERS):
                kept.append(event + end)
                continue
            payload = _data_of(event)
            parsed = json_object(payload)
            if parsed is not None:
                usage = usage_from_mapping(parsed.get("usage"))
                if usage is not None:
                    self.usage = usage
                if self.strip_usage and not parsed.get("choices"):
                    continue
                if self.strip_usage:
                    parsed.pop("usage", None)
                    event = b"data: " + orjson.dumps(parsed)
            kept.append(event + end)
        return b"".join(kept)


def _data_of(event: bytes) -> bytes:
    lines = [ln[5:].lstrip() for ln in event.splitlines() if ln.startswith(b"data:")]
    return b"\n".join(lines)


def error_event(message: str, type_: str = "server_error", code: str | None = None) -> bytes:
    payload = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return b"data: " + orjson.dumps(payload) + b"\n\ndata: [DONE]\n\n"
