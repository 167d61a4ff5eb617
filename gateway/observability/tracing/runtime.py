"""Tracing as the gateway runs it: the SDK provider, the request hook and observer,
the traced attempt loop, and the flush at shutdown."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from typing import TYPE_CHECKING

import structlog
from opentelemetry.sdk.trace.export import SpanExporter

from gateway.config.schema import ResilienceSection
from gateway.observability.record import RequestRecord
from gateway.observability.tracing.attempts import TracedAttemptRunner
from gateway.observability.tracing.export import build_provider
from gateway.observability.tracing.requests import RequestTracer
from gateway.observability.tracing.settings import TracingSettings
from gateway.providers.base import Provider
from gateway.resilience.attempts import AttemptRunner
from gateway.routing.signals import SignalBoard

if TYPE_CHECKING:
    from gateway.governance.provider_quota import ProviderQuotas
from gateway.state.base import StateStore

log = structlog.get_logger("gateway.tracing")
SHUTDOWN_TIMEOUT_S = 10.0


class Tracing:
    def __init__(self, settings: TracingSettings, exporter: SpanExporter | None = None) -> None:
        self.settings = settings
        self.provider = build_provider(settings, exporter)
        self._tracer = self.provider.get_tracer("gateway")
        self.requests = RequestTracer(self._tracer, settings.include_content)

    def begin(self, record: RequestRecord, headers: Mapping[bytes, bytes]) -> None:
        self.requests.begin(record, headers)

    def attempt_runner(
        self,
        providers: Mapping[str, Provider],
        state: StateStore,
        settings: ResilienceSection,
        rng: random.Random | None = None,
        signals: SignalBoard | None = None,
        quotas: ProviderQuotas | None = None,
    ) -> AttemptRunner:
        return TracedAttemptRunner(self._tracer, providers, state, settings, rng, signals, quotas)

    async def aclose(self) -> None:
        """Export what is still queued, then stop; called once requests have drained."""
        try:
            await asyncio.wait_for(asyncio.to_thread(self.provider.shutdown), SHUTDOWN_TIMEOUT_S)
        except TimeoutError:
            log.warning("spans not all exported at shutdown", timeout_s=SHUTDOWN_TIMEOUT_S)
