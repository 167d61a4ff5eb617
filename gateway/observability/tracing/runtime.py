"""Tracing as the gateway runs it: the span recorder, the request hook and observer, the
attempt loop's hook, the export queue, and the flush at shutdown.

The OpenTelemetry SDK decides what to sample (its sampler, built once) and describes
the process (its resource, built once); spans are recorded and encoded by the gateway
itself (``spans.py``, ``otlp.py``), at a small part of the SDK's cost per request.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, cast

import structlog

from gateway.config.schema import ResilienceSection
from gateway.observability.record import RequestRecord
from gateway.observability.tracing.attempts import AttemptSpans
from gateway.observability.tracing.batch import BatchQueue
from gateway.observability.tracing.export import SCOPE_NAME, OtlpSink, build_resource
from gateway.observability.tracing.requests import RequestTracer
from gateway.observability.tracing.sampling import configured_sampler, sample_function
from gateway.observability.tracing.settings import TracingSettings
from gateway.observability.tracing.spans import Recorder, Span
from gateway.providers.base import Provider
from gateway.resilience.attempts import AttemptRunner
from gateway.routing.signals import SignalBoard

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

    from gateway.governance.provider_quota import ProviderQuotas
    from gateway.observability.tracing.sdk_spans import SdkExport as SdkSink
from gateway.state.base import StateStore

log = structlog.get_logger("gateway.tracing")
SHUTDOWN_TIMEOUT_S = 10.0


class Tracing:
    """``exporter``: an SDK ``SpanExporter`` instead of OTLP/HTTP (tests, other backends)."""

    def __init__(
        self,
        settings: TracingSettings,
        exporter: SpanExporter | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if env is None else env
        self.settings = settings
        self.resource = build_resource(settings)
        self.queue: BatchQueue[Span | bytes] = BatchQueue(
            self._export,
            settings.max_queue_size,
            min(settings.max_export_batch, settings.max_queue_size),
            settings.schedule_delay_s,
        )
        sample = sample_function(configured_sampler(settings.sample_ratio))
        self.recorder = Recorder(sample, self.queue.add)
        self._sdk: list[SdkSink] = []
        self._otlp: OtlpSink | None = None
        if exporter is None:
            self._otlp = OtlpSink(settings, self.resource, env)
            self.queue.prepare = self._otlp.encoder.span  # spans are queued encoded
        else:
            self.add_exporter(exporter)
        self.requests = RequestTracer(self.recorder, settings.include_content)
        self.attempts = AttemptSpans(self.recorder)
        # When a request arrives (gateway.pipeline.endpoint): no call layer of its own.
        self.begin: Callable[[RequestRecord, Mapping[bytes, bytes]], None] = self.requests.begin

    def add_exporter(self, exporter: SpanExporter) -> None:
        """Also hand each batch to an SDK exporter, as SDK spans (tests: in-memory):
        spans are then queued as they are, and encoded for OTLP when a batch goes out."""
        from gateway.observability.tracing.sdk_spans import SdkExport

        self._sdk.append(SdkExport(exporter, self.resource, SCOPE_NAME))
        self.queue.prepare = None

    async def _export(self, items: Sequence[Span | bytes]) -> None:
        if not self._sdk:
            assert self._otlp is not None
            await self._otlp(cast("Sequence[bytes]", items))
            return
        spans = [item for item in items if isinstance(item, Span)]
        if self._otlp is not None:
            encode = self._otlp.encoder.span
            await self._otlp([encode(item) if isinstance(item, Span) else item for item in items])
        for sink in self._sdk:
            await sink(spans)

    def attempt_runner(
        self,
        providers: Mapping[str, Provider],
        state: StateStore,
        settings: ResilienceSection,
        rng: random.Random | None = None,
        signals: SignalBoard | None = None,
        quotas: ProviderQuotas | None = None,
    ) -> AttemptRunner:
        return AttemptRunner(providers, state, settings, rng, signals, quotas, self.attempts)

    def flush(self, timeout_s: float = SHUTDOWN_TIMEOUT_S) -> bool:
        """Export every span ended so far, from outside the event loop (tests, scripts);
        False if it took too long."""
        return self.queue.flush(timeout_s)

    async def aclose(self, timeout_s: float = SHUTDOWN_TIMEOUT_S) -> None:
        """Export what is still queued, then stop; called once requests have drained
        (SIGTERM included)."""
        if not await self.queue.aclose(timeout_s):
            log.warning("spans not all exported at shutdown", timeout_s=timeout_s)
        if self._otlp is not None:
            await self._otlp.aclose()
        for sink in self._sdk:
            await sink.aclose()

    def shutdown(self, timeout_s: float = SHUTDOWN_TIMEOUT_S) -> None:
        """``aclose`` where no event loop runs (tests, scripts)."""
        asyncio.run(self.aclose(timeout_s))
