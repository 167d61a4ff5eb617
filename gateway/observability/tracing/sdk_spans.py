"""The gateway's spans as the OpenTelemetry SDK's ``ReadableSpan``s, for an SDK exporter.

The OTLP path never builds these; they exist so that any ``SpanExporter`` (the SDK's
in-memory one in tests, or another exporter of the SDK family) can take the gateway's
spans as the SDK's own ``BatchSpanProcessor`` would hand them over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

from gateway.observability.tracing.spans import SAMPLED, Span

_KINDS = {1: SpanKind.INTERNAL, 2: SpanKind.SERVER, 3: SpanKind.CLIENT}
_SAMPLED = TraceFlags(SAMPLED)


def _attributes(attributes: dict[str, Any]) -> BoundedAttributes:
    # The SDK's own container: lists become tuples, invalid values are dropped.
    return BoundedAttributes(attributes=attributes, immutable=True, max_value_len=None)


def readable_span(span: Span, resource: Resource, scope: InstrumentationScope) -> ReadableSpan:
    state = TraceState.from_header([span.trace_state]) if span.trace_state else None
    context = SpanContext(span.trace_id, span.span_id, False, _SAMPLED, state)
    parent = None
    if span.parent_id:
        parent = SpanContext(span.trace_id, span.parent_id, span.parent_remote, _SAMPLED, state)
    status = Status(StatusCode(span.status), span.status_message or None)
    events = [
        Event(name, _attributes(attributes), time) for name, time, attributes in span.events or ()
    ]
    return ReadableSpan(
        name=span.name,
        context=context,
        parent=parent,
        resource=resource,
        attributes=_attributes(
            {
                **(span.block.attributes if span.block else {}),
                **(span.exact or {}),
                **span.attributes,
            }
        ),
        events=events,
        kind=_KINDS[span.kind],
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=scope,
    )


class SdkExport:
    """Hands each batch to an SDK ``SpanExporter`` (duck-typed: ``export`` is enough),
    in a thread: SDK exporters block."""

    def __init__(self, exporter: SpanExporter, resource: Resource, scope_name: str) -> None:
        self.exporter = exporter
        self.resource = resource
        self.scope = InstrumentationScope(scope_name)

    async def __call__(self, spans: Sequence[Span]) -> None:
        await asyncio.to_thread(self._export, spans)

    def _export(self, spans: Sequence[Span]) -> None:
        self.exporter.export([readable_span(s, self.resource, self.scope) for s in spans])

    async def aclose(self) -> None:
        shutdown = getattr(self.exporter, "shutdown", None)
        if shutdown is not None:
            await asyncio.to_thread(shutdown)
