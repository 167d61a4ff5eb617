"""OTLP/HTTP export of encoded batches: POST ``application/x-protobuf`` to the collector.

It runs on the event loop, over the gateway's own HTTP transport (the one providers
use: kept-alive connections, no thread), so a request never waits on it. As the
OpenTelemetry exporters do, 429, 502, 503 and 504 (and a lost connection or a timeout)
are retried with exponential backoff, or after the collector's ``Retry-After``, a
bounded number of times within the export timeout; any other answer drops the batch
with a log line. The variables read are the exporters':
``OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT``, ``..._HEADERS``, ``..._COMPRESSION`` (``gzip``,
``deflate``), ``..._CERTIFICATE``, ``..._CLIENT_CERTIFICATE`` and ``..._CLIENT_KEY``.
"""

from __future__ import annotations

import asyncio
import gzip
import math
import random
import ssl
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import structlog

from gateway.providers.base import UpstreamError
from gateway.transport.client import HttpTransport

log = structlog.get_logger("gateway.tracing")

DEFAULT_ENDPOINT = "http://localhost:4318/v1/traces"
RETRYABLE = frozenset((429, 502, 503, 504))
MAX_ATTEMPTS = 6
CONNECT_TIMEOUT_S = 5.0
_JITTER = 0.2


def _env(env: Mapping[str, str], name: str) -> str:
    """``OTEL_EXPORTER_OTLP_TRACES_<name>``, else ``OTEL_EXPORTER_OTLP_<name>``."""
    return (
        env.get(f"OTEL_EXPORTER_OTLP_TRACES_{name}") or env.get(f"OTEL_EXPORTER_OTLP_{name}") or ""
    ).strip()


@dataclass(frozen=True, slots=True)
class OtlpTarget:
    endpoint: str
    headers: Mapping[str, str]
    timeout_s: float
    compression: str = "none"  # none | gzip | deflate
    certificate: str | None = None
    client_certificate: str | None = None
    client_key: str | None = None

    @classmethod
    def resolve(
        cls,
        endpoint: str | None,
        headers: Mapping[str, str] | None,
        timeout_s: float,
        env: Mapping[str, str],
    ) -> OtlpTarget:
        """The configured endpoint and headers, else what the variables say."""
        if endpoint is None:
            endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip() or None
        if endpoint is None:
            base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
            endpoint = base.removesuffix("/") + "/v1/traces" if base else DEFAULT_ENDPOINT
        if headers is None:
            from opentelemetry.util.re import parse_env_headers  # the SDK's own parsing

            headers = parse_env_headers(_env(env, "HEADERS"), liberal=True)
        compression = _env(env, "COMPRESSION").lower() or "none"
        if compression not in ("none", "gzip", "deflate"):
            log.warning("unsupported OTLP compression, sending uncompressed", value=compression)
            compression = "none"
        return cls(
            endpoint=endpoint,
            headers={key.lower(): value for key, value in headers.items()},
            timeout_s=timeout_s,
            compression=compression,
            certificate=_env(env, "CERTIFICATE") or None,
            client_certificate=_env(env, "CLIENT_CERTIFICATE") or None,
            client_key=_env(env, "CLIENT_KEY") or None,
        )

    def ssl_context(self) -> ssl.SSLContext | None:
        """A context of the configured CA and client certificate; None: the defaults."""
        if not (self.certificate or self.client_certificate):
            return None
        context = ssl.create_default_context(cafile=self.certificate)
        if self.client_certificate:
            context.load_cert_chain(self.client_certificate, self.client_key)
        return context


def retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` header's wait in seconds (a number or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
        except (TypeError, ValueError):
            return None
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def _compress(body: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return gzip.compress(body)
    if compression == "deflate":
        return zlib.compress(body)
    return body


class OtlpHttpExporter:
    """Sends one encoded ``ExportTraceServiceRequest`` at a time, with retries."""

    def __init__(self, target: OtlpTarget) -> None:
        self.target = target
        self._headers = {
            **target.headers,
            "content-type": "application/x-protobuf",
            "user-agent": "llm-gateway",
        }
        if target.compression != "none":
            self._headers["content-encoding"] = target.compression
        self._transport = HttpTransport(
            timeout_s=target.timeout_s,
            connect_timeout_s=min(CONNECT_TIMEOUT_S, target.timeout_s),
            max_connections=4,
            ssl_context=target.ssl_context(),
        )

    async def _post(self, body: bytes) -> tuple[int, str | None]:
        response = await self._transport.post(self.target.endpoint, self._headers, body)
        try:
            await response.read()
        finally:
            response.close()
        return response.status, response.headers.get("retry-after")

    async def export(self, body: bytes, spans: int) -> bool:
        """POST the batch; True once the collector took it."""
        if self.target.compression != "none":  # zlib lets go of the GIL: a thread helps
            body = await asyncio.to_thread(_compress, body, self.target.compression)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.target.timeout_s
        for attempt in range(1, MAX_ATTEMPTS + 1):
            backoff = 2 ** (attempt - 1) * random.uniform(1 - _JITTER, 1 + _JITTER)
            try:
                async with asyncio.timeout_at(deadline):
                    status, wait = await self._post(body)
            except (UpstreamError, TimeoutError, OSError) as exc:
                error = type(exc).__name__  # a lost connection: worth another try
            else:
                if 200 <= status < 300:
                    return True
                error = str(status)
                if status not in RETRYABLE:
                    log.error("span export refused", status=status, spans=spans)
                    return False
                told = retry_after(wait)
                backoff = backoff if told is None else told
            if attempt == MAX_ATTEMPTS or backoff > deadline - loop.time():
                break
            await asyncio.sleep(backoff)
        log.error("span export failed", error=error, spans=spans, attempts=attempt)
        return False

    async def aclose(self) -> None:
        await self._transport.aclose()
