"""Messages API streams: where their opening ends, and relaying them untouched.

The events pass through byte for byte; only those that carry usage
(``message_start``, ``message_delta``) are parsed, to account for them.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.accounting.usage import usage_from_messages
from gateway.observability.record import Usage
from gateway.pipeline.relay import EventRelay
from gateway.providers.sse import EVENT_SPLIT, EventReader, event_data
from gateway.translate.anthropic.errors import ERROR_STATUSES
from gateway.translate.anthropic.response_to_chat import usage_counts

# Events before the first content: an error may still follow them.
_PRELUDE = frozenset(("message_start", "ping"))
_STOP_MARKERS = (b'"type":"message_stop"', b'"type": "message_stop"')
_ERROR_MARKERS = (b'"type":"error"', b'"type": "error"')


def _event_type(event: bytes) -> tuple[str, dict[str, Any] | None]:
    """The event's type (its data's ``type``, else its ``event:`` name) and its data."""
    name, data = event_data(event)
    try:
        payload = orjson.loads(data) if data else None
    except orjson.JSONDecodeError:
        payload = None
    if not isinstance(payload, dict):
        return name, None
    kind = payload.get("type")
    return (kind if isinstance(kind, str) else name), payload


class _OpeningReader:
    __slots__ = ("_events",)

    def __init__(self) -> None:
        self._events = EventReader()

    def feed(self, piece: bytes) -> bool:
        for event in self._events.feed(piece):
            kind, _ = _event_type(event)
            if kind and kind not in _PRELUDE:
                return True
        return False


class MessagesOpening:
    """The opening runs to the first event after ``message_start`` and pings, so an
    ``overloaded_error`` event sent right after ``message_start`` still fails over."""

    def reader(self) -> _OpeningReader:
        return _OpeningReader()

    def error_status(self, opening: bytes) -> int | None:
        if not any(marker in opening for marker in _ERROR_MARKERS):
            return None
        for event in EventReader().feed(opening):
            kind, payload = _event_type(event)
            if kind == "error":
                error = payload.get("error") if payload else None
                error_type = error.get("type") if isinstance(error, dict) else None
                return ERROR_STATUSES.get(str(error_type), 500)
        return None


class MessagesRelay(EventRelay):
    __slots__ = ("_counts", "ended", "errored", "usage")

    def __init__(self) -> None:
        super().__init__()
        self._counts: dict[str, int] = {}
        self.usage: Usage | None = None
        self.ended = False
        self.errored = False

    @property
    def complete(self) -> bool:
        # An upstream error event ends the stream in Anthropic's own shape: the client
        # has been told, and nothing is to be added.
        return self.ended or self.errored

    def inspect(self, events: bytes, final: bool) -> bytes:
        if final:
            return events
        if b'"usage"' in events:
            self._read_usage(events)
        if any(marker in events for marker in _STOP_MARKERS):
            self.ended = True
        elif any(marker in events for marker in _ERROR_MARKERS):
            self.errored = True
        return events

    def _read_usage(self, events: bytes) -> None:
        parts = EVENT_SPLIT.split(events)
        for event in parts[::2]:
            if b'"usage"' not in event:
                continue
            kind, payload = _event_type(event)
            if payload is None:
                continue
            if kind == "message_start":
                message = payload.get("message")
                if isinstance(message, dict):
                    usage_counts(message.get("usage"), self._counts)
            elif kind == "message_delta":
                # Cumulative totals: they overwrite message_start's.
                usage_counts(payload.get("usage"), self._counts)
        if self._counts:
            self.usage = usage_from_messages(self._counts)


def error_event(message: str, error_type: str = "api_error") -> bytes:
    payload = {"type": "error", "error": {"type": error_type, "message": message}}
    return b"event: error\ndata: " + orjson.dumps(payload) + b"\n\n"
