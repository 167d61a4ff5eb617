"""Where finished spans go: OTLP/HTTP protobuf written by the gateway, or an SDK exporter.

The resource (``service.name``, ``OTEL_RESOURCE_ATTRIBUTES``, the SDK's ``telemetry.*``)
is the SDK's ``Resource.create``, built and encoded once at startup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from opentelemetry.sdk.resources import SERVICE_NAME, Resource

from gateway.observability.tracing.otlp import SpanEncoder
from gateway.observability.tracing.otlp_http import OtlpHttpExporter, OtlpTarget
from gateway.observability.tracing.settings import TracingSettings

SCOPE_NAME = "gateway"  # the instrumentation scope of every span


def build_resource(settings: TracingSettings) -> Resource:
    attributes = {SERVICE_NAME: settings.service_name} if settings.service_name else {}
    return Resource.create(attributes)  # None: OTEL_SERVICE_NAME, which the SDK reads


class OtlpSink:
    """POSTs a batch of encoded spans as one ``ExportTraceServiceRequest``. Spans are
    encoded when they end (``encoder.span``): the queue then holds bytes, which the
    garbage collector never walks, and an export only joins them and sends."""

    def __init__(self, settings: TracingSettings, resource: Resource, env: Mapping[str, str]):
        self.encoder = SpanEncoder(dict(resource.attributes), SCOPE_NAME)
        target = OtlpTarget.resolve(settings.endpoint, settings.headers, settings.timeout_s, env)
        self.http = OtlpHttpExporter(target)

    async def __call__(self, spans: Sequence[bytes]) -> bool:
        return await self.http.export(self.encoder.request(spans), len(spans))

    async def aclose(self) -> None:
        await self.http.aclose()
