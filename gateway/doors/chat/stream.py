"""Relaying an upstream SSE stream to the client.

Bytes are forwarded as they arrive, in whole events, without decoding them. Only an
event that carries ``usage`` is parsed; when the gateway asked for usage on the
client's behalf, that event (and the ``"usage":null`` fields it caused) is removed
so the client sees exactly the stream it asked for.
"""

from __future__ import annotations

import orjson

from gateway.accounting.usage import usage_from_mapping
from gateway.observability.record import Usage
from gateway.providers.sse import END_OVERLAP, EVENT_SPLIT, last_event_end

_USAGE_MARKERS = (b'"usage":{', b'"usage": {')


class StreamRelay:
    __slots__ = ("_tail", "saw_done", "strip_usage", "usage")

    def __init__(self, strip_usage: bool) -> None:
        # An incomplete event, kept in pieces: re-joining and re-scanning it on every
        # chunk was quadratic (a 3 MB event in 1 KB reads held the loop for 3 s).
        self._tail: list[bytes] = []
        self.strip_usage = strip_usage
        self.usage: Usage | None = None
        self.saw_done = False

    @property
    def complete(self) -> bool:
        return self.saw_done

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
        if b"[DONE]" in chunk:
            self.saw_done = True
        if b'"usage"' in chunk:
            chunk = self._scan_usage(chunk)
        return chunk

    def finish(self) -> bytes:
        rest = b"".join(self._tail)
        self._tail = []
        if rest and b'"usage"' in rest:
            rest = self._scan_usage(rest)
        return rest

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
            parsed = _loads(payload)
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


def _loads(payload: bytes) -> dict[str, object] | None:
    try:
        parsed = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def error_event(message: str, type_: str = "server_error", code: str | None = None) -> bytes:
    payload = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return b"data: " + orjson.dumps(payload) + b"\n\ndata: [DONE]\n\n"
