"""The OpenTelemetry SDK set up for the gateway: resource, sampler, batched OTLP/HTTP export."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from gateway.observability.tracing.settings import TracingSettings

MAX_EXPORT_BATCH = 512


def build_provider(
    settings: TracingSettings, exporter: SpanExporter | None = None
) -> TracerProvider:
    """A provider of the gateway's own (never the global one), exporting in batches
    from a background thread. ``exporter`` replaces OTLP (tests)."""
    attributes = {SERVICE_NAME: settings.service_name} if settings.service_name else {}
    sampler = None  # the SDK then reads OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG
    if settings.sample_ratio is not None:
        # An incoming traceparent's sampled flag wins; new traces are sampled by ratio.
        sampler = ParentBased(TraceIdRatioBased(settings.sample_ratio))
    # Shut down by the gateway itself (lifespan end, SIGTERM included), not at exit.
    provider = TracerProvider(
        resource=Resource.create(attributes), sampler=sampler, shutdown_on_exit=False
    )
    if exporter is None:
        exporter = OTLPSpanExporter(
            endpoint=settings.endpoint, headers=settings.headers, timeout=settings.timeout_s
        )
    provider.add_span_processor(
        BatchSpanProcessor(
            exporter,
            max_queue_size=settings.max_queue_size,
            max_export_batch_size=min(MAX_EXPORT_BATCH, settings.max_queue_size),
        )
    )
    return provider
