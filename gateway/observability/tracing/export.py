"""Where finished spans go: OTLP/HTTP protobuf written by the gateway, or an SDK exporter.

The resource (``service.name``, ``OTEL_RESOURCE_ATTRIBUTES``, the SDK's ``telemetry.*``)
is the SDK's ``Resource.create``, built and encoded once at startup.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from opentelemetry.sdk.resources import SERVICE_NAME, Resource

from gateway.observability.tracing.otlp import SpanEncoder
from gateway.observability.tracing.otlp_http import OtlpHttpExporter, OtlpTarget
from gateway.observability.tracing.settings import TracingSettings
from gateway.observability.tracing.spans import Span

SCOPE_NAME = "gateway"  # the instrumentation scope of every span

# Takes one batch of finished spans (in the export thread).
Sink = Callable[[Sequence[Span]], object]


def build_resource(settings: TracingSettings) -> Resource:
    attributes = {SERVICE_NAME: settings.service_name} if settings.service_name else {}
    return Resource.create(attributes)  # None: OTEL_SERVICE_NAME, which the SDK reads


class OtlpSink:
    """Encodes a batch as one ``ExportTraceServiceRequest`` and POSTs it."""

    def __init__(self, settings: TracingSettings, resource: Resource, env: Mapping[str, str]):
        self.encoder = SpanEncoder(dict(resource.attributes), SCOPE_NAME)
        target = OtlpTarget.resolve(settings.endpoint, settings.headers, settings.timeout_s, env)
        self.http = OtlpHttpExporter(target)

    def __call__(self, spans: Sequence[Span]) -> bool:
        return self.http.export(self.encoder.request(spans), len(spans))

    def close(self) -> None:
        self.http.close()
