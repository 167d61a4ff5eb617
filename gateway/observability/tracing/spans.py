"""The gateway's own spans: small slotted records, cheap to open, fill and end.

The OpenTelemetry SDK's spans cost about 30 µs each to create, fill and end (locks,
attribute validation, context objects); a request makes two or more of them, on the
event loop's core. These hold only what OTLP exports, and ``end`` hands a sampled span to
the export queue. An unsampled request gets ``UnsampledSpan``s: ids for the
``traceparent`` sent upstream, nothing recorded.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Mapping
from time import time_ns
from typing import Any

from gateway.observability.tracing.context import RemoteParent

# OTLP's numbers (opentelemetry.proto.trace.v1.Span.SpanKind and Status.StatusCode).
INTERNAL = 1
SERVER = 2
CLIENT = 3
STATUS_UNSET = 0
STATUS_ERROR = 2
SAMPLED = 0x01
_LOW_64 = (1 << 64) - 1
BLOCK_LIMIT = 4096


class Block:
    """Attributes many spans share (those of one route's answers, of one member's
    attempts): encoded once, the encoder keeps the bytes in ``encoded``. A span's own
    ``attributes`` never repeat its block's keys."""

    __slots__ = ("attributes", "encoded", "name")

    def __init__(self, attributes: dict[str, Any], name: str = "") -> None:
        self.attributes = attributes
        self.name = name  # of the spans that have it, where they share theirs too
        self.encoded: bytes | None = None


class Blocks:
    """Blocks by the values that make them (a tuple whose every position holds one
    type, so equal keys mean equal attributes); emptied when ``limit`` are held, far
    more than a configuration's routes and members make."""

    __slots__ = ("_blocks", "get", "limit")

    def __init__(self, limit: int = BLOCK_LIMIT) -> None:
        self._blocks: dict[tuple[Any, ...], Block] = {}
        self.get = self._blocks.get
        self.limit = limit

    def add(self, key: tuple[Any, ...], attributes: dict[str, Any], name: str = "") -> Block:
        if len(self._blocks) >= self.limit:
            self._blocks.clear()
        block = self._blocks[key] = Block(attributes, name)
        return block


class Span:
    """A sampled span. Attribute values are str, bool, int, float or sequences of them;
    its attributes are its ``block``'s, if it has one, its ``exact`` ones (values that
    are exactly str or int, which the encoder trusts without a look), if any, and its
    own ``attributes``."""

    __slots__ = (
        "_finish",
        "attributes",
        "block",
        "end_time",
        "events",
        "exact",
        "kind",
        "name",
        "parent_id",
        "parent_remote",
        "span_id",
        "start_time",
        "status",
        "status_message",
        "trace_id",
        "trace_state",
    )

    trace_flags = SAMPLED

    def __init__(
        self,
        name: str,
        kind: int,
        trace_id: int,
        span_id: int,
        parent_id: int,
        parent_remote: bool,
        trace_state: str,
        attributes: dict[str, Any],
        finish: Callable[[Span], None],
    ) -> None:
        self.name = name
        self.kind = kind
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_id = parent_id  # 0: no parent
        self.parent_remote = parent_remote
        self.trace_state = trace_state  # the W3C tracestate header, "" when none
        self.attributes = attributes
        self.block: Block | None = None
        self.exact: dict[str, str | int] | None = None
        # A list once the span has an event: most never do.
        self.events: list[tuple[str, int, dict[str, Any]]] | None = None
        self.status = STATUS_UNSET
        self.status_message = ""
        self.start_time = time_ns()
        self.end_time = 0
        self._finish = finish

    def is_recording(self) -> bool:
        return not self.end_time

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        self.attributes.update(attributes)

    def add_event(self, name: str, attributes: Mapping[str, Any]) -> None:
        event = (name, time_ns(), dict(attributes))
        if self.events is None:
            self.events = [event]
        else:
            self.events.append(event)

    def update_name(self, name: str) -> None:
        self.name = name

    def set_error(self, description: str) -> None:
        self.status = STATUS_ERROR
        self.status_message = description

    def end(self) -> None:
        if self.end_time:  # ended twice: the first end counts, as in OpenTelemetry
            return
        self.end_time = time_ns()
        self._finish(self)


class UnsampledSpan:
    """A span of a trace that is not recorded: its ids still go upstream (flags 00)."""

    __slots__ = ("span_id", "trace_id", "trace_state")
    trace_flags = 0

    def __init__(self, trace_id: int, span_id: int, trace_state: str) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.trace_state = trace_state

    def is_recording(self) -> bool:
        return False

    def set_attribute(self, key: str, value: Any) -> None:
        return None

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        return None

    def add_event(self, name: str, attributes: Mapping[str, Any]) -> None:
        return None

    def update_name(self, name: str) -> None:
        return None

    def set_error(self, description: str) -> None:
        return None

    def end(self) -> None:
        return None


AnySpan = Span | UnsampledSpan
# Decides a new trace's fate: (trace id, the client's span or None) -> sampled.
SampleFn = Callable[[int, RemoteParent | None], bool]


class Recorder:
    """Opens spans: new trace ids, the sampling decision once per trace root, and
    ``finish`` (the export queue) for the sampled ones when they end."""

    def __init__(
        self,
        sample: SampleFn,
        finish: Callable[[Span], None],
        seed: bytes | None = None,
        new_trace: int | None = None,
    ) -> None:
        """``new_trace``: when ``sample`` decides a trace of its own by a bound on the
        trace id's lower 64 bits (``sampling.new_trace_bound``), that bound."""
        self._sample = sample
        self._new_trace = new_trace
        self.finish = finish
        # Ids need no cryptographic strength, only no collisions: a seeded generator is
        # several times cheaper than os.urandom per id.
        self._bits = random.Random(seed if seed is not None else os.urandom(32)).getrandbits

    def _id(self, bits: int) -> int:
        """A new id, never zero (invalid in W3C Trace Context); ``self._bits(n) or
        self._id(n)`` on the hot path, which almost never calls this."""
        value = self._bits(bits)
        while not value:
            value = self._bits(bits)
        return value

    def span_id(self) -> int:
        return self._bits(64) or self._id(64)

    def root(self, name: str, kind: int, parent: RemoteParent | None) -> AnySpan:
        """A request's span: a new trace, or a child of the client's span."""
        bits = self._bits
        span_id = bits(64) or self._id(64)
        if parent is None:
            trace_id = bits(128) or self._id(128)
            parent_id, trace_state = 0, ""
            bound = self._new_trace
            sampled = (
                trace_id & _LOW_64 < bound if bound is not None else self._sample(trace_id, None)
            )
        else:
            trace_id, parent_id, trace_state = parent.trace_id, parent.span_id, parent.trace_state
            sampled = self._sample(trace_id, parent)
        if not sampled:
            return UnsampledSpan(trace_id, span_id, trace_state)
        return Span(
            name,
            kind,
            trace_id,
            span_id,
            parent_id,
            parent is not None,
            trace_state,
            {},
            self.finish,
        )

    def child(
        self, parent: AnySpan, name: str, kind: int, attributes: dict[str, Any] | None = None
    ) -> AnySpan:
        """A span under ``parent``, which it follows in being sampled or not."""
        span_id = self._bits(64) or self._id(64)
        if type(parent) is not Span:
            return UnsampledSpan(parent.trace_id, span_id, parent.trace_state)
        return Span(
            name,
            kind,
            parent.trace_id,
            span_id,
            parent.span_id,
            False,
            parent.trace_state,
            {} if attributes is None else attributes,
            self.finish,
        )
