"""What one request's trace carries between its spans, and what goes upstream."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Tracer

# The gateway's provider kinds as gen_ai.provider.name's well-known values.
PROVIDER_NAMES = {"openai": "openai", "azure": "azure.ai.openai", "anthropic": "anthropic"}
_FINISH_REASON = re.compile(rb'"finish_reason"\s*:\s*"([^"\\]{1,64})"')
# Longer than any finish_reason field, so one split across two reads is still found.
_OVERLAP = 96


def provider_name(kind: str) -> str:
    return PROVIDER_NAMES.get(kind, kind)


@dataclass(slots=True)
class RequestTrace:
    """The request's SERVER span, its context (the parent of the spans below it), and
    what the attempt that answered found out."""

    span: Span
    context: Context
    tracer: Tracer
    finish_reasons: list[str] = field(default_factory=list)
    provider_kind: str | None = None

    def child(
        self, name: str, attributes: Mapping[str, Any], kind: SpanKind = SpanKind.INTERNAL
    ) -> Span:
        """A span under the request's, for a stage's own work (see ``stage_span``)."""
        return self.tracer.start_span(
            name, context=self.context, kind=kind, attributes=dict(attributes)
        )


def traceparent_headers(span: Span) -> dict[str, str]:
    """W3C Trace Context for the upstream: the attempt span is the parent of whatever
    the provider or model server records."""
    ctx = span.get_span_context()
    headers = {"traceparent": f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"}
    if ctx.trace_state:
        headers["tracestate"] = ctx.trace_state.to_header()
    return headers


def finish_reasons(body: bytes) -> list[str]:
    return [m.decode("ascii", "replace") for m in _FINISH_REASON.findall(body)]


class FinishReasonScanner:
    """Finds ``finish_reason`` values in a stream read piece by piece, without parsing
    its events: each piece is searched with the end of the one before."""

    __slots__ = ("_tail", "reasons")

    def __init__(self) -> None:
        self._tail = b""
        self.reasons: list[str] = []

    def feed(self, piece: bytes) -> None:
        tail = self._tail
        window = tail + piece
        for match in _FINISH_REASON.finditer(window):
            if match.end() > len(tail):  # not already found in the piece before
                self.reasons.append(match.group(1).decode("ascii", "replace"))
        self._tail = window[-_OVERLAP:]
