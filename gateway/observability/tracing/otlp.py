"""OTLP protobuf, written by hand for the gateway's spans.

The SDK's encoder builds a protobuf object per span, attribute and value, then
serializes them: about 40 µs a span. Here a span is written straight to bytes, and what
repeats from one request to the next is written once: the resource and the
instrumentation scope (once per process), attribute keys, span names, and each
(key, value) pair whose value is a str or an int (route, model, outcome, status...).
That comes to a few µs a span.

The messages (opentelemetry/proto/trace/v1/trace.proto, common/v1/common.proto), with
fields written in field-number order, as protobuf's own serializer does:
``ExportTraceServiceRequest{1: ResourceSpans{1: Resource, 2: ScopeSpans{1: scope,
2: Span...}}}``, attributes as ``KeyValue{1: key, 2: AnyValue}``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from typing import Any

from gateway.observability.tracing.spans import SAMPLED, Span

_MASK64 = (1 << 64) - 1
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_VARINTS = [bytes((n,)) for n in range(0x80)]
# Span fields 1 and 2 (the ids, big-endian bytes), 4 (the parent id), 6 to 8 (kind and
# the fixed64 times), 16 (flags, fixed32; tag 133 is the varint 0x85 0x01).
_IDS = struct.Struct(">BBQQBBQ")
_PARENT = struct.Struct(">BBQ")
_KIND_TIMES = struct.Struct("<BBBQBQ")
_DOUBLE = struct.Struct("<d")
_TIME = struct.Struct("<BQ")
_UNSET_STATUS = b"\x7a\x00"
# Span.flags (field 16, fixed32: tag 133 is the varint 0x85 0x01): the W3C flags (only
# sampled spans are exported), and bits 8 and 9: whether the parent is remote is known,
# and it is. By parent: none, local, remote.
_FLAGS = [struct.pack("<BBI", 0x85, 0x01, SAMPLED | 0x100 | remote) for remote in (0, 0, 0x200)]
# Bounds the (key, value) memo; ids and costs are new each time, so it is emptied now
# and then and refills with what repeats.
MEMO_LIMIT = 4096

# Field tags (field << 3 | wire type) of the messages written here.
SPAN_ATTRIBUTE = b"\x4a"  # Span.attributes (9)
SPAN_EVENT = b"\x5a"  # Span.events (11)
EVENT_ATTRIBUTE = b"\x1a"  # Span.Event.attributes (3)
RESOURCE_ATTRIBUTE = b"\x0a"  # Resource.attributes (1)
SCOPE_SPAN = b"\x12"  # ScopeSpans.spans (2)


def varint(value: int) -> bytes:
    """A non-negative integer as a protobuf varint."""
    if value < 0x80:
        return _VARINTS[value]
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, payload."""
    return tag + varint(len(payload)) + payload


def _text(value: str) -> bytes:
    # A lone surrogate cannot be UTF-8; protobuf would refuse the whole batch.
    return value.encode("utf-8", "replace")


def any_value(value: Any) -> bytes | None:
    """An ``AnyValue``; None for what OpenTelemetry attributes cannot hold."""
    if isinstance(value, str):
        return field(b"\x0a", _text(value))
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            return None  # as the SDK's encoder, which drops what int64 cannot hold
        return b"\x18" + varint(value & _MASK64)  # negative: two's complement, 10 bytes
    if isinstance(value, float):
        return b"\x21" + _DOUBLE.pack(value)
    if isinstance(value, bytes | bytearray):
        return field(b"\x3a", bytes(value))
    if isinstance(value, list | tuple):
        items = []
        for item in value:
            encoded = any_value(item) if item is not None else b""
            if encoded is None:
                return None
            items.append(field(b"\x0a", encoded))  # ArrayValue.values (1)
        return field(b"\x2a", b"".join(items))
    return None


