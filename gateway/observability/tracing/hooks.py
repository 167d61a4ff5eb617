"""What a pipeline stage uses to trace its own work, with no OpenTelemetry import.

A stage that calls out on its own (triage's classifier call) wraps that work in
``stage_span``; with tracing off it yields None at the cost of one check, with it on
the span is a child of the request's, ended (as an error if the work raised) on exit::

    with stage_span(record, "triage classify", {"gateway.route": route}) as span:
        tier = await classify(...)
        if span is not None:
            span.set_attribute("gateway.tier", tier)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from gateway.observability.record import RequestRecord


@contextmanager
def stage_span(
    record: RequestRecord, name: str, attributes: Mapping[str, Any] | None = None
) -> Iterator[Any]:
    trace = record.trace
    if trace is None:
        yield None
        return
    span = trace.child(name, attributes or {})
    try:
        yield span
    except BaseException as exc:
        if span.is_recording():
            span.set_attribute("error.type", type(exc).__name__)
            span.set_error(type(exc).__name__)
        raise
    finally:
        span.end()
