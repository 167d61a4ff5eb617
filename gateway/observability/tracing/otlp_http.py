"""OTLP/HTTP export of encoded batches: POST ``application/x-protobuf`` to the collector.

It runs in the export thread (``batch.py``), never on the event loop, over one kept-alive
connection of the standard library's ``http.client``. As the OpenTelemetry exporters
do, 429, 502, 503 and 504 (and a lost connection) are retried with exponential backoff,
or after the collector's ``Retry-After``, a bounded number of times within the export
timeout; any other answer drops the batch with a log line. The variables read are the
exporters': ``OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT``, ``..._HEADERS``, ``..._COMPRESSION``
(``gzip``, ``deflate``), ``..._CERTIFICATE``, ``..._CLIENT_CERTIFICATE`` and
``..._CLIENT_KEY``.
"""

from __future__ import annotations

import gzip
import http.client
import math
import random
import ssl
import threading
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import structlog

log = structlog.get_logger("gateway.tracing")

DEFAULT_ENDPOINT = "http://localhost:4318/v1/traces"
RETRYABLE = frozenset((429, 502, 503, 504))
MAX_ATTEMPTS = 6
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


class OtlpHttpExporter:
    """Sends one encoded ``ExportTraceServiceRequest`` at a time, with retries."""

    def __init__(self, target: OtlpTarget) -> None:
        self.target = target
        url = urlsplit(target.endpoint)
        self._https = url.scheme == "https"
        self._host = url.hostname or "localhost"
        self._port = url.port or (443 if self._https else 80)
        self._path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        self._headers = {
            **target.headers,
            "content-type": "application/x-protobuf",
            "user-agent": "llm-gateway",
        }
        if target.compression != "none":
            self._headers["content-encoding"] = target.compression
        self._connection: http.client.HTTPConnection | None = None
        self._stopping = threading.Event()

    def _connect(self, timeout: float) -> http.client.HTTPConnection:
        if not self._https:
            return http.client.HTTPConnection(self._host, self._port, timeout=timeout)
        context = ssl.create_default_context(cafile=self.target.certificate)
        if self.target.client_certificate:
            context.load_cert_chain(self.target.client_certificate, self.target.client_key)
        return http.client.HTTPSConnection(self._host, self._port, timeout=timeout, context=context)

    def _compress(self, body: bytes) -> bytes:
        if self.target.compression == "gzip":
            return gzip.compress(body)
        if self.target.compression == "deflate":
            return zlib.compress(body)
        return body

    def _post(self, body: bytes, timeout: float) -> tuple[int, str | None]:
        """(status, Retry-After); one reconnect when a kept-alive connection was closed."""
        for fresh in (False, True):
            connection = self._connection
            if connection is None or fresh:
                self.close()
                connection = self._connection = self._connect(timeout)
            connection.timeout = timeout
            if connection.sock is not None:
                connection.sock.settimeout(timeout)
            try:
                connection.request("POST", self._path, body, self._headers)
                response = connection.getresponse()
                response.read()
            except (ConnectionError, http.client.HTTPException) as exc:
                self.close()
                if fresh:
                    raise OSError(str(exc)) from exc
                continue
            except OSError:
                self.close()
                raise
            if response.will_close:
                self.close()
            return response.status, response.getheader("retry-after")
        raise AssertionError("unreachable")

    def export(self, body: bytes, spans: int) -> bool:
        """POST the batch; True once the collector took it."""
        body = self._compress(body)
        deadline = time.monotonic() + self.target.timeout_s
        for attempt in range(MAX_ATTEMPTS):
            backoff = 2**attempt * random.uniform(1 - _JITTER, 1 + _JITTER)
            remaining = deadline - time.monotonic()
            try:
                status, wait = self._post(body, max(remaining, 0.001))
            except OSError as exc:
                status, wait, error = 0, None, type(exc).__name__
            else:
                if 200 <= status < 300:
                    return True
                error = str(status)
                if status not in RETRYABLE:
                    log.error("span export refused", status=status, spans=spans)
                    return False
                told = retry_after(wait)
                backoff = backoff if told is None else told
            last = attempt + 1 == MAX_ATTEMPTS
            if last or backoff > deadline - time.monotonic() or self._stopping.is_set():
                break
            if self._stopping.wait(backoff):
                break
        log.error("span export failed", error=error, spans=spans, attempts=attempt + 1)
        return False

    def stop_retrying(self) -> None:
        """At shutdown: a retry would outlast the flush; give up the batch instead."""
        self._stopping.set()

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()
