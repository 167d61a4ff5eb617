"""W3C Trace Context: the client's ``traceparent``/``tracestate`` read, ours sent upstream.

The rules are the OpenTelemetry propagator's (``TraceContextTextMapPropagator``): a
malformed or all-zero ``traceparent``, version ``ff``, or a version ``00`` header with
trailing fields starts a new trace; an invalid ``tracestate`` (a bad member, a duplicate
key, over 512 characters) is dropped whole. ``tracestate`` is parsed by the OpenTelemetry
API's own ``TraceState``, and only when a client sends one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

_TRACEPARENT = re.compile(
    r"^[ \t]*([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:(-.*)|[ \t]*)$"
)
MAX_TRACEPARENT = 512
MAX_TRACESTATE = 512
# By the sampled flag: the traceparent the gateway sends (version 00).
_OUTGOING = ("00-%032x-%016x-00", "00-%032x-%016x-01")


@dataclass(frozen=True, slots=True)
class RemoteParent:
    """The client's span, as its ``traceparent`` names it."""

    trace_id: int
    span_id: int
    sampled: bool
    trace_state: str  # canonical (re-serialized) tracestate, "" when none or invalid


def parse_traceparent(traceparent: str, tracestate: str | None = None) -> RemoteParent | None:
    if len(traceparent) > MAX_TRACEPARENT:
        return None
    match = _TRACEPARENT.search(traceparent)
    if match is None:
        return None
    version, trace_hex, span_hex, flags, rest = match.groups()
    trace_id, span_id = int(trace_hex, 16), int(span_hex, 16)
    if not trace_id or not span_id or version == "ff" or (version == "00" and rest):
        return None
    state = ""
    if tracestate is not None and len(tracestate) <= MAX_TRACESTATE:
        from opentelemetry.trace.span import TraceState  # loaded: tracing is on

        state = TraceState.from_header([tracestate]).to_header()
    return RemoteParent(trace_id, span_id, bool(int(flags, 16) & 1), state)


class HasContext(Protocol):
    @property
    def trace_id(self) -> int: ...
    @property
    def span_id(self) -> int: ...
    @property
    def trace_flags(self) -> int: ...
    @property
    def trace_state(self) -> str: ...


def traceparent_headers(span: HasContext) -> dict[str, str]:
    """W3C Trace Context for the upstream: the attempt span is the parent of whatever
    the provider or model server records."""
    return trace_context(span.trace_id, span.span_id, span.trace_flags, span.trace_state)


def trace_context(trace_id: int, span_id: int, flags: int, trace_state: str) -> dict[str, str]:
    headers = {"traceparent": _OUTGOING[flags] % (trace_id, span_id)}
    if trace_state:
        headers["tracestate"] = trace_state
    return headers
