"""One CLIENT span per upstream attempt: the attempt loop's hook (``AttemptHook``).

With tracing off the loop has no hook and pays one test per attempt; with it on, each
attempt opens a child of the request's span and sends its ``traceparent`` upstream. The
span ends when the attempt's answer is known or, for a stream that was served, when the
stream is closed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from gateway.observability.record import RequestRecord
from gateway.observability.tracing.context import trace_context, traceparent_headers
from gateway.observability.tracing.spans import CLIENT, AnySpan, Blocks, Recorder, Span
from gateway.observability.tracing.trace import (
    FinishReasonScanner,
    RequestTrace,
    finish_reasons,
    provider_name,
)
from gateway.providers.base import Provider, UpstreamRequest, UpstreamResponse
from gateway.resilience.classify import Outcome
from gateway.resilience.served import AttemptResult
from gateway.routing.table import Member

# What an attempt's attributes depend on: operation, provider kind, upstream model,
# provider, alias and attempt number; then outcome, status and finish reasons.
Start = tuple[str, str, str, str, str, int]
SUCCESS = Outcome.SUCCESS  # read once: an enum member's lookup is slow on the hot path


class AttemptSpans:
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.blocks = Blocks()

    def begin(
        self, provider: Provider, member: Member, request: UpstreamRequest, record: RequestRecord
    ) -> Span | None:
        """The attempt's span; None in a trace that is not recorded, whose ids still go
        upstream (flags 00) but which keeps nothing of the attempt."""
        trace: RequestTrace | None = record.trace
        span: AnySpan | None
        if trace is None:  # a call outside any request: a trace of its own
            span = self.recorder.root("", CLIENT, None)
            trace_headers = traceparent_headers(span)
        elif type(parent := trace.span) is Span:
            # Named when it ends, by its block (spans of one member share their name).
            span = self.recorder.child(parent, "", CLIENT)
            trace_headers = traceparent_headers(span)
        else:
            span = None
            trace_headers = trace_context(
                parent.trace_id, self.recorder.span_id(), 0, parent.trace_state
            )
        # Beside what the door forwards (anthropic-version...), never instead of it.
        request.headers = {**request.headers, **trace_headers} if request.headers else trace_headers
        return span if type(span) is Span else None

    def abandon(
        self,
        span: Span | None,
        provider: Provider,
        member: Member,
        record: RequestRecord,
        reason: str,
    ) -> None:
        if span is not None:
            self._end(span, _start(provider, member, record), reason, None)

    def end(
        self,
        span: Span | None,
        provider: Provider,
        member: Member,
        record: RequestRecord,
        result: AttemptResult,
    ) -> None:
        outcome = result.outcome
        served = result.served
        if outcome is not SUCCESS or served is None:
            if span is not None:
                self._end(span, _start(provider, member, record), outcome, result.status)
            return
        trace: RequestTrace | None = record.trace
        if trace is not None:
            trace.provider_kind = provider.kind
        if span is None:  # an unsampled trace: nothing to note
            return
        start = _start(provider, member, record)
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

    def _end(
        self,
        span: Span,
        start: Start,
        outcome: str,
        status: int | None,
        reasons: list[str] | None = None,
    ) -> None:
        if span.end_time:
            return
        key = (start, outcome, status, tuple(reasons) if reasons else ())
        block = self.blocks.get(key)
        if block is None:
            block = self.blocks.add(key, attempt_attributes(key), f"{start[0]} {start[2]}")
        span.name = block.name
        span.block = block
        if outcome != SUCCESS:
            span.set_error(str(outcome))
        span.end()

    def _end_stream(
        self,
        span: Span,
        start: Start,
        trace: RequestTrace | None,
        reasons: list[str],
        status: int,
    ) -> None:
        if trace is not None:
            trace.finish_reasons = reasons
        self._end(span, start, SUCCESS, status, reasons)


def _start(provider: Provider, member: Member, record: RequestRecord) -> Start:
    return (
        record.gen_ai_operation,
        provider.kind,
        member.upstream_model,
        member.provider,
        member.alias,
        len(record.attempts) + 1,  # the loop notes the attempt once it has ended
    )


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
