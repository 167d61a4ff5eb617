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
from gateway.observability.tracing.spans import CLIENT, AnySpan, Blocks, Recorder, Span
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

# What an attempt's attributes depend on: operation, provider kind, upstream model,
# provider, alias and attempt number at the start; outcome, status and finish reasons
# at the end.
Start = tuple[str, str, str, str, str, int]
SUCCESS = Outcome.SUCCESS  # read once: an enum member's lookup is slow on the hot path


class TracedAttemptRunner(AttemptRunner):
    def __init__(self, recorder: Recorder, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recorder = recorder
        self.blocks = Blocks()

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
        operation = record.gen_ai_operation
        model = member.upstream_model
        if trace is not None:
            parent = trace.span
            name = f"{operation} {model}" if type(parent) is Span else ""  # "": unrecorded
            span = self.recorder.child(parent, name, CLIENT)
        else:  # a call outside any request: a trace of its own
            span = self.recorder.root(f"{operation} {model}", CLIENT, None)
        start: Start = (
            operation,
            provider.kind,
            model,
            member.provider,
            member.alias,
            len(record.attempts) + 1,
        )
        # Beside what the door forwards (anthropic-version...), never instead of it.
        trace_headers = traceparent_headers(span)
        request.headers = {**request.headers, **trace_headers} if request.headers else trace_headers
        try:
            result = await super()._attempt(provider, member, request, record, wire, bridge)
        except asyncio.CancelledError:
            self._end(span, start, Outcome.CLIENT_DISCONNECT, None)
            raise
        except BaseException as exc:
            self._end(span, start, type(exc).__name__, None)
            raise
        outcome = result.outcome
        served = result.served
        if outcome is not Outcome.SUCCESS or served is None:
            self._end(span, start, outcome, result.status)
            return result
        if trace is not None:
            trace.provider_kind = provider.kind
        if type(span) is not Span:  # an unsampled trace: nothing to note
            return result
        if served.response is None:
            reasons = finish_reasons(served.body)
            if trace is not None:
                trace.finish_reasons = reasons
            self._end(span, start, outcome, result.status, reasons)
        else:
            status = served.status
            served.response = TracedStream(
                served.response,
                served.first_chunk,
                lambda reasons: self._end_stream(span, start, trace, reasons, status),
            )
        return result

    def _end(
        self,
        span: AnySpan,
        start: Start,
        outcome: str,
        status: int | None,
        reasons: list[str] | None = None,
    ) -> None:
        if type(span) is Span and not span.end_time:
            key = (start, outcome, status, tuple(reasons) if reasons else ())
            block = self.blocks.get(key)
            if block is None:
                block = self.blocks.add(key, attempt_attributes(key))
            span.block = block
            if outcome != SUCCESS:
                span.set_error(str(outcome))
        span.end()

    def _end_stream(
        self,
        span: AnySpan,
        start: Start,
        trace: RequestTrace | None,
        reasons: list[str],
        status: int,
    ) -> None:
        if trace is not None:
            trace.finish_reasons = reasons
        self._end(span, start, SUCCESS, status, reasons)


def attempt_attributes(key: tuple[Any, ...]) -> dict[str, Any]:
    (operation, kind, model, provider, alias, number), outcome, status, reasons = key
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": provider_name(kind),
        "gen_ai.request.model": model,
        "gateway.provider": provider,
        "gateway.model": alias,
        "gateway.attempt": number,
        "gateway.attempt.outcome": str(outcome),
    }
    if status is not None:
        attributes["http.response.status_code"] = status
    if reasons:
        attributes["gen_ai.response.finish_reasons"] = reasons
    if outcome != SUCCESS:
        attributes["error.type"] = str(outcome)
    return attributes


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
