"""Structured JSON logs: one line per request, never prompt text or secrets.

Other log lines go through structlog. The per-request line is on the hot path, so
it is rendered straight to JSON with orjson (about a quarter of structlog's cost)
in the same shape (``event``, ``level``, ``timestamp``), and written with one
``write`` on stderr so lines from several workers never interleave.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any, BinaryIO, cast

import orjson
import structlog

from gateway.accounting.pricing import pico_to_usd
from gateway.observability.record import RequestRecord
from gateway.routing.triage.outcome import add_triage_fields

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}
_INFO = 20
_level = _INFO


def configure_logging(level: str = "info") -> None:
    global _level
    numeric = _LEVELS.get(level.lower(), 20)
    _level = numeric
    logging.basicConfig(stream=sys.stderr, level=numeric, format="%(message)s")
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.BytesLoggerFactory(cast(BinaryIO, PipeSafeOutput(2))),
        cache_logger_on_first_use=True,
    )


def request_fields(record: RequestRecord) -> dict[str, Any]:
    """The documented fields of a request's log line (README, Observability)."""
    usage = record.usage
    ttft = record.ttft_s
    fields: dict[str, Any] = {
        "request_id": record.request_id,
        "api": record.api,
        "route": record.route,
        "profile": record.profile,
        "stream": record.stream,
        "attempts": [
            {
                "model": a.alias,
                "provider": a.provider,
                "outcome": a.outcome,
                "status": a.status,
                "duration_ms": round(a.duration_s * 1000, 3),
            }
            for a in record.attempts
        ],
        "provider": record.provider,
        "model": record.alias,
        "status": record.status,
        "latency_ms": round(record.latency_s * 1000, 3),
        "ttft_ms": round(ttft * 1000, 3) if ttft is not None else None,
        "input_tokens": usage.input_tokens if usage else None,
        "output_tokens": usage.output_tokens if usage else None,
        "cached_tokens": usage.cached_tokens if usage else None,
        "cache_write_tokens": usage.cache_write_tokens if usage else None,
        "cost_usd": record.cost_usd,
        "cost_pico_usd": record.cost_pico_usd,
    }
    if record.client_request_id:
        fields["client_request_id"] = record.client_request_id
    if record.error_type:
        fields["error_type"] = record.error_type
    if record.skipped:
        fields["skipped"] = record.skipped
    if record.byok:
        fields["byok"] = True  # that it was the user's key; never the key
    if record.plan is not None:
        fields["policy_order"] = [m.alias for m in record.plan]
    if record.explored:
        fields["explored"] = True
    if usage is not None and usage.reasoning_tokens:
        fields["reasoning_tokens"] = usage.reasoning_tokens
    if record.operation != "chat":
        fields["operation"] = record.operation
    if record.key_name:
        fields["key"] = record.key_name  # the key's id, never its secret
        if record.team:
            fields["team"] = record.team
    if record.cache != "off":
        fields["cache"] = record.cache
        if record.cache == "hit":
            fields["saved_cost_usd"] = pico_to_usd(record.saved_cost_pico_usd)
            fields["saved_cost_pico_usd"] = record.saved_cost_pico_usd
    if record.triage is not None:
        add_triage_fields(fields, record.triage)
    trace = record.trace
    if trace is not None:
        # With tracing on, the line names the request's span, as OpenTelemetry's log
        # records do: a log search leads to the trace (sampled or not, these are the
        # ids the upstream saw in its traceparent). to_bytes().hex() costs half of a
        # formatted int's instructions, on every traced request.
        span = trace.span
        fields["trace_id"] = span.trace_id.to_bytes(16, "big").hex()
        fields["span_id"] = span.span_id.to_bytes(8, "big").hex()
    return fields


def reply_content(body: bytes | None) -> list[Any] | None:
    """The assistant messages' content of a non-stream answer (for ``include_content``)."""
    if not body:
        return None
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    choices = parsed.get("choices") if isinstance(parsed, dict) else None
    if not isinstance(choices, list):
        return None
    out = []
    for choice in choices:
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict):
            out.append(message.get("content"))
    return out


def _write(line: bytes, fd: int = 2) -> None:
    view = memoryview(line)
    try:
        while view:
            written = os.write(fd, view)
            view = view[written:]
    except BrokenPipeError:
        # The log's reader went away (`gateway serve 2>&1 | head`): later lines go to
        # /dev/null, so a closed pipe never fails a request or stops the server.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)


class PipeSafeOutput:
    """Where structlog writes: one ``write`` per line on ``fd``, as ``_write`` does."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, data: bytes) -> None:
        _write(data, self.fd)

    def flush(self) -> None:
        return None


class RequestLogger:
    """A request observer that writes the request's one log line.

    ``include_content`` (``logging.include_content`` in the config) adds the
    request's ``messages`` and, for non-stream answers, the reply ``content``.
    """

    def __init__(self, include_content: bool = False) -> None:
        self.include_content = include_content
        self._second = -1
        self._prefix = ""

    def _timestamp(self) -> str:
        """ISO 8601 UTC with microseconds; the date part is formatted once a second."""
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._prefix}.{int((now - second) * 1_000_000):06d}Z"

    def on_request_start(self, record: RequestRecord) -> None:
        return None

    def on_request_done(self, record: RequestRecord) -> None:
        if _level > _INFO:
            return
        fields = request_fields(record)
        if self.include_content:
            fields["messages"] = record.messages
            fields["reply"] = reply_content(record.response_body)
        fields["event"] = "request"
        fields["level"] = "info"
        fields["logger"] = "gateway.request"
        fields["timestamp"] = self._timestamp()
        try:
            _write(orjson.dumps(fields, option=orjson.OPT_APPEND_NEWLINE))
        except (OSError, TypeError):
            return
