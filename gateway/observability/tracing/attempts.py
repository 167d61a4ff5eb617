"""One CLIENT span per upstream attempt, as a subclass of the attempt loop.

With tracing off the plain ``AttemptRunner`` runs and pays nothing for this; with it
on, each attempt opens a child of the request's span, sends its ``traceparent``
upstream, and ends when the attempt's answer is known, or, for a stream that was
served, when the stream is closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from gateway.observability.record import RequestRecord
from gateway.observability.tracing.context import traceparent_headers
from gateway.observability.tracing.spans import CLIENT, AnySpan, Recorder
from gateway.observability.tracing.trace import (
    FinishReasonScanner,
    RequestTrace,
    finish_reasons,
    provider_name,
)
from gateway.providers.base import Provider, UpstreamRequest, UpstreamResponse
from gateway.resilience.attempts import AttemptResult, AttemptRunner
from gateway.resilience.classify import Outcome
from gateway.resilience.wire import Bridge, WireFormat
from gateway.routing.table import Member


class TracedAttemptRunner(AttemptRunner):
    def __init__(self, recorder: Recorder, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recorder = recorder

    async def _attempt(
        self,
        provider: Provider,
        member: Member,
        request: UpstreamRequest,
        record: RequestRecord,
        wire: WireFormat,
        bridge: Bridge | None,
    ) -> AttemptResult:
        trace: RequestTrace | None = record.trace
        name = f"{record.gen_ai_operation} {member.upstream_model}"
        attributes = {
            "gen_ai.operation.name": record.gen_ai_operation,
            "gen_ai.provider.name": provider_name(provider.kind),
            "gen_ai.request.model": member.upstream_model,
            "gateway.provider": member.provider,
            "gateway.model": member.alias,
            "gateway.attempt": len(record.attempts) + 1,
        }
        if trace is not None:
            span = self.recorder.child(trace.span, name, CLIENT, attributes)
        else:  # a call outside any request: a trace of its own
            span = self.recorder.root(name, CLIENT, None)
            span.set_attributes(attributes)
        # Beside what the door forwards (anthropic-version...), never instead of it.
        trace_headers = traceparent_headers(span)
        request.headers = {**request.headers, **trace_headers} if request.headers else trace_headers
        try:
            result = await super()._attempt(provider, member, request, record, wire, bridge)
        except asyncio.CancelledError:
            _end(span, Outcome.CLIENT_DISCONNECT.value, None)
            raise
        except BaseException as exc:
            _end(span, type(exc).__name__, None)
            raise
        outcome = result.outcome
        served = result.served
        if outcome is not Outcome.SUCCESS or served is None:
            _end(span, outcome.value, result.status)
            return result
        if trace is not None:
            trace.provider_kind = provider.kind
        if served.response is None:
            reasons = finish_reasons(served.body)
            if trace is not None:
                trace.finish_reasons = reasons
            _end(span, outcome.value, result.status, reasons)
        else:
            status = served.status
            served.response = TracedStream(
                served.response,
                served.first_chunk,
                lambda reasons: _end_stream(span, trace, reasons, status),
            )
        return result


def _end(span: AnySpan, outcome: str, status: int | None, reasons: list[str] | None = None) -> None:
    if span.is_recording():
        span.set_attribute("gateway.attempt.outcome", outcome)
        if status is not None:
            span.set_attribute("http.response.status_code", status)
        if reasons:
            span.set_attribute("gen_ai.response.finish_reasons", tuple(reasons))
        if outcome != Outcome.SUCCESS.value:
            span.set_attribute("error.type", outcome)
            span.set_error(outcome)
    span.end()


def _end_stream(span: AnySpan, trace: RequestTrace | None, reasons: list[str], status: int) -> None:
    if trace is not None:
        trace.finish_reasons = reasons
    _end(span, Outcome.SUCCESS.value, status, reasons)


class TracedStream(UpstreamResponse):
    """The served stream, read through: finish reasons are noted as pieces pass, and
    the attempt's span ends when the relay closes the stream."""

    __slots__ = ("_done", "_inner", "_scanner", "headers", "status")

    def __init__(
        self, inner: UpstreamResponse, first: bytes, done: Callable[[list[str]], None]
    ) -> None:
        self._inner = inner
        self.status = inner.status
        self.headers = inner.headers
        self._scanner = FinishReasonScanner()
        self._scanner.feed(first)
        self._done: Callable[[list[str]], None] | None = done

    async def read(self) -> bytes:
        data = await self._inner.read()
        self._scanner.feed(data)
        return data

    async def read_chunk(self) -> bytes:
        piece = await self._inner.read_chunk()
        if piece:
            self._scanner.feed(piece)
        return piece

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        while piece := await self.read_chunk():
            yield piece

    def close(self) -> None:
        self._inner.close()
        done, self._done = self._done, None
        if done is not None:
            done(self._scanner.reasons)
