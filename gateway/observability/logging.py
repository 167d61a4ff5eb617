"""Structured JSON logs: one line per request, never prompt text or secrets."""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson
import structlog

from gateway.observability.record import RequestRecord

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


def configure_logging(level: str = "info") -> None:
    numeric = _LEVELS.get(level.lower(), 20)
    logging.basicConfig(stream=sys.stderr, level=numeric, format="%(message)s")
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.BytesLoggerFactory(sys.stderr.buffer),
        cache_logger_on_first_use=True,
    )


def request_fields(record: RequestRecord) -> dict[str, Any]:
    usage = record.usage
    fields: dict[str, Any] = {
        "request_id": record.request_id,
        "route": record.route,
        "profile": record.profile,
        "stream": record.stream,
        "attempts": [
            {"model": a.alias, "provider": a.provider, "outcome": a.outcome, "status": a.status}
            for a in record.attempts
        ],
        "provider": record.provider,
        "model": record.alias,
        "status": record.status,
        "latency_ms": round(record.latency_s * 1000, 3),
        "ttft_ms": round(record.ttft_s * 1000, 3) if record.ttft_s is not None else None,
        "input_tokens": usage.input_tokens if usage else None,
        "output_tokens": usage.output_tokens if usage else None,
        "cached_tokens": usage.cached_tokens if usage else None,
        "cost_usd": record.cost_usd,
    }
    if record.client_request_id:
        fields["client_request_id"] = record.client_request_id
    if record.error_type:
        fields["error_type"] = record.error_type
    if record.skipped:
        fields["skipped"] = record.skipped
    return fields


class RequestLogger:
    """A request observer that writes the request's one log line."""

    def __init__(self) -> None:
        self._log = structlog.get_logger("gateway.request")

    def on_request_start(self, record: RequestRecord) -> None:
        return None

    def on_request_done(self, record: RequestRecord) -> None:
        self._log.info("request", **request_fields(record))
