"""OTLP protobuf, written by hand for the gateway's spans.

The SDK's encoder builds a protobuf object per span, attribute and value, then
serializes them: about 40 µs a span. Here a span is written straight to bytes, and what
repeats from one request to the next is written once: the resource and the
instrumentation scope (once per process), span names, attribute blocks (``Block``),
attribute keys, and each (key, value) pair whose value is a str, an int or a tuple of
str (a token count, a finish reason...). That comes to 1 to 3 µs a span.

The messages (opentelemetry/proto/trace/v1/trace.proto, common/v1/common.proto), with
fields written in field-number order, as protobuf's own serializer does:
``ExportTraceServiceRequest{1: ResourceSpans{1: Resource, 2: ScopeSpans{1: scope,
2: Span...}}}``, attributes as ``KeyValue{1: key, 2: AnyValue}``.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.observability.tracing.spans import SAMPLED, Span

_MASK64 = (1 << 64) - 1
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_VARINTS = [bytes((n,)) for n in range(0x80)]
# Span fields 1 and 2 (the ids, big-endian bytes) and 4 (the parent's id).
_IDS = struct.Struct(">BBQQBBQ")
_IDS_PARENT = struct.Struct(">BBQQBBQBBQ")
_PARENT = struct.Struct(">BBQ")
# Span field 6 (the kind) and the tag of 7, then 7 and 8 (the fixed64 times).
_KINDS = [bytes((0x30, kind, 0x39)) for kind in range(6)]
_TIMES = struct.Struct("<QBQ")
_DOUBLE = struct.Struct("<d")
_TIME = struct.Struct("<BQ")
# Span.flags (field 16, fixed32; tag 133 is the varint 0x85 0x01): the W3C flags (only
# sampled spans are exported), and bits 8 and 9: whether the parent is remote is known,
# and it is. By parent: none, local, remote.
_FLAGS = [struct.pack("<BBI", 0x85, 0x01, SAMPLED | 0x100 | remote) for remote in (0, 0, 0x200)]
# An unset status (an empty Status, field 15, as the SDK writes it), then the flags.
_TAILS = [b"\x7a\x00" + flags for flags in _FLAGS]
# Bounds each memo; ids and costs are new each time, so the memo is emptied now and then
# and refills with what repeats.
MEMO_LIMIT = 4096
# Longer strings are ids and texts, which do not repeat: the memo does not keep them.
MEMO_STR_LIMIT = 24

# Field tags (field << 3 | wire type) of the messages written here.
SPAN_ATTRIBUTE = b"\x4a"  # Span.attributes (9)
SPAN_EVENT = b"\x5a"  # Span.events (11)
EVENT_ATTRIBUTE = b"\x1a"  # Span.Event.attributes (3)
RESOURCE_ATTRIBUTE = b"\x0a"  # Resource.attributes (1)


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
    try:
        return value.encode()
    except UnicodeEncodeError:  # a lone surrogate: protobuf would refuse the whole batch
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
    """Writes spans (``span``) and batches of them (``request``) as OTLP protobuf."""

    def __init__(
        self, resource: Mapping[str, Any], scope_name: str, scope_version: str | None = None
    ) -> None:
        self._keys: dict[str, bytes] = {}
        # name -> the name's field.
        self._names: dict[str, bytes] = {}
        # (key, value) -> the attribute's bytes (see _miss).
        self._memo: dict[tuple[str, Any], bytes] = {}
        # (key, size of a string value) -> what precedes the value (see _str).
        self._heads: dict[tuple[str, int], bytes] = {}
        scope = field(b"\x0a", _text(scope_name))
        if scope_version:
            scope += field(b"\x12", _text(scope_version))
        self._resource = field(b"\x0a", self.attributes(RESOURCE_ATTRIBUTE, resource))
        self._scope = field(b"\x0a", scope)

    def request(self, spans: Sequence[bytes]) -> bytes:
        """The ``ExportTraceServiceRequest`` of spans written by ``span``: the spans'
        bytes are copied once, into the request (a batch is hundreds of kilobytes, and
        each nesting written by concatenation had copied all of it again)."""
        scope_size = len(self._scope) + sum(map(len, spans))
        scope_head = b"\x12" + varint(scope_size)
        resource_size = len(self._resource) + len(scope_head) + scope_size
        head = b"".join((b"\x0a", varint(resource_size), self._resource, scope_head, self._scope))
        return b"".join((head, *spans))

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

    def span(self, span: Span) -> bytes:
        """The span as a ``ScopeSpans.spans`` field (2)."""
        trace_id = span.trace_id
        parent_id = span.parent_id
        if span.trace_state:  # the client's tracestate, between the ids and the parent
            head = _IDS.pack(
                0x0A, 0x10, trace_id >> 64, trace_id & _MASK64, 0x12, 0x08, span.span_id
            )
            head += field(b"\x1a", _text(span.trace_state))
            if parent_id:
                head += _PARENT.pack(0x22, 0x08, parent_id)
        elif parent_id:
            head = _IDS_PARENT.pack(
                0x0A, 0x10, trace_id >> 64, trace_id & _MASK64, 0x12, 0x08, span.span_id,
                0x22, 0x08, parent_id,
            )  # fmt: skip
        else:
            head = _IDS.pack(
                0x0A, 0x10, trace_id >> 64, trace_id & _MASK64, 0x12, 0x08, span.span_id
            )
        named = self._names.get(span.name) or self._named(span.name)
        block = span.block
        if block is None:
            shared = b""
        else:
            shared = block.encoded or self._block(block)
        if span.status:
            status = field(b"\x12", _text(span.status_message)) if span.status_message else b""
            tail = field(b"\x7a", status + b"\x18" + varint(span.status))
            tail += _FLAGS[bool(parent_id) + span.parent_remote]
        else:
            tail = _TAILS[bool(parent_id) + span.parent_remote]
        body = b"".join(
            (
                head,
                named,
                _KINDS[span.kind],
                _TIMES.pack(span.start_time, 0x41, span.end_time),
                shared,
                self._exact(span.exact) if span.exact else b"",
                self._own(span.attributes) if span.attributes else b"",
                self._events(span.events) if span.events else b"",
                tail,
            )
        )
        size = len(body)
        if 0x80 <= size < 0x4000:  # a span's usual size: a two-byte length
            return bytes((0x12, size & 0x7F | 0x80, size >> 7)) + body
        return b"\x12" + varint(size) + body

    def _named(self, name: str) -> bytes:
        if len(self._names) >= MEMO_LIMIT:
            self._names.clear()
        named = self._names[name] = field(b"\x2a", _text(name))
        return named

    def _block(self, block: Any) -> bytes:
        block.encoded = self.attributes(SPAN_ATTRIBUTE, block.attributes)
        encoded: bytes = block.encoded
        return encoded

    def _own(self, attributes: dict[str, Any]) -> bytes:
        memo_get = self._memo.get
        parts = []
        for item in attributes.items():
            kind = item[1].__class__
            # Only kinds whose equal values are encoded alike (see _miss).
            if kind is str or kind is int or kind is tuple:
                entry = memo_get(item) or self._miss(item)
            else:
                entry = self.attribute(SPAN_ATTRIBUTE, *item)
            if entry is not None:
                parts.append(entry)
        return b"".join(parts)

    def _exact(self, attributes: dict[str, str | int]) -> bytes:
        """Attributes whose values are exactly str or int: the memo's entries hold
        nothing else, so a hit is the encoding (True == 1 and 1.0 == 1 cannot come in)."""
        memo_get = self._memo.get
        parts = []
        for item in attributes.items():
            entry = memo_get(item) or self._miss(item)
            if entry is not None:
                parts.append(entry)
        return b"".join(parts)

    def _events(self, events: list[tuple[str, int, dict[str, Any]]]) -> bytes:
        parts = []
        for name, time, attributes in events:
            event = _TIME.pack(0x09, time) + field(b"\x12", _text(name))
            event += self.attributes(EVENT_ATTRIBUTE, attributes)
            parts.append(field(SPAN_EVENT, event))
        return b"".join(parts)

    def _miss(self, item: tuple[str, Any]) -> bytes | None:
        """A span attribute the memo did not have; memoized when its value is an exact
        str or int, or a tuple of str (True == 1 and 1.0 == 1, but they are encoded
        apart; a str or a tuple of str equals nothing but its like)."""
        key, value = item
        kind = value.__class__
        if kind is str:
            entry = self._str(key, value)
            if len(value) > MEMO_STR_LIMIT:  # an id, a text: written, not kept
                return entry
        elif kind is int or all(v.__class__ is str for v in value):
            entry = self.attribute(SPAN_ATTRIBUTE, key, value)
        else:
            return self.attribute(SPAN_ATTRIBUTE, key, value)
        if entry is not None:
            memo = self._memo
            if len(memo) >= MEMO_LIMIT:
                memo.clear()
            memo[item] = entry
        return entry

    def _str(self, key: str, value: str) -> bytes | None:
        try:
            data = value.encode()
        except UnicodeEncodeError:
            data = _text(value)
        shape = (key, len(data))
        head = self._heads.get(shape)
        if head is None:
            head = self._head(shape)
        if not head:  # a length of more than one byte
            return self.attribute(SPAN_ATTRIBUTE, key, value)
        return head + data

    def _head(self, shape: tuple[str, int]) -> bytes:
        """What precedes a string value of this key and size (ids are all one size):
        Span field 9 > KeyValue{key, 2: AnyValue{1: string_value}}; b"" where a length
        takes more than one byte."""
        key, size = shape
        key_field = self._key(key)
        head = b""
        if size + len(key_field) <= 0x7F - 4:
            head = b"".join(
                (
                    bytes((0x4A, len(key_field) + size + 4)),
                    key_field,
                    bytes((0x12, size + 2, 0x0A, size)),
                )
            )
        if len(self._heads) >= MEMO_LIMIT:
            self._heads.clear()
        self._heads[shape] = head
        return head