class SpanEncoder:
    """Writes batches of finished spans as one ``ExportTraceServiceRequest``."""

    def __init__(
        self, resource: Mapping[str, Any], scope_name: str, scope_version: str | None = None
    ) -> None:
        self._keys: dict[str, bytes] = {}
        self._names: dict[str, bytes] = {}
        # (key, value) -> the attribute's bytes, for str and int values, and apart for
        # tuples of str.
        self._memo: dict[tuple[str, Any], bytes | None] = {}
        self._tuples: dict[tuple[str, Any], bytes | None] = {}
        scope = field(b"\x0a", _text(scope_name))
        if scope_version:
            scope += field(b"\x12", _text(scope_version))
        self._resource = field(b"\x0a", self.attributes(RESOURCE_ATTRIBUTE, resource))
        self._scope = field(b"\x0a", scope)

    def request(self, spans: Iterable[Span]) -> bytes:
        scope_spans = self._scope + b"".join([self.span(span) for span in spans])
        resource_spans = self._resource + field(b"\x12", scope_spans)
        return field(b"\x0a", resource_spans)

    def _key(self, key: str) -> bytes:
        key_field = self._keys.get(key)
        if key_field is None:
            key_field = self._keys[key] = field(b"\x0a", _text(key))
        return key_field

    def attribute(self, tag: bytes, key: str, value: Any) -> bytes | None:
        """One attribute as the field ``tag`` of its message, or None if it cannot be."""
        encoded = any_value(value)
        if encoded is None:
            return None
        return field(tag, self._key(key) + field(b"\x12", encoded))

    def attributes(self, tag: bytes, attributes: Mapping[str, Any]) -> bytes:
        parts = [self.attribute(tag, key, value) for key, value in attributes.items()]
        return b"".join([part for part in parts if part is not None])

    def _memoized(self, memo: dict[Any, bytes | None], key: str, value: Any) -> bytes | None:
        entry = self._short(key, value) if value.__class__ is str else None
        if entry is None:
            entry = self.attribute(SPAN_ATTRIBUTE, key, value)
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        memo[key, value] = entry
        return entry

    def _short(self, key: str, value: str) -> bytes | None:
        """A str attribute whose lengths all fit in one byte (ids, names): written in
        one go, as a new request id is on each request span."""
        key_field = self._key(key)
        data = _text(value)
        size = len(data)
        if size + len(key_field) > 0x7F - 4:
            return None
        # Span field 9 > KeyValue{key, 2: AnyValue{1: string_value}}
        head = bytes((0x4A, len(key_field) + size + 4))
        return head + key_field + bytes((0x12, size + 2, 0x0A, size)) + data

    def _other_attribute(self, key: str, value: Any) -> bytes | None:
        """A span attribute whose value is neither str nor int: a tuple of str (finish
        reasons) is memoized too, in a memo of its own (a tuple equals only a tuple)."""
        if value.__class__ is tuple and all(v.__class__ is str for v in value):
            entry = self._tuples.get((key, value))
            return self._memoized(self._tuples, key, value) if entry is None else entry
        return self.attribute(SPAN_ATTRIBUTE, key, value)

    def span(self, span: Span) -> bytes:
        """The span as a ``ScopeSpans.spans`` field."""
        trace_id = span.trace_id
        parts = [
            _IDS.pack(0x0A, 0x10, trace_id >> 64, trace_id & _MASK64, 0x12, 0x08, span.span_id)
        ]
        if span.trace_state:
            parts.append(field(b"\x1a", _text(span.trace_state)))
        if span.parent_id:
            parts.append(_PARENT.pack(0x22, 0x08, span.parent_id))
        name = self._names.get(span.name)
        if name is None:
            if len(self._names) >= MEMO_LIMIT:
                self._names.clear()
            name = self._names[span.name] = field(b"\x2a", _text(span.name))
        parts.append(name)
        parts.append(_KIND_TIMES.pack(0x30, span.kind, 0x39, span.start_time, 0x41, span.end_time))
        memo = self._memo
        for item in span.attributes.items():
            kind = item[1].__class__
            # Exact str and int only: True == 1 and 1.0 == 1, but they are encoded apart.
            if kind is str or kind is int:
                entry = memo.get(item)
                if entry is None:
                    entry = self._memoized(memo, *item)
            else:
                entry = self._other_attribute(*item)
            if entry is not None:
                parts.append(entry)
        for event_name, time, attributes in span.events:
            event = _TIME.pack(0x09, time) + field(b"\x12", _text(event_name))
            event += self.attributes(EVENT_ATTRIBUTE, attributes)
            parts.append(field(SPAN_EVENT, event))
        if span.status:
            status = field(b"\x12", _text(span.status_message)) if span.status_message else b""
            parts.append(field(b"\x7a", status + b"\x18" + varint(span.status)))
        else:
            parts.append(_UNSET_STATUS)
        parts.append(_FLAGS[bool(span.parent_id) + span.parent_remote])
        return field(SCOPE_SPAN, b"".join(parts))
