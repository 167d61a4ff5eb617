"""The request's SERVER span: opened when the request arrives, under the client's
``traceparent`` when it sent one; closed by the observer hook with the GenAI attributes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway.observability.logging import reply_content
from gateway.observability.record import RequestRecord
from gateway.observability.tracing.context import parse_traceparent
from gateway.observability.tracing.spans import SERVER, Blocks, Recorder, Span
from gateway.observability.tracing.trace import RequestTrace, provider_name

CONTENT_EVENT = "gen_ai.client.inference.operation.details"


class RequestTracer:
    """``begin`` when a request arrives; a request observer for the rest."""

    def __init__(self, recorder: Recorder, include_content: bool = False) -> None:
        self.recorder = recorder
        self.include_content = include_content
        self.blocks = Blocks()

    def begin(self, record: RequestRecord, headers: Mapping[bytes, bytes]) -> None:
        parent = None
        traceparent = headers.get(b"traceparent")
        if traceparent is not None:
            tracestate = headers.get(b"tracestate")
            parent = parse_traceparent(  # a malformed header starts a new trace
                traceparent.decode("latin-1"),
                tracestate.decode("latin-1") if tracestate is not None else None,
            )
        span = self.recorder.root(record.gen_ai_operation, SERVER, parent)
        record.trace = RequestTrace(span, self.recorder)

    def on_request_start(self, record: RequestRecord) -> None:
        return None

    def on_request_done(self, record: RequestRecord) -> None:
        trace: RequestTrace | None = record.trace
        if trace is None:
            return
        span = trace.span
        if type(span) is Span and not span.end_time:
            # What answers of one route and outcome share is one block (see Blocks).
            triage = record.triage
            status = record.status
            key = (
                record.gen_ai_operation,
                status,
                record.stream,
                len(record.attempts),
                record.route,
                record.route_label,
                record.profile,
                triage.tier if triage is not None else None,
                triage.reason if triage is not None else None,
                trace.provider_kind,
                record.model,
                record.alias,
                tuple(record.skipped) if record.skipped else (),
                record.cache,
                tuple(trace.finish_reasons) if trace.finish_reasons else (),
                record.error_type,
            )
            block = self.blocks.get(key)
            if block is None:
                operation = record.gen_ai_operation
                name = f"{operation} {record.route_label}" if record.route else operation
                block = self.blocks.add(key, shared_attributes(record, trace), name)
            span.name = block.name
            span.block = block
            span.exact = own_attributes(record)
            if self.include_content and record.messages is not None:
                span.add_event(CONTENT_EVENT, content_attributes(record))
            if record.error_type or status >= 500:  # a 4xx is the client's error, not ours
                error = error_type(record)
                if error is not None and (status >= 500 or status < 400):
                    span.set_error(error)
            span.end()  # an unrecorded span has nothing to end


def error_type(record: RequestRecord) -> str | None:
    if record.error_type:
        return record.error_type
    return str(record.status) if record.status >= 400 else None


def shared_attributes(record: RequestRecord, trace: RequestTrace) -> dict[str, Any]:
    """The request span's attributes that many requests share (see ``own_attributes``)."""
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": record.gen_ai_operation,
        "http.response.status_code": record.status,
        "gateway.stream": record.stream,
        "gateway.attempts": len(record.attempts),
    }
    if record.route is not None:
        attributes["gen_ai.request.model"] = record.route
        attributes["gateway.route"] = record.route
    if record.profile is not None:
        attributes["gateway.profile"] = record.profile
    if record.triage is not None:
        attributes["gateway.tier"] = record.triage.tier
        attributes["gateway.tier_reason"] = record.triage.reason
    if trace.provider_kind is not None:
        attributes["gen_ai.provider.name"] = provider_name(trace.provider_kind)
    if record.model is not None:
        attributes["gen_ai.response.model"] = record.model
    if record.alias is not None:
        attributes["gateway.model"] = record.alias
    if record.skipped:
        # Sequences as tuples, as the SDK stores them.
        attributes["gateway.skipped"] = tuple(record.skipped)
    if record.cache != "off":
        attributes["gateway.cache"] = record.cache
    if trace.finish_reasons:
        attributes["gen_ai.response.finish_reasons"] = tuple(trace.finish_reasons)
    error = error_type(record)
    if error is not None:
        attributes["error.type"] = error
    return attributes


def own_attributes(record: RequestRecord) -> dict[str, str | int]:
    """The request span's attributes that are this request's own: its id, usage, cost
    (each exactly a str or an int: ``Span.exact``)."""
    attributes: dict[str, str | int] = {"gateway.request_id": record.request_id}
    if record.cache != "off" and record.saved_cost_pico_usd:
        attributes["gateway.saved_cost_pico_usd"] = record.saved_cost_pico_usd
    usage = record.usage
    if usage is not None:
        attributes["gen_ai.usage.input_tokens"] = usage.input_tokens
        attributes["gen_ai.usage.output_tokens"] = usage.output_tokens
        if usage.cached_tokens:
            attributes["gen_ai.usage.cache_read.input_tokens"] = usage.cached_tokens
        # The exact amount (an integer, 1e-12 USD): a sum of spans is a sum of the ledger.
        attributes["gateway.cost_pico_usd"] = record.cost_pico_usd
    return attributes


def content_attributes(record: RequestRecord) -> dict[str, str]:
    """Prompt and reply as JSON text (only with ``logging.include_content``)."""
    attributes: dict[str, str] = {}
    reply = reply_content(record.response_body)
    texts = (("gen_ai.input.messages", record.messages), ("gen_ai.output.messages", reply))
    for name, value in texts:
        if value is not None:
            try:
                attributes[name] = orjson.dumps(value).decode()
            except TypeError:  # an integer beyond 64 bits: the text is still worth seeing
                attributes[name] = repr(value)
    return attributes
